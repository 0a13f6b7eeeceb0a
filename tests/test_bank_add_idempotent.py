"""Finding 3: ``bank add`` keys entries by the file's MD5, so re-running it (after a kill)
updates the entries it made instead of duplicating them; the server's AddContent likewise."""

from __future__ import annotations

import contextlib
from pathlib import Path

import grpc
import pytest
from crash_support import store_state, write_images
from server_support import running_server

from hashcore.api.v1 import hashcore_pb2 as pb
from hashcore.cli.main import main
from hashcore.engine import Engine
from hashcore.registry import SignalRegistry, load_registry


def test_adding_a_folder_twice_keeps_one_entry_per_file(
    tmp_path: Path, registry: SignalRegistry, capsys: pytest.CaptureFixture[str]
) -> None:
    files = write_images(tmp_path / "pics", 12)
    (tmp_path / "pics" / "copy.png").write_bytes(files[0].read_bytes())  # same content twice
    store = str(tmp_path / "store")
    assert main(["bank", "create", "b", "--store", store]) == 0
    assert main(["bank", "add", "b", str(tmp_path / "pics"), "--store", store]) == 0
    first = store_state(tmp_path / "store")
    assert main(["bank", "add", "b", str(tmp_path / "pics"), "--store", store]) == 0
    assert store_state(tmp_path / "store") == first
    assert len(first["b"]) == 12
    assert all(external_id.startswith("md5:") for external_id in first["b"])
    with Engine(tmp_path / "store", registry) as engine:
        assert engine.get_bank("b").entries == 12
    capsys.readouterr()


def test_re_adding_updates_labels_instead_of_duplicating(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_images(tmp_path / "pics", 3)
    store = str(tmp_path / "store")
    main(["bank", "create", "b", "--store", store])
    main(["bank", "add", "b", str(tmp_path / "pics"), "--store", store])
    main(["bank", "add", "b", str(tmp_path / "pics"), "--store", store, "--label", "seen"])
    state = store_state(tmp_path / "store")["b"]
    assert len(state) == 3 and all(entry["labels"] == ["seen"] for entry in state.values())
    capsys.readouterr()


@pytest.mark.parametrize("where", ["store", "server"])
def test_a_re_run_keeps_the_labels_and_adds_new_ones(
    where: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Re-running ``bank add`` over a folder without ``--label`` wiped every label an analyst
    had given ("updated", labels []); it keeps them now, and a new label joins them."""
    write_images(tmp_path / "pics", 2)
    pics = str(tmp_path / "pics")
    with contextlib.ExitStack() as stack:
        if where == "server":
            srv = stack.enter_context(running_server(tmp_path))
            target, store = ["--server", srv.address], srv.store
        else:
            target, store = ["--store", str(tmp_path / "store")], tmp_path / "store"
        assert main(["bank", "create", "b", *target]) == 0
        assert main(["bank", "add", "b", pics, "--label", "reviewed-by-anna", *target]) == 0
        assert main(["bank", "add", "b", pics, *target]) == 0
        said = capsys.readouterr()
        assert "2 already there" in said.err and "updated" not in said.out + said.err
        assert main(["bank", "add", "b", pics, "--label", "series-x", *target]) == 0
        assert "2 updated" in capsys.readouterr().err
        labels = [entry["labels"] for entry in store_state(store)["b"].values()]
    assert labels == [["reviewed-by-anna", "series-x"]] * 2


def test_bank_add_says_which_files_the_bank_held_already(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A re-run reports the files it found as already there (not as added), and the ones
    whose labels it changed as updated, each line with the entry that holds the file. A
    second copy of a picture in the folder is already there too, on every run: its entry
    keeps the source it was first added from."""
    files = write_images(tmp_path / "pics", 3)
    copy = tmp_path / "pics" / "zz-copy.png"
    copy.write_bytes(files[0].read_bytes())
    store, pics = str(tmp_path / "store"), str(tmp_path / "pics")

    def add(*extra: str) -> tuple[dict[str, str], str]:
        assert main(["bank", "add", "b", pics, "--store", store, *extra]) == 0
        out, err = capsys.readouterr()
        lines = [line.split("\t") for line in out.splitlines()]
        return {Path(line[1]).name: "\t".join([line[0], *line[2:]]) for line in lines}, err

    main(["bank", "create", "b", "--store", store])
    capsys.readouterr()
    first, err = add()
    assert "4 files, 3 added, 1 already there, 0 not added" in err
    assert first["zz-copy.png"] == f"{first['img0000.png']}\t(already in b)"
    again, err = add()
    assert "4 files, 0 added, 4 already there, 0 not added" in err
    assert all(again[name] == f"{first[name].split()[0]}\t(already in b)" for name in first)
    labelled, err = add("--label", "seen")
    assert "4 files, 0 added, 3 updated, 1 already there, 0 not added" in err
    assert labelled["img0001.png"].endswith("(already in b, updated)")
    with Engine(tmp_path / "store", load_registry()) as engine:
        entry = engine.get_entry("b", int(first["img0000.png"]))
        assert entry.source == str(files[0]) and entry.labels == ("seen",)
    removed = first["img0001.png"]
    assert main(["bank", "remove", "b", removed, "--store", store]) == 0
    capsys.readouterr()
    restored, err = add("--label", "seen")  # the removed file is in the bank again, under its id
    assert "4 files, 1 added, 3 already there, 0 not added" in err
    assert restored["img0001.png"] == removed


def test_remote_bank_add_twice_adds_nothing_new(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_images(tmp_path / "pics", 4)
    with running_server(tmp_path) as srv:
        remote = ["--server", srv.address]
        assert main(["bank", "create", "b", *remote]) == 0
        assert main(["bank", "add", "b", str(tmp_path / "pics"), *remote]) == 0
        assert main(["bank", "add", "b", str(tmp_path / "pics"), *remote]) == 0
        out = capsys.readouterr().out
        assert out.count("already in b") == 4
        assert len(store_state(srv.store)["b"]) == 4


def test_remote_bank_add_restores_a_removed_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Over the server as locally: a removed file added again is active again, said added."""
    write_images(tmp_path / "pics", 2)
    with running_server(tmp_path) as srv:
        remote = ["--server", srv.address]
        assert main(["bank", "create", "b", *remote]) == 0
        assert main(["bank", "add", "b", str(tmp_path / "pics"), *remote]) == 0
        capsys.readouterr()
        assert main(["bank", "remove", "b", "1", *remote]) == 0
        capsys.readouterr()
        assert main(["bank", "add", "b", str(tmp_path / "pics"), *remote]) == 0
        out, err = capsys.readouterr()
        assert "2 files, 1 added, 1 already there, 0 not added" in err
        assert out.splitlines()[0].startswith("1\t") and "(already in b)" in out.splitlines()[1]
        _, banks = srv.stubs()
        assert banks.GetBank(pb.GetBankRequest(name="b"), timeout=10).entries == 2


def test_add_signals_upsert_says_what_each_entry_became(tmp_path: Path) -> None:
    def entry(external_id: str, byte: int, labels: tuple[str, ...] = ()) -> pb.NewEntry:
        signal = pb.Signal(type="md5", value=bytes([byte]) * 16)
        return pb.NewEntry(signals=[signal], external_id=external_id, labels=labels)

    with running_server(tmp_path) as srv:
        _, banks = srv.stubs()
        banks.CreateBank(pb.CreateBankRequest(name="b"), timeout=10)
        plain = pb.AddSignalsRequest(bank="b", entries=[entry("a", 1)])
        first = banks.AddSignals(plain, timeout=10)
        assert list(first.outcomes) == []  # not asked for: every entry is new or refused
        with pytest.raises(grpc.RpcError) as refused:
            banks.AddSignals(plain, timeout=10)
        assert refused.value.code() is grpc.StatusCode.ALREADY_EXISTS
        banks.RemoveEntries(pb.RemoveEntriesRequest(bank="b", entry_ids=[first.entries[0].id]))
        upsert = pb.AddSignalsRequest(
            bank="b",
            entries=[entry("a", 1), entry("new", 2), entry("new", 2, ("seen",)), entry("", 3)],
            upsert=True,
        )
        answer = banks.AddSignals(upsert, timeout=10)
        assert list(answer.outcomes) == ["added", "added", "updated", "added"]
        restored, new, relabelled, keyless = answer.entries
        assert restored.id == first.entries[0].id and restored.status == "active"
        assert relabelled.id == new.id and list(relabelled.labels) == ["seen"]
        assert keyless.external_id not in ("", "a", "new")
        again = banks.AddSignals(
            pb.AddSignalsRequest(bank="b", entries=[entry("a", 1)], upsert=True), timeout=10
        )
        assert list(again.outcomes) == ["unchanged"] and again.entries[0].id == restored.id
        assert banks.GetBank(pb.GetBankRequest(name="b"), timeout=10).entries == 3


def test_add_content_twice_is_one_entry(tmp_path: Path) -> None:
    picture = write_images(tmp_path / "pics", 1)[0].read_bytes()
    with running_server(tmp_path) as srv:
        _, banks = srv.stubs()
        banks.CreateBank(pb.CreateBankRequest(name="b"), timeout=10)
        one = banks.AddContent(pb.AddContentRequest(bank="b", content=picture), timeout=60)
        two = banks.AddContent(
            pb.AddContentRequest(bank="b", content=picture, labels=["again"]), timeout=60
        )
        assert one.id == two.id and one.external_id.startswith("md5:")
        assert list(two.labels) == ["again"]
        assert banks.GetBank(pb.GetBankRequest(name="b"), timeout=10).entries == 1
