"""A virtual environment with torch and transformers only (no hf_msa), for checks that a saved checkpoint loads
through its own code. Built once per torch/transformers/Python version and kept between runs (about a minute from the
local package index); a build that fails says why, and the tests that need it skip with that reason."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import torch
import transformers

VENV_ROOT = Path(os.environ.get("HF_MSA_TEST_VENVS", Path.home() / ".cache" / "hf_msa" / "test-venvs"))
SCRIPTS = Path(__file__).resolve().parent / "scripts"


class BareEnvUnavailable(RuntimeError):
    pass


def requirements() -> list[str]:
    """The same torch and transformers as this environment (a local CPU torch build is `2.13.0+cpu`)."""
    return [f"torch=={torch.__version__.split('+')[0]}", f"transformers=={transformers.__version__}"]


def bare_python() -> Path:
    """The Python of the cached bare environment, built on first use."""
    tag = "-".join(r.replace("==", "-") for r in requirements()) + f"-py{sys.version_info[0]}{sys.version_info[1]}"
    folder = VENV_ROOT / tag
    python = folder / "bin" / "python"
    if (folder / ".ready").is_file():
        return python
    building = folder.with_name(f"{folder.name}.building-{os.getpid()}")
    shutil.rmtree(building, ignore_errors=True)
    steps = [[sys.executable, "-m", "venv", str(building)],
             [str(building / "bin" / "python"), "-m", "pip", "install", "--quiet", *requirements()]]
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True, timeout=900)
        if done.returncode:
            shutil.rmtree(building, ignore_errors=True)
            raise BareEnvUnavailable(f"could not build a torch+transformers environment ({' '.join(step[-3:])} "
                                     f"exited {done.returncode}): {done.stderr.strip()[-400:]}")
    (building / ".ready").write_text("\n".join(requirements()) + "\n")
    shutil.rmtree(folder, ignore_errors=True)
    building.rename(folder)
    # the venv's scripts name their own folder; a renamed venv still runs through `bin/python -m`
    return python


def run_script(name: str, *args, env_extra: dict | None = None, cwd=None, timeout: int = 600):
    """Run tests/scripts/<name> with the bare environment's Python, from `cwd`, without PYTHONPATH."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(env_extra or {})
    # stdin closed: transformers asks "run the custom code? [y/N]" on a terminal; here it must answer no at once
    return subprocess.run([str(bare_python()), str(SCRIPTS / name), *map(str, args)], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=timeout, stdin=subprocess.DEVNULL)
