"""A command loads only what it needs: ``hash`` never imports the engine, gRPC, FAISS or PyAV.

Each of those costs a tenth of a second or more of every start (``python -X importtime``), and
an analyst hashing one picture pays the whole start. The check runs the real CLI in a fresh
interpreter and reads ``sys.modules`` when the verb has finished.
"""

from __future__ import annotations

import importlib.metadata
import json
import shutil
from pathlib import Path

import pytest

from hashcore.cli.main import COMMANDS, build_parser, chosen_verb, main
from tests.fresh_python import python_output, run_python

PICTURE = Path(__file__).parent / "data" / "pdq" / "misc" / "small.jpg"

RUN_AND_LIST_MODULES = """
import contextlib, io, json, sys
from hashcore.cli.main import main
with contextlib.redirect_stdout(io.StringIO()) as out:
    code = main(sys.argv[1:])
print(json.dumps({"code": code, "out": out.getvalue(), "modules": sorted(sys.modules)}))
"""

NOT_FOR_HASHING = (
    *("faiss", "grpc", "av", "hashcore.engine", "hashcore.sharing"),
    *("numba", "llvmlite"),  # PDQ's kernel is C: numba is for index searches
    "scipy",  # pHash loads only scipy's compiled DCT, for featureless pictures only
    "tqdm",  # the progress bar, on a terminal only
    "numpy.ma",  # numpy.median's first call imports it (~15 ms): pHash and borders do without
)


def run_cli(*args: str) -> dict[str, object]:
    output = python_output(RUN_AND_LIST_MODULES, *args)
    result: dict[str, object] = json.loads(output.splitlines()[-1])
    return result


def test_hash_loads_no_store_grpc_faiss_or_video_decoder() -> None:
    result = run_cli("hash", "--json", str(PICTURE))
    assert result["code"] == 0
    assert json.loads(str(result["out"]))["kind"] == "image"
    modules = set(result["modules"])  # type: ignore[arg-type]
    assert not modules & set(NOT_FOR_HASHING)
    assert "hashcore_tmk.plugin" in modules  # every plugin is still loaded, just not its deps


def test_hash_of_a_folder_loads_no_compiler_scipy_or_progress_bar(tmp_path: Path) -> None:
    """Many files take the path that used to warm up (numba, ~0.45 s a process): it loads
    nothing a file does not need, and PDQ hashes with its compiled kernel."""
    for number in range(3):
        shutil.copy(PICTURE, tmp_path / f"{number}.jpg")
    result = run_cli("hash", "--json", "--jobs", "1", str(tmp_path))
    assert result["code"] == 0
    rows = [json.loads(line) for line in str(result["out"]).splitlines()]
    assert len(rows) == 3 and all(
        not row["errors"] and any(s["type"] == "pdq" for s in row["signals"]) for row in rows
    )
    modules = set(result["modules"])  # type: ignore[arg-type]
    assert not modules & set(NOT_FOR_HASHING)
    assert "hashcore_pdq.kernel" in modules


def test_bank_list_loads_no_grpc(tmp_path: Path) -> None:
    result = run_cli("--store", str(tmp_path), "bank", "create", "b")
    assert result["code"] == 0
    modules = set(result["modules"])  # type: ignore[arg-type]
    assert "grpc" not in modules
    assert "hashcore.engine" in modules  # a store verb opens the engine, as before


@pytest.mark.parametrize(
    ("argv", "verb"),
    [
        (["hash", "x.jpg"], "hash"),
        (["--store", "hash", "bank", "list"], "bank"),  # a store directory named like a verb
        (["--store=dir", "lookup", "x"], "lookup"),
        (["--sto", "hash", "bank", "list"], "bank"),  # argparse's abbreviation of --store
        (["--help"], None),
        (["--version"], None),
        (["hsah", "x"], None),  # a typo: the full parser names the verbs in its error
        ([], None),
    ],
)
def test_chosen_verb(argv: list[str], verb: str | None) -> None:
    assert chosen_verb(argv) == verb


def test_one_verb_parser_parses_as_the_full_one() -> None:
    argv = ["--store", "s", "bank", "create", "b", "--priority", "2"]
    whole = build_parser().parse_args(argv)
    alone = build_parser("bank").parse_args(argv)
    assert {k: v for k, v in vars(whole).items() if k != "func"} == {
        k: v for k, v in vars(alone).items() if k != "func"
    }
    assert whole.func is alone.func


def test_every_verb_has_a_module_that_registers_it() -> None:
    parser = build_parser()
    verbs = next(a for a in parser._actions if a.dest == "command").choices
    assert verbs is not None
    assert list(verbs) == list(COMMANDS)
    for verb in COMMANDS:
        alone = next(a for a in build_parser(verb)._actions if a.dest == "command").choices
        assert alone is not None
        assert list(alone) == [verb]


RUN_AND_REPORT_THE_EXIT = """
import atexit, gc, sys
from hashcore.cli.main import run
atexit.register(lambda: print("frozen at exit:", gc.get_freeze_count(), file=sys.stderr))
sys.argv[1:] = sys.argv[2:]  # python -c: argv[1] is this script's marker
run()
"""


@pytest.mark.parametrize(
    ("args", "code"), [(["hash", "--json", str(PICTURE)], 0), (["hash", "no-such.jpg"], 1)]
)
def test_the_command_exits_with_its_status_without_collecting_its_objects_again(
    args: list[str], code: int
) -> None:
    """``run`` (the installed ``hashcore`` script) freezes what is alive before the teardown,
    whose collections would walk every object again (~30 ms a command), and keeps the status
    and the whole output."""
    done = run_python(RUN_AND_REPORT_THE_EXIT, "run", *args)
    assert done.returncode == code, done.stderr
    frozen = int(done.stderr.rsplit("frozen at exit:", 1)[1].split()[0])
    assert frozen > 10_000  # numpy, Pillow and hashcore: ~30,000 objects
    if code == 0:
        assert json.loads(done.stdout)["kind"] == "image"


def test_the_installed_script_is_run() -> None:
    scripts = importlib.metadata.distribution("hashcore").entry_points.select(
        group="console_scripts"
    )
    assert scripts["hashcore"].value == "hashcore.cli.main:run"


def test_a_disabled_name_no_plugin_has_is_warned_about(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``HASHCORE_DISABLE_PLUGINS=phsah`` disabled nothing without a word; a real name
    beside it is disabled as before."""
    monkeypatch.setenv("HASHCORE_DISABLE_PLUGINS", "phsah, vpdq")
    assert main(["plugins"]) == 0
    captured = capsys.readouterr()
    assert captured.err == (
        "hashcore: warning: HASHCORE_DISABLE_PLUGINS names no installed plugin: phsah "
        "(`hashcore plugins` lists them)\n"
    )
    assert "vpdq" not in captured.out
