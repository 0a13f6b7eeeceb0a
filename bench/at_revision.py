"""One module of hashcore as it was at a git revision, loaded beside this tree's: what the A/B
scripts (``pdq_kernel_ab.py``, ``borders_ab.py``) compare this tree with."""

from __future__ import annotations

import importlib.util
import subprocess
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[1]


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
