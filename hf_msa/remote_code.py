"""The code a checkpoint carries, so that it loads with `trust_remote_code=True` where hf_msa is not installed.

transformers copies a custom class's module file, and the files it imports with `from .x import`, flat beside the
weights; our method files import across the package (`from ...modules import attend`), which that copy cannot
follow. So `save_pretrained` of every hf_msa model writes a generated bundle instead: the method's configuration and
modeling files plus exactly the base pieces and shared layers they import, each flat in the checkpoint folder, with
every package-relative import rewritten into a sibling import (`from .attention import attend`). The package keeps its
layout; the bundle is derived from it at save time and carries a header naming its source. The processor's two files
import nothing from the package, so transformers' own `register_for_auto_class` copy serves them.

With hf_msa imported, the Auto classes resolve to the installed classes first (transformers prefers registered local
code over a checkpoint's `auto_map`), so no remote code runs.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
from pathlib import Path

PACKAGE = "hf_msa"
# The Auto classes a saved sentiment model answers to (hf_msa registers the same pairs in-process).
MODEL_AUTO_CLASSES = ("AutoModel", "AutoModelForSequenceClassification")


def flat_file(module_name: str) -> str:
    """The bundle file of a package module: its own file name (`hf_msa.modules.attention` -> `attention.py`)."""
    return module_name.rsplit(".", 1)[-1] + ".py"


def _is_package(module_name: str) -> bool:
    return hasattr(importlib.import_module(module_name), "__path__")


def _package_exports(package: str) -> dict[str, str]:
    """{name: submodule} for the names a package's `__init__` imports from its submodules."""
    init_file = Path(importlib.import_module(package).__file__)
    exports = {}
    for node in ast.walk(ast.parse(init_file.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module:
            for alias in node.names:
                exports[alias.asname or alias.name] = f"{package}.{node.module}"
    return exports


def _defining_module(target: str, name: str) -> str:
    """The module a bundle imports `name` from, for `from <target> import name` in the package."""
    if not _is_package(target):
        return target
    exports = _package_exports(target)  # a name the package exports wins over a submodule of the same name
    if name not in exports:
        raise ValueError(f"'from {target} import {name}': bundled files import names that {target}/__init__.py "
                         "imports from one of its modules, not modules")
    return _defining_module(exports[name], name)


def _rewrite(module_name: str) -> tuple[str, list[str]]:
    """The module's source with package imports made sibling imports, and the package modules it needs."""
    module = importlib.import_module(module_name)
    path = Path(module.__file__)
    source = path.read_text(encoding="utf-8")
    lines = source.splitlines(keepends=True)
    needs: list[str] = []
    replacements = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            outside = [a.name for a in node.names if a.name.split(".")[0] == PACKAGE]
            if outside:
                raise ValueError(f"{path}:{node.lineno}: 'import {outside[0]}' cannot travel in a checkpoint bundle; "
                                 "import from the package relatively")
            continue
        if not isinstance(node, ast.ImportFrom):
            continue
        if node.level == 0:
            if node.module and node.module.split(".")[0] == PACKAGE:
                raise ValueError(f"{path}:{node.lineno}: 'from {node.module} import ...' cannot travel in a checkpoint "
                                 "bundle; import from the package relatively")
            continue
        target = importlib.util.resolve_name("." * node.level + (node.module or ""), module.__package__)
        groups: dict[str, list[str]] = {}
        for alias in node.names:
            if alias.name == "*":
                raise ValueError(f"{path}:{node.lineno}: star imports cannot be bundled")
            source_module = _defining_module(target, alias.name)
            groups.setdefault(source_module, []).append(
                alias.name if alias.asname is None else f"{alias.name} as {alias.asname}")
        first, last = node.lineno - 1, node.end_lineno - 1
        prefix, suffix = lines[first][:node.col_offset], lines[last][node.end_col_offset:]
        if prefix.strip() or suffix.strip():
            raise ValueError(f"{path}:{node.lineno}: an import sharing its line with other code cannot be rewritten")
        replacements.append((first, last, [f"{prefix}from .{flat_file(m)[:-3]} import {', '.join(names)}\n"
                                           for m, names in groups.items()]))
        needs.extend(groups)
    for first, last, new in sorted(replacements, reverse=True):
        lines[first:last + 1] = new
    relative = path.relative_to(Path(importlib.import_module(PACKAGE).__file__).parent.parent).as_posix()
    header = (f"# Generated by hf_msa from {relative} when this checkpoint was saved: the code that loads it with\n"
              "# trust_remote_code=True where hf_msa is not installed. Edit the package, not this copy.\n")
    return header + "".join(lines), needs


def bundle_sources(module_names) -> dict[str, str]:
    """{file name: source} for the given package modules and everything they import from the package."""
    bundle: dict[str, str] = {}
    owners: dict[str, str] = {}
    queue = list(module_names)
    while queue:
        name = queue.pop(0)
        file_name = flat_file(name)
        if file_name in owners:
            if owners[file_name] != name:
                raise ValueError(f"{owners[file_name]} and {name} would both be bundled as {file_name}")
            continue
        owners[file_name] = name
        bundle[file_name], needs = _rewrite(name)
        queue.extend(needs)
    return bundle


def auto_map_for_model(model_class, config_class) -> dict[str, str]:
    """config.json's `auto_map` for a saved hf_msa sentiment model."""
    model_entry = f"{flat_file(model_class.__module__)[:-3]}.{model_class.__name__}"
    return {"AutoConfig": f"{flat_file(config_class.__module__)[:-3]}.{config_class.__name__}",
            **{auto_class: model_entry for auto_class in MODEL_AUTO_CLASSES}}


def write_model_code(model, save_directory) -> list[str]:
    """Write the bundle for `model`'s class and config into `save_directory`; returns the file names.

    `MSAPreTrainedModel.save_pretrained` calls it beside the weights, after setting `config.auto_map`.
    """
    bundle = bundle_sources([type(model.config).__module__, type(model).__module__])
    for file_name, source in bundle.items():
        Path(save_directory, file_name).write_text(source, encoding="utf-8")
    return sorted(bundle)


__all__ = ["auto_map_for_model", "bundle_sources", "flat_file", "write_model_code"]
