"""The columnar import path against the same feeds applied a record at a time.

``hashcore bank import`` (``Engine.import_file``: the file parsed into columns, by a child
process for a large one) and ``ImportUpdates`` hand the store runs of records as columns; the
store plays them and writes them in bulk. Here the same feeds (upserts of the same ids, values
shared across entries and banks, withdrawals, deletions, malformed values and lines, unknown
and unsupported types) go through that path and through batches of one record (the importer
with ``batch_size=1``, and ``upsert_entry`` per record): every table must come out the same row
for row (ids, refs, the change log in order, both counters), what ``hashcore check`` recounts
must agree, and the indexes caught up after the import must answer as indexes rebuilt from the
store do.
"""

from __future__ import annotations

import io
import json
import random
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hashcore.engine import Engine
from hashcore.formats import BankUpdate, get_format
from hashcore.formats.background import read_feed
from hashcore.formats.columns import UpdateColumns, flattened
from hashcore.formats.importer import import_updates
from hashcore.registry import SignalRegistry
from hashcore.signals import Signal
from hashcore.store.schema import FAMILY_RECOUNT_SQL, RECOUNT_SQL
from hashcore.store.store import INDEX_DIR
from tests.formats_support import upsert_one_by_one
from tests.store_model import assert_recounts

NOW = 1_000_000.0
BANKS = ("alpha", "beta")
TABLES = {
    "entries": "SELECT id, bank_id, external_id, labels, source, status, created_at, updated_at"
    " FROM entries ORDER BY id",
    "entry_signals": "SELECT entry_id, value_id, quality, variant FROM entry_signals"
    " ORDER BY entry_id, value_id",
    "signal_values": "SELECT id, family, value, refs FROM signal_values ORDER BY id",
    "changes": "SELECT seq, family, value_id, op FROM changes ORDER BY seq",
    "bank_counts": "SELECT bank_id, family, count FROM bank_counts WHERE count != 0"
    " ORDER BY bank_id, family",
    "family_counts": "SELECT family, live FROM family_counts WHERE live != 0 ORDER BY family",
    "checkpoints": "SELECT bank_id, source, value FROM checkpoints ORDER BY bank_id, source",
}


def value_pool(rng: random.Random) -> dict[str, list[str]]:
    """A few values per family, drawn again and again: shared by entries and banks."""
    return {
        "pdq": [rng.randbytes(32).hex() for _ in range(12)],
        "md5": [rng.randbytes(16).hex() for _ in range(8)],
        "phash": [rng.randbytes(8).hex() for _ in range(4)],
    }


def native_feed(seed: int, count: int) -> bytes:
    """hashcore lines: repeated ids (upserts, older copies), withdrawals and deletions with and
    without signals, derived variants, qualities, malformed values and lines, unknown and
    unsupported types."""
    rng = random.Random(seed)
    pool = value_pool(rng)
    lines = [json.dumps({"format": "hashcore-bank", "version": 1, "bank": {"name": "x"}})]
    for _ in range(count):
        signals: list[Any] = []
        for _ in range(rng.choice([0, 1, 1, 2, 2, 3])):
            family = rng.choice(["pdq", "pdq", "md5", "phash"])
            signal: dict[str, Any] = {"type": family, "hex": rng.choice(pool[family])}
            if rng.random() < 0.2:
                signal["quality"] = rng.choice([10, 60, 100])
            if family == "pdq" and rng.random() < 0.15:
                signal["variant"] = rng.choice(["trimmed", "orig", "centre90"])
            signals.append(signal)
        odd = rng.random()
        if odd < 0.04:
            signals.append({"type": "pdq", "hex": "zz" * 32})  # malformed value
        elif odd < 0.07:
            signals.append({"type": "pdq", "hex": "ab" * 5})  # wrong length
        elif odd < 0.10:
            signals.append({"type": "bogus", "hex": "00"})  # unknown type
        elif odd < 0.13:
            signals.append({"type": "sha1", "hex": "ab" * 20})  # known, no plugin: skipped
        record: dict[str, Any] = {
            "external_id": f"e{rng.randrange(count // 3 + 1)}",
            "status": rng.choice(["active"] * 6 + ["withdrawn", "deleted"]),
            "labels": rng.choice([[], ["l"], ["b", "a", "a"]]),
            "signals": signals,
        }
        if rng.random() < 0.8:
            record["updated_at"] = float(rng.randrange(50))
        if rng.random() < 0.3:
            record["created_at"] = float(rng.randrange(5))
        if rng.random() < 0.3:
            record["source"] = rng.choice(["s", "t"])
        line = json.dumps(record)
        if rng.random() < 0.02:
            line = line[:-2]  # malformed JSON
        lines.append(line)
    return ("\n".join(lines) + "\n").encode()


def ncmec_feed(seed: int, count: int) -> bytes:
    """NCMEC XML: images and videos, deletions (no signals), repeated ids, malformed values
    and timestamps, unknown fingerprint types."""
    rng = random.Random(seed)
    pool = value_pool(rng)
    parts = [
        '<?xml version="1.0"?><queryResult xmlns="https://hashsharing.ncmec.org/hashsharing/v2">'
        "<images>"
    ]
    for _ in range(count):
        tag = rng.choice(["image", "image", "image", "video", "deletedImage"])
        prints = "".join(
            rng.choice(
                [f"<pdq>{rng.choice(pool['pdq'])}</pdq>"] * 4
                + [f"<md5>{rng.choice(pool['md5'])}</md5>"] * 3
                + ["<pdq>zz</pdq>", "<weird>00</weird>", "<sha1>ab</sha1>"]
            )
            for _ in range(rng.randrange(4))
        )
        stamp = rng.choice([f"2026-03-02T10:00:{rng.randrange(60):02d}Z"] * 9 + ["bad"])
        parts.append(
            f'<{tag}><member id="7">M</member><timestamp>{stamp}</timestamp>'
            f"<id>e{rng.randrange(count // 3 + 1)}</id>"
            f"<classification>{rng.choice(['A1', 'B2'])}</classification>"
            f"<fingerprints>{prints}</fingerprints></{tag}>\n"
        )
    parts.append("</images></queryResult>")
    return "".join(parts).encode()


FEEDS = {"hashcore": native_feed, "ncmec": ncmec_feed}


def dump(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every table (the change log without its timestamps), and the two counters recounted."""
    conn = sqlite3.connect(engine.store.path)
    try:
        tables = {name: conn.execute(sql).fetchall() for name, sql in TABLES.items()}
        recount = sorted(row for row in conn.execute(RECOUNT_SQL) if row[2])
        assert recount == [tuple(row) for row in tables["bank_counts"]]
        assert sorted(conn.execute(FAMILY_RECOUNT_SQL)) == tables["family_counts"]
        return tables
    finally:
        conn.close()


def fresh(path: Path, registry: SignalRegistry) -> Engine:
    engine = Engine(path, registry)
    for bank in BANKS:
        engine.create_bank(bank)
    return engine


@pytest.fixture
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Entries without a time are stamped with the clock: the same in every store."""
    monkeypatch.setattr("hashcore.store.batch.time.time", lambda: NOW)


def imports(fmt: str, seed: int, count: int) -> list[tuple[str, bytes]]:
    """Two feeds into each bank, sharing values across banks and feeds."""
    make = FEEDS[fmt]
    return [
        ("alpha", make(seed, count)),
        ("beta", make(seed, count)),  # the same records in another bank
        ("alpha", make(seed + 1, count)),  # upserts over what alpha holds
        ("beta", make(seed + 2, count)),
    ]


def by_columns(
    engine: Engine, fmt: str, feeds: list[tuple[str, bytes]], tmp: Path, **how: Any
) -> list[dict[str, Any]]:
    """``Engine.import_file`` (the CLI's path), each feed from a file."""
    summaries = []
    for n, (bank, data) in enumerate(feeds):
        path = tmp / f"feed-{n}.{fmt}"
        path.write_bytes(data)
        summary = engine.import_file(bank, path, format=fmt, allow_mass_delete=True, **how)
        summaries.append(summary.as_dict() | {"problems": [str(p) for p in summary.problems]})
    return summaries


def one_record_batches(
    engine: Engine, fmt: str, feeds: list[tuple[str, bytes]], registry: SignalRegistry
) -> list[dict[str, Any]]:
    """The importer with one record per transaction, the records read one by one."""
    summaries = []
    for bank, data in feeds:
        items = get_format(fmt, registry).read(io.BytesIO(data))
        summary = import_updates(engine, bank, items, batch_size=1, max_delete_fraction=None)
        summaries.append(summary.as_dict() | {"problems": [str(p) for p in summary.problems]})
    return summaries


@pytest.mark.usefixtures("frozen_clock")
@pytest.mark.parametrize("fmt", ["hashcore", "ncmec"])
def test_columns_equal_one_record_batches(
    fmt: str, tmp_path: Path, registry: SignalRegistry
) -> None:
    feeds = imports(fmt, 11, 400)
    with fresh(tmp_path / "columns", registry) as columns:
        columns.open_indexes()  # caught up after each import, as a server's
        summaries = by_columns(columns, fmt, feeds, tmp_path)
        tables = dump(columns)
        assert_recounts(columns.store)
    with fresh(tmp_path / "small", registry) as small:  # columns cut into batches of 7
        assert by_columns(small, fmt, feeds, tmp_path, batch_size=7) == summaries
        assert dump(small) == tables
    with fresh(tmp_path / "one", registry) as one:
        assert one_record_batches(one, fmt, feeds, registry) == summaries
        assert dump(one) == tables
    counted = summaries[0]
    assert counted["added"] and counted["updated"] and counted["deleted"] and counted["problems"]
    assert counted["skipped"], counted  # unsupported families, records without a signal
    assert len(tables["changes"]) > len(tables["signal_values"])  # values came and went


PDQ = Signal("pdq", bytes(range(32)))
REFUSED = UpdateColumns()
for refused in (
    BankUpdate("bad-length", (PDQ, Signal("pdq", bytes(5)))),
    BankUpdate("unknown-family", (Signal("nope", bytes(4)),)),
    BankUpdate("   ", (PDQ,)),
    BankUpdate("blank-label", (PDQ,), ("ok", " ")),
    BankUpdate("weak", (Signal("pdq", bytes(32), quality=0, usable=False),)),
    BankUpdate("e1", (Signal("pdq", bytes(32), quality=0, usable=False), PDQ), ("w",)),
):
    REFUSED.append(refused)


@pytest.mark.usefixtures("frozen_clock")
def test_columns_equal_upsert_entry_per_record(tmp_path: Path, registry: SignalRegistry) -> None:
    """``upsert_entries`` given columns against ``upsert_entry`` per record, in one
    transaction each: same outcomes, same tables."""
    data = native_feed(5, 600)
    parsed = list(get_format("hashcore", registry).read_columns(io.BytesIO(data)))
    runs = [item for item in parsed if isinstance(item, UpdateColumns)]
    assert len(runs) > 10
    joined = UpdateColumns()
    for run in runs:
        joined.extend(run)
        joined.extend(REFUSED)  # records the store refuses, between the others
    records = list(joined)
    assert len(records) > 500
    with fresh(tmp_path / "columns", registry) as columns, fresh(tmp_path / "one", registry) as one:
        with columns.batch() as writer:
            by_columns = writer.upsert_entries("alpha", joined)
        with one.batch() as writer:
            per_record = upsert_one_by_one(writer, "alpha", records)
        assert [str(r) for r in by_columns] == [str(r) for r in per_record]
        assert any(not isinstance(r, str) for r in by_columns)  # some refused
        assert dump(columns) == dump(one)


def test_read_is_read_columns_flattened(registry: SignalRegistry) -> None:
    """One parse per format: the records ``read`` yields are the columns' records."""
    for fmt, make in FEEDS.items():
        data = make(3, 500)
        read = list(get_format(fmt, registry).read(io.BytesIO(data)))
        by_runs = list(flattened(get_format(fmt, registry).read_columns(io.BytesIO(data))))
        assert read == by_runs
        assert sum(isinstance(item, BankUpdate) for item in read) > 200


@pytest.mark.usefixtures("frozen_clock")
@pytest.mark.parametrize("fmt", ["hashcore", "ncmec"])
def test_feed_read_by_a_child_process_equals_in_process(
    fmt: str, tmp_path: Path, registry: SignalRegistry
) -> None:
    """The reading process sends columns; the store they build is the in-process one."""
    data = FEEDS[fmt](7, 3000)
    path = tmp_path / f"feed.{fmt}"
    path.write_bytes(data)
    dumps = []
    for name, min_bytes in (("child", 0), ("here", 1 << 40)):
        with fresh(tmp_path / name, registry) as engine:
            items = read_feed(fmt, path, registry, min_bytes=min_bytes)
            summary = import_updates(engine, "alpha", items, max_delete_fraction=None)
            dumps.append((summary.as_dict(), dump(engine)))
    assert dumps[0] == dumps[1]


def lookups(engine: Engine, queries: list[Signal]) -> list[list[tuple[str, str]]]:
    return [
        sorted((match.bank, match.external_id) for match in result.matches)
        for result in engine.lookup_many([[query] for query in queries])
    ]


def near(value: bytes, bits: int) -> bytes:
    """``value`` with its first ``bits`` bits flipped."""
    number = int.from_bytes(value, "big") ^ (((1 << bits) - 1) << (len(value) * 8 - bits))
    return number.to_bytes(len(value), "big")


def every_value(engine: Engine) -> Iterator[Signal]:
    conn = sqlite3.connect(engine.store.path)
    try:
        for family, value in conn.execute("SELECT family, value FROM signal_values"):
            yield Signal(family, bytes(value))
    finally:
        conn.close()


@pytest.mark.usefixtures("frozen_clock")
def test_indexes_caught_up_after_imports_answer_as_rebuilt_ones(
    tmp_path: Path, registry: SignalRegistry
) -> None:
    """Open indexes replay each import's change log; a copy of the store with its indexes
    deleted rebuilds them from the tables: the same matches for every value and near ones."""
    with fresh(tmp_path / "live", registry) as live:
        live.open_indexes()
        by_columns(live, "hashcore", imports("hashcore", 13, 400), tmp_path)
        by_columns(live, "ncmec", imports("ncmec", 17, 400), tmp_path)
        values = list(every_value(live))
        queries = values + [
            Signal(s.type, near(s.value, 8)) for s in values if s.type in ("pdq", "phash")
        ]
        caught_up = lookups(live, queries)
    assert any(caught_up) and not all(caught_up)  # withdrawn values match nothing
    shutil.copytree(tmp_path / "live", tmp_path / "rebuilt")
    shutil.rmtree(tmp_path / "rebuilt" / INDEX_DIR, ignore_errors=True)
    with Engine(tmp_path / "rebuilt", registry) as rebuilt:
        assert lookups(rebuilt, queries) == caught_up
