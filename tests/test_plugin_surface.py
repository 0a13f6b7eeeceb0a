"""Every hook, and every member of the plugin ABCs (``SignalType``, ``SignalIndex``), is
documented in docs/plugins.md and exercised by a test (datasette's rule)."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from hashcore import SignalIndex, SignalType, hookspecs

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


def _members(cls: type) -> list[str]:
    """The public members a plugin class declares: methods, properties, class attributes."""
    names = set(vars(cls)) | set(getattr(cls, "__annotations__", {}))
    return sorted(n for n in names if not n.startswith("_"))


ABC_MEMBERS = [(cls.__name__, name) for cls in (SignalType, SignalIndex) for name in _members(cls)]


def test_the_plugin_abcs_have_members() -> None:
    assert ("SignalType", "create_index") in ABC_MEMBERS
    assert ("SignalIndex", "range_search") in ABC_MEMBERS
    assert ("SignalIndex", "add_array") in ABC_MEMBERS


@pytest.mark.parametrize(("cls", "member"), ABC_MEMBERS)
def test_abc_member_has_a_docstring(cls: str, member: str) -> None:
    """Methods and properties say what they promise (class attributes are documented in
    docs/plugins.md, which the next test checks)."""
    value = vars({"SignalType": SignalType, "SignalIndex": SignalIndex}[cls]).get(member)
    if isinstance(value, property):
        value = value.fget
    if isinstance(value, classmethod | staticmethod):
        value = value.__func__
    if callable(value):
        assert (value.__doc__ or "").strip(), f"{cls}.{member} has no docstring"


@pytest.mark.parametrize(("cls", "member"), ABC_MEMBERS)
def test_abc_member_is_documented(cls: str, member: str) -> None:
    docs = (REPO / "docs" / "plugins.md").read_text()
    assert f"`{member}" in docs, f"document {cls}.{member} in docs/plugins.md"


@pytest.mark.parametrize(("cls", "member"), ABC_MEMBERS)
def test_abc_member_is_tested(cls: str, member: str) -> None:
    """Some test (or the conformance kit every plugin runs) uses the member."""
    this = Path(__file__).resolve()
    files = [
        *REPO.glob("tests/**/*.py"),
        *REPO.glob("plugins/*/tests/**/*.py"),
        REPO / "hashcore" / "testing" / "__init__.py",
    ]
    used = re.compile(rf"\b{member}\b")
    users = [p for p in files if p.resolve() != this and used.search(p.read_text())]
    assert users, f"no test exercises {cls}.{member}"
