"""One module of hashcore as it was at a git revision, loaded beside this tree's: what the A/B
scripts (``pdq_kernel_ab.py``, ``borders_ab.py``, ``tree_ab.py``) compare this tree with; a C
extension is built from the revision's source as ``pip install`` would build it."""

from __future__ import annotations

import importlib.util
import subprocess
import tomllib
from pathlib import Path
from types import ModuleType

from setuptools import Distribution, Extension
from setuptools.command.build_ext import build_ext

REPO = Path(__file__).resolve().parents[1]


def file_at(revision: str, path: str) -> bytes | None:
    """``path`` (relative to the repository) at ``revision``; None where it did not exist."""
    shown = subprocess.run(["git", "show", f"{revision}:{path}"], cwd=REPO, capture_output=True)
    return shown.stdout if shown.returncode == 0 else None


def build_extension(source: Path, into: Path) -> tuple[str, Path]:
    """``source`` (a C file under a folder with a ``pyproject.toml``) compiled as that file's
    ``[[tool.setuptools.ext-modules]]`` declares it, with Python's own compiler flags, as ``pip
    install`` would: the module's dotted name and the built file."""
    project = next(p for p in source.parents if (p / "pyproject.toml").exists())
    declared = tomllib.loads((project / "pyproject.toml").read_text())
    relative = str(source.relative_to(project))
    module = next(
        m for m in declared["tool"]["setuptools"]["ext-modules"] if relative in m["sources"]
    )
    extension = Extension(
        module["name"], [str(source)], extra_compile_args=module.get("extra-compile-args", [])
    )
    command = build_ext(Distribution({"ext_modules": [extension]}))
    command.build_lib = str(into / "built")
    command.build_temp = str(into / "objects")
    command.ensure_finalized()
    command.run()
    return module["name"], Path(command.get_ext_fullpath(module["name"]))


def extension_at(revision: str, path: str, project: str, folder: Path) -> ModuleType | None:
    """The C extension whose source is ``path`` as it was at ``revision``, built (with the
    ``pyproject.toml`` of ``project`` at that revision) and loaded under ``<package>_at_revision``;
    None when that source is this tree's (the installed build is the same code) or absent."""
    source = file_at(revision, path)
    if source is None or source == (REPO / path).read_bytes():
        return None
    copy = folder / "source" / path
    copy.parent.mkdir(parents=True, exist_ok=True)
    copy.write_bytes(source)
    declared = file_at(revision, f"{project}/pyproject.toml")
    assert declared is not None, f"{project}/pyproject.toml at {revision}"
    (folder / "source" / project / "pyproject.toml").write_bytes(declared)
    name, built = build_extension(copy, folder)
    package, _, stem = name.rpartition(".")
    spec = importlib.util.spec_from_file_location(f"{package}_at_revision.{stem}", built)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def module_at(revision: str, path: str, folder: Path) -> ModuleType:
    """``path`` (relative to the repository) at ``revision``, written into ``folder`` and
    imported under its own name (``<stem>_at_revision``)."""
    source = subprocess.run(
        ["git", "show", f"{revision}:{path}"], cwd=REPO, check=True, capture_output=True
    ).stdout
    name = f"{Path(path).stem}_at_revision"
    copy = folder / f"{name}.py"
    copy.write_bytes(source)
    spec = importlib.util.spec_from_file_location(name, copy)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
