"""Every hook is documented in docs/plugins.md and exercised by a test (datasette's rule)."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from hashcore import hookspecs

REPO = Path(__file__).resolve().parents[1]
HOOKS = sorted(
    name
    for name, obj in inspect.getmembers(hookspecs, inspect.isfunction)
    if name.startswith("hashcore_")
)


def test_there_are_hooks() -> None:
    assert "hashcore_signal_types" in HOOKS


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_has_a_docstring(hook: str) -> None:
    assert (getattr(hookspecs, hook).__doc__ or "").strip()


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_is_documented(hook: str) -> None:
    docs = (REPO / "docs" / "plugins.md").read_text()
    assert f"### `{hook}`" in docs, f"document {hook} under a '### `{hook}`' heading"


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_is_tested(hook: str) -> None:
    """Some test other than this file defines or calls the hook."""
    this = Path(__file__).resolve()
    test_files = [*REPO.glob("tests/**/*.py"), *REPO.glob("plugins/*/tests/**/*.py")]
    users = [p for p in test_files if p.resolve() != this and hook in p.read_text()]
    assert users, f"no test exercises the {hook} hook"
