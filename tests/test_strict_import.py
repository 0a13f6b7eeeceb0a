"""``hashcore bank import --strict`` reads the feed once and commits all of it or nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest
from formats_support import MemoryTarget

from hashcore.cli.main import main
from hashcore.engine import Engine
from hashcore.errors import InvalidInput, NotFound
from hashcore.formats.importer import StrictProblem, import_updates
from hashcore.formats.native import NativeFormat
from hashcore.formats.records import BankUpdate, Item, Problem
from hashcore.signals import Signal

HEADER = {"format": "hashcore-bank", "version": 1, "bank": {"name": "x"}}


def record(n: int, external_id: str | None = None) -> dict[str, Any]:
    md5 = f"{n:032x}"
    return {"external_id": external_id or f"e{n}", "status": "active", "signals": [md5_of(md5)]}


def md5_of(hex_value: str) -> dict[str, str]:
    return {"type": "md5", "hex": hex_value}


def feed(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text("\n".join(json.dumps(r) for r in [HEADER, *records]) + "\n")
    return path


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """One item per parse of a feed by the ``hashcore`` format (``read``, or ``read_columns``
    as imports do), and the bytes it read."""
    parses: list[int] = []

    def counting(name: str) -> None:
        original = getattr(NativeFormat, name)

        def counted(self: NativeFormat, stream: IO[bytes]) -> Iterator[Any]:
            parses.append(0)
            for item in original(self, stream):
                parses[-1] = stream.tell()
                yield item

        monkeypatch.setattr(NativeFormat, name, counted)

    counting("read")
    counting("read_columns")
    return parses


def run(store: Path, *args: str) -> int:
    return main(["bank", "import", "b", "--store", str(store), "--format", "hashcore", *args])


def entries(store: Path) -> int:
    with Engine(store) as engine:
        return engine.get_bank("b").entries


def test_a_valid_file_is_read_once(tmp_path: Path, reads: list[int]) -> None:
    path = feed(tmp_path / "ok.jsonl", [record(n) for n in range(7)])
    assert run(tmp_path / "s", "--create", "--strict", "--batch-size", "2", str(path)) == 0
    assert reads == [path.stat().st_size]
    assert entries(tmp_path / "s") == 7


def test_a_late_problem_commits_nothing(
    tmp_path: Path, reads: list[int], capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "s"
    assert run(store, "--create", str(feed(tmp_path / "first.jsonl", [record(100)]))) == 0
    bad = [*(record(n) for n in range(7)), {"external_id": "bad", "signals": [md5_of("zz")]}]
    path = feed(tmp_path / "bad.jsonl", bad)
    reads.clear()
    capsys.readouterr()
    assert run(store, "--strict", "--batch-size", "2", str(path)) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"hashcore: error: {path}: line 9 (bad): ")
    assert error.endswith(" (--strict: nothing imported)\n")
    assert len(reads) == 1  # no validation pass before the import
    assert entries(store) == 1  # the three batches before the problem were rolled back


def test_a_refused_strict_file_creates_no_bank(tmp_path: Path, reads: list[int]) -> None:
    path = feed(
        tmp_path / "bad.jsonl", [record(1), {"external_id": "bad", "signals": [md5_of("zz")]}]
    )
    store = tmp_path / "s"
    assert run(store, "--create", "--strict", str(path)) == 2
    assert len(reads) == 1
    with Engine(store) as engine, pytest.raises(NotFound):
        engine.get_bank("b")


def test_a_record_the_store_refuses_rolls_back_earlier_batches(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    too_long = "x" * 600  # parses, but the store refuses ids over 512 characters
    path = feed(tmp_path / "refused.jsonl", [*(record(n) for n in range(5)), record(5, too_long)])
    store = tmp_path / "s"
    assert run(store, "--create", str(feed(tmp_path / "first.jsonl", [record(100)]))) == 0
    capsys.readouterr()
    assert run(store, "--strict", "--batch-size", "2", str(path)) == 2
    error = capsys.readouterr().err
    assert "external id longer than 512 (--strict)" in error
    assert entries(store) == 1
    assert run(store, "--batch-size", "2", str(path)) == 1  # without --strict: a problem
    assert entries(store) == 6


def update(external_id: str) -> BankUpdate:
    return BankUpdate(external_id, (Signal("md5", bytes(16)),))


def test_all_or_nothing_is_one_transaction() -> None:
    target = MemoryTarget()
    items: list[Item] = [update(f"u{n}") for n in range(5)]
    summary = import_updates(target, "b", items, strict=True, batch_size=2, all_or_nothing=True)
    assert target.commits == 1 and summary.added == 5
    with pytest.raises(StrictProblem, match=r"^line 9: bad \(--strict: nothing imported\)$"):
        import_updates(
            target,
            "b",
            [update("v1"), update("v2"), update("v3"), Problem("line 9", "bad")],
            strict=True,
            batch_size=1,
            all_or_nothing=True,
        )
    assert target.commits == 1 and "v1" not in target.entries("b")


def test_strict_without_all_or_nothing_keeps_its_batches() -> None:
    """``fetch --strict`` keeps what committed before the problem: it resumes from there."""
    target = MemoryTarget()
    items: list[Item] = [update("a"), update("b"), Problem("page 2", "bad")]
    with pytest.raises(InvalidInput, match=r"^page 2: bad \(--strict: import stopped\)$"):
        import_updates(target, "b", items, strict=True, batch_size=1)
    assert set(target.entries("b")) == {"a", "b"}
