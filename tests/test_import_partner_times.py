"""Partner records are ordered by the partner's times, never by our clock.

A record without a time (an NCMEC entry without ``<timestamp>``, a StopNCII record without
``lastModtimestamp``, a CSV row with an empty time) used to give the entry the import's time as
``updated_at``; the partner's later deletion, dated before our import, then counted as older and
was dropped: the hash kept matching. All on real stores on disk, through the formats' parsers.
"""

from __future__ import annotations

import io
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from hashcore.engine import Engine
from hashcore.formats import get_format
from hashcore.formats.importer import ImportSummary, import_updates
from hashcore.registry import SignalRegistry
from hashcore.store import Store

MD5 = "0123456789abcdef0123456789abcdee"
PDQ = "77" * 32
MARCH_5 = "2026-03-05T00:00:00Z"  # 1772668800
MARCH_1 = 1772323200


@pytest.fixture
def engine(tmp_path: Path, registry: SignalRegistry) -> Iterator[Engine]:
    with Engine(tmp_path / "store", registry) as opened:
        opened.create_bank("partner")
        yield opened


def run(
    engine: Engine, registry: SignalRegistry, fmt: str, data: str, **options: str
) -> ImportSummary:
    items = get_format(fmt, registry, options).read(io.BytesIO(data.encode()))
    return import_updates(engine, "partner", items)


def matches(engine: Engine, registry: SignalRegistry, family: str, value: str) -> set[str]:
    signal = registry.get(family).signal_from_text(value)
    return {m.external_id for m in engine.lookup_signals([signal]).matches}


def ncmec_image(stamp: str | None) -> str:
    when = f"<timestamp>{stamp}</timestamp>" if stamp else ""
    return (
        "<queryResult><images><image><member id='1'>M</member><id>x2</id>"
        f"{when}<fingerprints><md5>{MD5}</md5></fingerprints></image></images></queryResult>"
    )


def ncmec_deleted(stamp: str | None) -> str:
    when = f"<timestamp>{stamp}</timestamp>" if stamp else ""
    return (
        "<queryResult><images><deletedImage><member id='1'>M</member><id>x2</id>"
        f"{when}</deletedImage></images></queryResult>"
    )


def stopncii(status: str, stamp: int | None) -> str:
    record: dict[str, object] = {"signalType": "ImagePDQ", "hashValue": PDQ, "hashStatus": status}
    if stamp is not None:
        record["lastModtimestamp"] = stamp
    return json.dumps({"hashRecords": [record]})


CSV_OPTIONS = {"id_column": "id", "deleted_column": "deleted", "updated_column": "updated"}


def csv_row(deleted: str, updated: str) -> str:
    return f"id,type,value,deleted,updated\na,md5,{MD5},{deleted},{updated}\n"


UNDATED_THEN_DATED_DELETION = [
    ("ncmec", ncmec_image(None), ncmec_deleted(MARCH_5), {}, "md5", MD5, "1-x2"),
    (
        "stopncii",
        stopncii("Active", None),
        stopncii("Withdrawn", MARCH_1),
        {},
        "pdq",
        PDQ,
        f"ImagePDQ:{PDQ}",
    ),
    ("csv", csv_row("0", ""), csv_row("1", MARCH_5), CSV_OPTIONS, "md5", MD5, "a"),
]


@pytest.mark.parametrize(
    ("fmt", "first", "second", "options", "family", "value", "key"),
    UNDATED_THEN_DATED_DELETION,
    ids=["ncmec", "stopncii", "csv"],
)
def test_a_dated_deletion_beats_an_undated_earlier_copy(
    engine: Engine,
    registry: SignalRegistry,
    fmt: str,
    first: str,
    second: str,
    options: dict[str, str],
    family: str,
    value: str,
    key: str,
) -> None:
    """The import's clock (now, after the partner's deletion time) must not make the
    partner's deletion look older than the copy we imported without a time."""
    assert run(engine, registry, fmt, first, **options).added == 1
    assert matches(engine, registry, family, value) == {key}
    summary = run(engine, registry, fmt, second, **options)
    assert (summary.deleted, summary.unchanged) == (1, 0)
    assert matches(engine, registry, family, value) == set()


def test_an_undated_tombstone_lets_a_dated_add_in(engine: Engine, registry: SignalRegistry) -> None:
    """A deletion of an id never held, without a time, is kept (``not_held``) but stamped with
    no partner time: the partner's dated add that follows is not older than it."""
    assert run(engine, registry, "ncmec", ncmec_deleted(None)).not_held == 1
    summary = run(engine, registry, "ncmec", ncmec_image(MARCH_5))
    assert (summary.updated, summary.unchanged) == (1, 0)
    assert matches(engine, registry, "md5", MD5) == {"1-x2"}


def test_a_replayed_dated_add_does_not_revive_an_undated_deletion(
    engine: Engine, registry: SignalRegistry
) -> None:
    """Dated add, then an undated deletion, then the dated file again: the replay carries the
    partner time already applied, so it is no newer than the deletion and changes nothing."""
    run(engine, registry, "ncmec", ncmec_image(MARCH_5))
    assert run(engine, registry, "ncmec", ncmec_deleted(None)).deleted == 1
    summary = run(engine, registry, "ncmec", ncmec_image(MARCH_5))
    assert (summary.added, summary.updated, summary.unchanged) == (0, 0, 1)
    assert matches(engine, registry, "md5", MD5) == set()
    later = run(engine, registry, "ncmec", ncmec_image("2026-03-06T00:00:00Z"))
    assert later.updated == 1  # the partner's newer add does bring it back
    assert matches(engine, registry, "md5", MD5) == {"1-x2"}


@pytest.mark.parametrize("deletion_first", [True, False])
def test_at_one_partner_time_the_deletion_wins(
    engine: Engine, registry: SignalRegistry, deletion_first: bool
) -> None:
    """An add and a deletion of the same time (a window is not time-ordered): deleted, in
    either order."""
    records = [ncmec_deleted(MARCH_5), ncmec_image(MARCH_5)]
    for data in records if deletion_first else records[::-1]:
        run(engine, registry, "ncmec", data)
    assert matches(engine, registry, "md5", MD5) == set()


def test_version_7_store_keeps_its_order(tmp_path: Path, registry: SignalRegistry) -> None:
    """A store from before ``partner_at`` opens with every entry's ``updated_at`` as its
    partner time (the order it was kept in): an older record still changes nothing."""
    with Engine(tmp_path, registry) as engine:
        engine.create_bank("partner")
        run(engine, registry, "ncmec", ncmec_image(MARCH_5))
    conn = sqlite3.connect(tmp_path / "hashcore.sqlite3")
    conn.execute("ALTER TABLE entries DROP COLUMN partner_at")
    conn.execute("PRAGMA user_version=7")
    conn.commit()
    conn.close()
    with Store(tmp_path) as store:
        assert store.find_entry("partner", "1-x2") is not None
    conn = sqlite3.connect(tmp_path / "hashcore.sqlite3")
    [(partner_at, updated_at)] = conn.execute("SELECT partner_at, updated_at FROM entries")
    assert partner_at == updated_at == 1772668800.0
    conn.close()
    with Engine(tmp_path, registry) as engine:
        summary = run(engine, registry, "ncmec", ncmec_deleted("2026-03-04T00:00:00Z"))
        assert (summary.deleted, summary.unchanged) == (0, 1)
