"""One ``Plugins`` per process, built once; ``describe_plugins`` covers every hook."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import pytest

import hashcore
from hashcore import hookspecs
from hashcore.formats.base import BankFormat, get_format
from hashcore.plugins import (
    DISABLE_ENV,
    HOOK_LABELS,
    Plugins,
    describe_plugins,
    hook_key,
    hook_names,
    loaded_plugins,
)
from hashcore.registry import load_registry
from tests.fresh_python import environment_without, run_python

DATA = Path(__file__).parent / "data"
IMAGE = DATA / "pdq" / "misc" / "small.jpg"

COUNT_MANAGERS = """
import sys, pluggy
built = []
class Counted(pluggy.PluginManager):
    def __init__(self, *args, **kwargs):
        built.append(1)
        super().__init__(*args, **kwargs)
pluggy.PluginManager = Counted
from hashcore.cli.main import main
code = main(sys.argv[1:])
print(f"managers={len(built)}", file=sys.stderr)
sys.exit(code)
"""


def managers_built(args: list[str], tmp_path: Path) -> int:
    """How many plugin managers a ``hashcore`` command builds in its process (whatever its exit
    code: the imports of this feed report problems, or refuse it with ``--strict``)."""
    env = environment_without(DISABLE_ENV, HASHCORE_STORE=str(tmp_path / "store"))
    done = run_python(COUNT_MANAGERS, *args, env=env)
    assert "managers=" in done.stderr and "Traceback" not in done.stderr, done.stderr
    return int(done.stderr.rsplit("managers=", 1)[1])


@pytest.mark.parametrize(
    "args",
    [
        ["plugins"],
        ["plugins", "--json"],
        ["hash", str(IMAGE)],
        ["bank", "create", "b"],
        ["bank", "import", "b", "--create", "--format", "tat", str(DATA / "partner/tat_list.json")],
        [
            *("bank", "import", "b", "--create", "--strict", "--format", "tat"),
            str(DATA / "partner" / "tat_list.json"),
        ],
    ],
    ids=["plugins", "plugins-json", "hash", "bank-create", "import", "import-strict"],
)
def test_a_command_builds_one_plugin_manager(args: list[str], tmp_path: Path) -> None:
    assert managers_built(args, tmp_path) == 1


def test_the_process_shares_one_plugins_object() -> None:
    plugins = loaded_plugins()
    assert loaded_plugins() is plugins
    assert load_registry() is plugins.registry
    assert type(get_format("tat", plugins.registry)) is plugins.formats["tat"]
    assert set(plugins.formats) >= {"ncmec", "tat", "hashcore", "csv"}


def test_disabling_is_honoured_by_the_shared_object(monkeypatch: pytest.MonkeyPatch) -> None:
    everything = loaded_plugins()
    monkeypatch.setenv(DISABLE_ENV, "phash,tat")
    fewer = loaded_plugins()
    assert fewer is not everything and loaded_plugins() is fewer
    assert "phash" not in fewer.registry and "tat" not in fewer.formats
    assert "pdq" in fewer.registry and "ncmec" in fewer.formats
    monkeypatch.delenv(DISABLE_ENV)
    assert loaded_plugins() is everything


class Fixture(BankFormat):
    name: ClassVar[str] = "fixture-format"
    description: ClassVar[str] = "a format registered by hand"


class EveryHook:
    """A plugin object implementing every hook (the test below keeps it complete)."""

    @hookspecs.hookimpl
    def hashcore_signal_types(self) -> list[type]:
        from hashcore_md5.plugin import Md5Signal

        return [Md5Signal]

    @hookspecs.hookimpl
    def hashcore_bank_formats(self) -> list[type]:
        return [Fixture]

    @hookspecs.hookimpl
    def hashcore_feedback_formats(self) -> list[type]:
        from hashcore.formats.stopncii import StopnciiFeedback

        return [StopnciiFeedback]


def test_a_test_builds_its_own_set_without_entry_points(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    plugins = Plugins.build(load_entry_points=False, plugins={"every": EveryHook()})
    assert plugins is not loaded_plugins()
    assert plugins.registry.names() == ["md5"] and list(plugins.formats) == ["fixture-format"]
    assert isinstance(plugins.format("fixture-format"), Fixture)
    monkeypatch.setenv(DISABLE_ENV, "every")
    blocked = Plugins.build(load_entry_points=False, plugins={"every": EveryHook()})
    assert len(blocked.registry) == 0 and not blocked.formats


def test_every_hookspec_is_described() -> None:
    """Adding a hook to hookspecs.py fails here until ``hashcore plugins`` describes it."""
    hooks = hook_names()
    assert {"hashcore_signal_types", "hashcore_bank_formats"} <= set(hooks)
    assert set(HOOK_LABELS) == set(hooks), "give every hook a label in hashcore.plugins"
    missing = [hook for hook in hooks if not hasattr(EveryHook, hook)]
    assert not missing, f"implement {missing} in EveryHook so their description is tested"
    plugins = Plugins.build(load_entry_points=False, plugins={"every": EveryHook()})
    (info,) = describe_plugins(plugins.manager)
    assert info.name == "every" and info.distribution is None
    assert all(info.provides[hook_key(hook)] for hook in hooks)
    assert info.signal_types == ["md5"] and info.bank_formats == ["fixture-format"]
    assert list(info.as_dict()) == ["name", "distribution", "version", *map(hook_key, hooks)]


def test_the_cli_lists_formats_beside_signal_types(capsys: pytest.CaptureFixture[str]) -> None:
    from hashcore.cli.main import main

    assert main(["plugins"]) == 0
    text = capsys.readouterr().out
    lines = text.splitlines()
    signal_types, formats = lines.index("Signal types"), lines.index("Bank formats")
    header = lines[signal_types + 1]
    assert header.split() == ["NAME", "CONTENT", "METRIC", "THRESHOLD", "PLUGIN", "DESCRIPTION"]
    [pdq] = [line for line in lines[signal_types:formats] if line.split()[0] == "pdq"]
    assert pdq.split()[:5] == ["pdq", "image", "hamming", "31", "pdq"]
    assert pdq.index("PDQ 256-bit") == header.index("DESCRIPTION")  # columns line up
    feedback = lines.index("Feedback formats")  # after the bank formats: the partners told back
    [ncmec] = [line for line in lines[formats:feedback] if line.split()[0] == "ncmec"]
    assert ncmec.split()[:3] == ["ncmec", "file,api", "ncmec"]
    assert ncmec.index("NCMEC") == lines[formats + 1].index("DESCRIPTION")
    told = {line.split()[0] for line in lines[feedback + 2 :] if line.strip()}
    assert told == {"ncmec", "stopncii", "threatexchange"}
    assert main(["plugins", "--json"]) == 0
    listed: list[dict[str, Any]] = json.loads(capsys.readouterr().out)
    by_name = {info["name"]: info for info in listed}
    for info in listed:  # the fields of before, then one list per hook
        assert list(info)[:4] == ["name", "distribution", "version", "signal_types"]
    assert by_name["pdq"]["signal_types"] == ["pdq"] and by_name["pdq"]["bank_formats"] == []
    assert by_name["pytx"]["bank_formats"] == ["pytx-csv", "pytx-local"]
    assert by_name["ncmec"]["distribution"] == "hashcore"


def test_the_public_factory_builds_a_fresh_manager() -> None:
    fresh = hashcore.get_plugin_manager()
    assert fresh is not loaded_plugins().manager
    assert {name for name, _ in fresh.list_name_plugin()} >= {"pdq", "ncmec"}
