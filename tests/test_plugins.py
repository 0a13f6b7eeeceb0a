"""Plugin discovery through entry points, disabling, and loud failures."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pluggy
import pytest

from hashcore import PluginError, get_plugin_manager
from hashcore.registry import SignalRegistry
from hashcore.testing import SignalTypeConformance

FIXTURES = Path(__file__).parent / "plugin_fixtures"
BUILT_IN = {"pdq", "phash", "md5"}


def install_plugin(site: Path, module: str, dist: str, entry_name: str) -> Path:
    """Lay a plugin out as ``pip install`` does: the module plus a dist-info with entry points."""
    site.mkdir(parents=True, exist_ok=True)
    shutil.copy(FIXTURES / f"{module}.py", site / f"{module}.py")
    info = site / f"{dist.replace('-', '_')}-1.2.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.2.3\n")
    (info / "entry_points.txt").write_text(f"[hashcore]\n{entry_name} = {module}\n")
    return site


@pytest.fixture
def crc32_site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    site = install_plugin(tmp_path / "site", "hashcore_crc32", "hashcore-crc32", "crc32")
    monkeypatch.syspath_prepend(str(site))
    return site


def test_built_in_plugins_load_through_entry_points() -> None:
    manager = get_plugin_manager()
    names = {name for name, _ in manager.list_name_plugin()}
    assert names >= BUILT_IN
    dists = {dist.metadata["name"] for _, dist in manager.list_plugin_distinfo()}
    assert {"hashcore-pdq", "hashcore-phash", "hashcore-md5"} <= dists


def test_separately_packaged_plugin_is_discovered(crc32_site: Path) -> None:
    registry = SignalRegistry.from_plugins(get_plugin_manager())
    assert "crc32" in registry
    assert set(registry.names()) >= BUILT_IN


def test_cli_lists_a_separately_packaged_plugin(crc32_site: Path, tmp_path: Path) -> None:
    sample = tmp_path / "x.bin"
    sample.write_bytes(b"hello")
    env = {**os.environ, "PYTHONPATH": str(crc32_site)}
    listing = subprocess.run(
        [sys.executable, "-m", "hashcore.cli.main", "plugins"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "crc32" in listing and "hashcore-crc32 1.2.3" in listing
    hashed = subprocess.run(
        [sys.executable, "-m", "hashcore.cli.main", "hash", "--json", str(sample)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert '"type": "crc32", "value": "3610a686"' in hashed


def test_environment_variable_disables_a_plugin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HASHCORE_DISABLE_PLUGINS", "phash, md5")
    registry = SignalRegistry.from_plugins(get_plugin_manager())
    assert "phash" not in registry and "md5" not in registry
    assert "pdq" in registry


def test_misspelt_hook_fails_loudly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site = install_plugin(tmp_path / "bad", "hashcore_misspelt", "hashcore-misspelt", "misspelt")
    monkeypatch.syspath_prepend(str(site))
    with pytest.raises(PluginError, match="hashcore_signal_type"):
        get_plugin_manager()


def test_duplicate_signal_type_names_are_refused() -> None:
    from hashcore_md5.plugin import Md5Signal

    with pytest.raises(PluginError, match="two plugins"):
        SignalRegistry([Md5Signal(), Md5Signal()])


def test_unknown_family_is_a_clear_error(registry: SignalRegistry) -> None:
    from hashcore import InvalidInput

    with pytest.raises(InvalidInput, match=r"unknown signal type 'nope' \(known: .*pdq"):
        registry.get("nope")


class TestThirdPartyPluginPassesTheKit(SignalTypeConformance):
    """The kit works for a plugin outside this repository, not only for ours."""

    sample_files = [
        Path(__file__).parent / "data" / "pdq" / "misc" / "wee.jpg",
        Path(__file__).parent / "data" / "pdq" / "misc" / "small.jpg",
    ]

    @pytest.fixture(autouse=True)
    def _installed(self, crc32_site: Path) -> None:
        import hashcore_crc32

        type(self).signal_type = hashcore_crc32.Crc32Signal


class _Extra:
    """A plugin object handing over the given classes through both class hooks."""

    def __init__(self, *classes: object) -> None:
        self.classes = list(classes)

    @pluggy.HookimplMarker("hashcore")
    def hashcore_bank_formats(self) -> list[object]:
        return self.classes

    @pluggy.HookimplMarker("hashcore")
    def hashcore_feedback_formats(self) -> list[object]:
        return self.classes


@pytest.mark.parametrize("hook", ["bank", "feedback"])
def test_plugin_classes_are_checked_by_name(hook: str) -> None:
    """A bank or feedback format a plugin hands over must be the right subclass, named, and
    the only one of its name: a clash fails loudly instead of one plugin silently winning."""
    from hashcore.formats.base import BankFormat, load_formats
    from hashcore.opinions.feedback import FeedbackFormat, load_feedback_formats

    base, load = (
        (BankFormat, load_formats) if hook == "bank" else (FeedbackFormat, load_feedback_formats)
    )
    taken = next(iter(load(get_plugin_manager())))  # a built-in format's name
    clash = type("Clash", (base,), {"name": taken})
    nameless = type("Nameless", (base,), {"name": ""})
    for extra, message in (
        (_Extra(clash), "two plugins provide"),
        (_Extra(nameless), "has no name"),
        (_Extra(int), "is not a"),
    ):
        manager = get_plugin_manager()
        manager.register(extra)
        with pytest.raises(PluginError, match=message):
            load(manager)
