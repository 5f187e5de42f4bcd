"""`python -m benchmarks <name> [options]` (or `hf-msa bench <name>`): run one benchmark, write its JSON to
benchmarks/results/<name>.json with the machine, versions and command. Names: speed, renyi, accuracy, extraction,
dib_information, lnln_recipe, hub_transfer, attention, lnln_official, hme_official, hme_missing, dashfusion_refresh,
mmslf_prompts."""

import argparse
import json
import os
import platform
import sys
from datetime import datetime, timezone
from pathlib import Path

from . import (accuracy, attention, dashfusion_refresh, dib_information, extraction, hme_missing, hme_official,
               hub_transfer, lnln_official, lnln_recipe, mmslf_prompts, renyi, speed)

BENCHMARKS = {"speed": speed, "renyi": renyi, "accuracy": accuracy, "extraction": extraction,
              "dib_information": dib_information, "lnln_recipe": lnln_recipe, "hub_transfer": hub_transfer,
              "attention": attention, "lnln_official": lnln_official,
              "hme_official": hme_official, "hme_missing": hme_missing, "dashfusion_refresh": dashfusion_refresh,
              "mmslf_prompts": mmslf_prompts}
RESULTS = Path(__file__).resolve().parent / "results"


def versions() -> dict:
    """Python and the version of every library a benchmark's numbers depend on (those installed)."""
    from importlib.metadata import PackageNotFoundError, version

    found = {"python": platform.python_version()}
    for package in ("hf_msa", "torch", "transformers", "datasets", "numpy", "av", "mediapipe", "opensmile",
                    "librosa"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            pass
    return found


def main(argv=None) -> Path:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    commands = parser.add_subparsers(dest="name", required=True)
    for name, module in BENCHMARKS.items():
        sub = commands.add_parser(name, help=module.__doc__.splitlines()[0])
        module.add_arguments(sub)
        sub.add_argument("--output", default=str(RESULTS / f"{name}.json"))
    args = parser.parse_args(argv)
    figures = BENCHMARKS[args.name].main(args)
    report = {
        "benchmark": args.name,
        "command": " ".join([sys.executable, "-m", "benchmarks"] + list(argv if argv is not None else sys.argv[1:])),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "processor": platform.processor()},
        "versions": versions(),
        **figures,
    }
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=2))
    print(f"written to {output}")
    return output


if __name__ == "__main__":
    main()
