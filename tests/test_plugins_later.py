"""The core's bank formats load when formats are asked for, not to hash.

Hashing needs only the signal types; the core's own format plugins (``hashcore.formats.*``
entry points) and what they import (the formats' base, the HTTP client, the store, sqlite3)
cost ~85 ms of every start. The checks run the real CLI in a fresh interpreter and read
``sys.modules`` when the command has finished.
"""

from __future__ import annotations

import json
from pathlib import Path

import pluggy
import pytest

from hashcore import PluginError, get_plugin_manager
from hashcore import plugins as loading
from hashcore.formats.base import BankFormat
from hashcore.registry import SignalRegistry
from tests.fresh_python import environment_without, python_output
from tests.test_cli_startup import RUN_AND_LIST_MODULES
from tests.test_plugins import install_plugin

DATA = Path(__file__).parent / "data"
PICTURE = DATA / "pdq" / "dih" / "bridge-1-original.jpg"
FORMATS_ONLY = ("hashcore.formats", "hashcore.store", "hashcore.opinions", "sqlite3")


def run_cli(*args: str, store: Path | None = None) -> tuple[int, str, list[str]]:
    """The exit code, output and the formats-only modules a ``hashcore`` command imported."""
    extra = {} if store is None else {"HASHCORE_STORE": str(store)}
    env = environment_without(loading.DISABLE_ENV, **extra)
    result = json.loads(python_output(RUN_AND_LIST_MODULES, *args, env=env).splitlines()[-1])
    loaded = [name for name in result["modules"] if name.startswith(FORMATS_ONLY)]
    return result["code"], result["out"], loaded


def test_hash_imports_no_bank_format_store_or_sqlite3() -> None:
    code, out, loaded = run_cli("hash", "--json", "--jobs", "1", str(PICTURE))
    assert code == 0
    assert {s["type"] for s in json.loads(out)["signals"]} >= {"pdq", "phash", "md5"}
    assert loaded == []


def test_import_and_export_load_the_formats(tmp_path: Path) -> None:
    """``bank import`` finds the core's formats; the exported file imports again through the
    ``hashcore`` format, so both directions load them in a fresh process."""
    store = tmp_path / "store"
    tat = str(DATA / "partner" / "tat_list.json")
    code, out, loaded = run_cli(
        "bank", "import", "b", "--create", "--format", "tat", tat, store=store
    )
    assert code == 1  # the file holds a malformed record on purpose: a problem is reported
    assert "added 1," in out and "hashcore.formats.tat" in loaded and "sqlite3" in loaded
    exported = tmp_path / "b.jsonl"
    code, _, _ = run_cli("bank", "export", "b", "-o", str(exported), store=store)
    assert code == 0 and exported.read_text().count("\n") > 1
    args = ("bank", "import", "c", "--create", "--format", "hashcore", str(exported))
    code, out, loaded = run_cli(*args, store=store)
    assert code == 0 and "added 1," in out and "hashcore.formats.native" in loaded


def test_the_registry_is_built_before_the_formats_and_equals_the_full_one() -> None:
    plugins = loading.Plugins.build()
    later = loading.core_format_entry_points()
    assert {"ncmec", "tat", "pytx", "hashcore_native"} <= set(later)
    assert plugins.registry.names() == SignalRegistry.from_plugins(get_plugin_manager()).names()
    assert set(plugins.formats) >= {"ncmec", "tat", "hashcore", "csv", "pytx-csv"}
    described = {info.name: info for info in loading.describe_plugins(plugins.manager)}
    assert described["tat"].distribution == "hashcore" and described["tat"].bank_formats


def test_the_core_format_plugins_provide_no_signal_type() -> None:
    """What lets the registry be built without them: checked on every installed one."""
    manager = get_plugin_manager()
    for name in loading.core_format_entry_points():
        plugin = manager.get_plugin(name)
        assert plugin is not None and plugin.__name__.startswith(loading.CORE_FORMATS), name
        callers = {caller.name for caller in manager.get_hookcallers(plugin) or []}
        assert "hashcore_signal_types" not in callers, name
        assert callers <= {"hashcore_bank_formats", "hashcore_feedback_formats"}, name


def test_a_disabled_core_format_stays_out(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(loading.DISABLE_ENV, "tat")
    assert "tat" not in loading.core_format_entry_points()
    plugins = loading.Plugins.build()
    assert "tat" not in plugins.formats and "ncmec" in plugins.formats
    assert plugins.manager.is_blocked("tat")


class _Clash:
    """A third party's bank format named like a core one."""

    @pluggy.HookimplMarker("hashcore")
    def hashcore_bank_formats(self) -> list[type]:
        return [type("Clash", (BankFormat,), {"name": "tat"})]


def test_another_plugins_formats_load_the_core_ones_at_start() -> None:
    """A clash of format names fails when the plugins are built, as before the deferral."""
    with pytest.raises(PluginError, match="two plugins provide"):
        loading.Plugins.build(plugins={"clash": _Clash()})


def test_a_plugin_loaded_late_must_not_bring_signal_types(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = install_plugin(tmp_path / "site", "hashcore_crc32", "hashcore-crc32", "crc32")
    monkeypatch.syspath_prepend(str(site))
    manager = get_plugin_manager(later=["crc32"])
    assert "crc32" not in SignalRegistry.from_plugins(manager)
    with pytest.raises(PluginError, match="crc32 is loaded late but has signal types"):
        loading.load_later(manager, ["crc32"])
