"""Guards on withdrawals, deletions, checkpoints and the problem cap of imports (``make mutate``).

Every non-active status is a delete; a deletion of an active entry counts as deleted, one of an
unknown entry leaves a tombstone and counts as never held; a checkpoint commits with the batch
before it; the mass-delete guard refuses the batch that passes its limit, not one at the limit.
"""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from hashcore.errors import InvalidInput
from hashcore.formats import get_format, importer
from hashcore.formats.importer import ImportSummary, MassDeleteRefused, import_updates
from hashcore.formats.records import BankUpdate, Checkpoint, Op, Problem, Skip
from hashcore.model import EntryStatus
from hashcore.signals import Signal
from tests.formats_support import MemoryTarget

MD5 = Signal("md5", bytes(16))
BRIDGE_MD5 = "d35c785545392755e7e4164457657269"


def update(key: str, status: EntryStatus = EntryStatus.ACTIVE, when: float = 1) -> BankUpdate:
    return BankUpdate(key, (MD5,), status=status, updated_at=when, position=f"line {key}")


def test_every_status_but_active_is_a_delete() -> None:
    assert update("a").op is Op.UPSERT
    for status in EntryStatus:
        expected = Op.UPSERT if status is EntryStatus.ACTIVE else Op.DELETE
        assert update("a", status).op is expected, status


def test_checkpoint_text_must_be_a_json_object() -> None:
    assert Checkpoint.from_text('{"page": 2}').state == {"page": 2}
    assert Checkpoint.from_text(Checkpoint({"b": 1, "a": 2}).to_text()).state == {"a": 2, "b": 1}
    for bad in ("[1]", "3", "not json"):
        with pytest.raises(InvalidInput):
            Checkpoint.from_text(bad)


def test_problems_are_counted_past_the_kept_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importer, "MAX_PROBLEMS_KEPT", 3)
    summary = ImportSummary()
    for n in range(3):
        summary.note_problem(Problem(f"line {n}", "bad"))
    assert len(summary.problems) == 3 and not any("more problems" in x for x in summary.lines())
    summary.note_problem(Problem("line 9", "bad"))
    assert len(summary.problems) == 3 and summary.problem_count == 4
    assert "... and 1 more problems" in summary.lines()
    assert summary.skipped["malformed or unknown"] == 4
    assert importer.MAX_PROBLEMS_KEPT == 3  # (the real cap: 1000)


def test_real_problem_cap() -> None:
    summary = ImportSummary()
    for n in range(1001):
        summary.note_problem(Problem(f"line {n}", "bad"))
    assert len(summary.problems) == 1000 and summary.problem_count == 1001


def test_withdrawals_count_as_deleted_and_unknown_deletions_leave_tombstones() -> None:
    target = MemoryTarget()
    first = import_updates(target, "b", [update("a"), update("b"), update("c")])
    assert (first.added, first.deleted) == (3, 0)
    items = [
        update("a", EntryStatus.WITHDRAWN, 2),
        update("b", EntryStatus.DELETED, 2),
        update("new", EntryStatus.DELETED, 2),
        update("c", EntryStatus.ACTIVE, 2),
    ]
    summary = import_updates(target, "b", items, max_delete_fraction=None)
    counts = (summary.added, summary.updated, summary.deleted, summary.unchanged)
    assert counts == (0, 0, 2, 1) and summary.not_held == 1  # "new" was never held
    assert summary.lines()[-1].endswith("unchanged 1, deletions of entries never held 1")
    assert set(target.active("b")) == {"c"}
    assert target.entries("b")["new"].status == "deleted"  # a tombstone
    again = import_updates(target, "b", [update("new", EntryStatus.ACTIVE, 1)])
    assert again.unchanged == 1 and "new" not in target.active("b"), "an older copy stays dead"


def test_checkpoints_commit_with_their_batch_and_batches_split_at_the_size() -> None:
    target = MemoryTarget()
    items: list[Any] = [update("a"), update("b"), Checkpoint({"n": 1}), update("c")]
    items += [Skip("unsupported family x"), Problem("line 9", "bad"), update("d")]
    summary = import_updates(target, "b", items, batch_size=2, checkpoint_source="feed")
    assert summary.added == 4 and summary.batches == 3
    assert target.state["checkpoints"][("b", "feed")] == '{"n":1}'
    assert summary.checkpoint == Checkpoint({"n": 1})
    assert summary.skipped == {"unsupported family x": 1, "malformed or unknown": 1}
    assert summary.lines() == [
        "problem: line 9: bad",
        "added 4, updated 0, deleted 0, unchanged 0",
        "skipped 1: malformed or unknown",
        "skipped 1: unsupported family x",
    ]
    no_source = MemoryTarget()
    import_updates(no_source, "b", [Checkpoint({"n": 1})])
    assert no_source.commits == 0 and no_source.state["checkpoints"] == {}
    exact = MemoryTarget()
    summary = import_updates(exact, "b", [update("a"), update("b")], batch_size=2)
    assert summary.batches == 1 and exact.commits == 1
    with pytest.raises(InvalidInput):
        import_updates(MemoryTarget(), "b", [], batch_size=0)
    summary = import_updates(MemoryTarget(), "b", [update("a")], batch_size=1)
    assert summary.added == 1


def test_strict_stops_at_the_first_problem() -> None:
    target = MemoryTarget()
    with pytest.raises(InvalidInput):
        import_updates(target, "b", [update("a"), Problem("line 2", "bad")], strict=True)
    assert target.commits == 0


class Banked(MemoryTarget):
    """A target that knows its bank's active count, as the engine does."""

    def __init__(self, active: int) -> None:
        super().__init__()
        import_updates(self, "b", [update(f"e{n}") for n in range(active)])

    def get_bank(self, bank: str) -> Any:
        return type("Info", (), {"entries": len(self.active(bank))})()


def withdraw(count: int) -> list[BankUpdate]:
    return [update(f"e{n}", EntryStatus.WITHDRAWN, 5) for n in range(count)]


def test_mass_delete_guard_allows_up_to_the_limit_and_refuses_past_it() -> None:
    at_limit = Banked(10)
    summary = import_updates(at_limit, "b", withdraw(5))
    assert summary.deleted == 5 and len(at_limit.active("b")) == 5
    past = Banked(10)
    with pytest.raises(MassDeleteRefused):
        import_updates(past, "b", withdraw(6))
    assert len(past.active("b")) == 10, "the refused batch was rolled back"
    allowed = Banked(10)
    assert import_updates(allowed, "b", withdraw(10), max_delete_fraction=None).deleted == 10
    small = Banked(9)  # under MASS_DELETE_MIN_ENTRIES: not guarded
    assert import_updates(small, "b", withdraw(9)).deleted == 9


def test_mass_delete_guard_adds_up_across_batches_and_ignores_unknown_ids() -> None:
    target = Banked(10)
    items = [*withdraw(5), update("zz", EntryStatus.DELETED, 5)]
    summary = import_updates(target, "b", items, batch_size=3)
    assert summary.deleted == 5 and summary.not_held == 1 and summary.unchanged == 0
    target = Banked(10)
    with pytest.raises(MassDeleteRefused):
        import_updates(target, "b", withdraw(6), batch_size=3)
    assert len(target.active("b")) == 7, "the first batch of three was committed"


# -- each parser's own statuses --------------------------------------------------------------


def parsed(registry: Any, fmt: str, document: object) -> dict[str, BankUpdate]:
    data = json.dumps(document).encode()
    items = get_format(fmt, registry).read(io.BytesIO(data))
    return {i.external_id: i for i in items if isinstance(i, BankUpdate)}


@pytest.mark.parametrize(
    ("deleted", "status"),
    [
        (True, EntryStatus.DELETED),
        ("true", EntryStatus.DELETED),
        (False, EntryStatus.ACTIVE),
        ("false", EntryStatus.ACTIVE),
        (None, EntryStatus.ACTIVE),
    ],
)
def test_tat_deleted_flag(registry: Any, deleted: object, status: EntryStatus) -> None:
    entry = {"id": 7, "algorithm": "MD5", "hash_digest": BRIDGE_MD5, "deleted": deleted}
    [found] = parsed(registry, "tat", [entry]).values()
    assert found.status is status and found.op is (
        Op.DELETE if deleted in (True, "true") else Op.UPSERT
    )


def te_item(key: str, statuses: list[str], should_delete: object = False) -> dict[str, Any]:
    return {
        "id": key,
        "indicator": BRIDGE_MD5,
        "type": "HASH_MD5",
        "last_updated": 1772445000,
        "should_delete": should_delete,
        "descriptors": {"data": [{"status": s, "tags": []} for s in statuses]},
    }


def test_threatexchange_deletes_withdraws_and_keeps() -> None:
    from hashcore.registry import load_registry

    found = parsed(
        load_registry(),
        "threatexchange",
        {
            "data": [
                te_item("del", ["MALICIOUS"], should_delete=True),
                te_item("str", ["MALICIOUS"], should_delete="true"),
                te_item("empty", []),
                te_item("neg", ["NON_MALICIOUS"]),
                te_item("mixed", ["NON_MALICIOUS", "MALICIOUS"]),
                te_item("other", ["UNKNOWN"]),
                te_item("pos", ["MALICIOUS"]),
            ]
        },
    )
    status = {key: update.status for key, update in found.items()}
    assert status == {
        "del": EntryStatus.DELETED,
        "str": EntryStatus.ACTIVE,  # only the boolean deletes
        "empty": EntryStatus.DELETED,
        "neg": EntryStatus.WITHDRAWN,
        "mixed": EntryStatus.ACTIVE,
        "other": EntryStatus.ACTIVE,
        "pos": EntryStatus.ACTIVE,
    }


class Refusing(MemoryTarget):
    """A store that refuses the record ``bad`` (as the engine refuses a malformed value)."""

    def batch(self, *, catch_up: bool = True) -> Any:
        outer = super().batch(catch_up=catch_up)

        class Writer:
            def __enter__(self) -> Any:
                inner = outer.__enter__()
                upsert = inner.upsert_entries

                def upsert_entries(bank: str, updates: Any) -> list[Any]:
                    good = [u for u in updates if u.external_id != "bad"]
                    done = iter(upsert(bank, good))
                    return [
                        InvalidInput("refused value") if u.external_id == "bad" else next(done)
                        for u in updates
                    ]

                inner.upsert_entries = upsert_entries
                return inner

            def __exit__(self, *exc: Any) -> Any:
                return outer.__exit__(*exc)

        return Writer()


def test_refused_records_are_problems_and_progress_counts_updates() -> None:
    ticks: list[int] = []
    ticker = type("T", (), {"advance": lambda _, n=1: ticks.append(n)})()
    bad = BankUpdate("bad", (MD5,), position="")
    summary = import_updates(Refusing(), "b", [update("a"), bad, update("c")], progress=ticker)
    assert (summary.added, summary.unchanged, summary.problem_count) == (2, 0, 1)
    assert summary.problems == [Problem("bad", "refused value")]
    assert ticks == [3]
    with pytest.raises(InvalidInput, match="--strict"):
        import_updates(Refusing(), "b", [bad], strict=True)


# -- fetch windows: the checkpoint never skips an entry --------------------------------------


def ncmec_page(stamps: list[str], next_link: str | None) -> bytes:
    entries = "".join(
        f"<image><member id='5'>M</member><timestamp>{stamp}</timestamp>"
        f"<id>e{n}-{stamp}</id><fingerprints><md5>{BRIDGE_MD5}</md5></fingerprints></image>"
        for n, stamp in enumerate(stamps)
    )
    paging = f"<paging><next>{next_link}</next></paging>" if next_link else ""
    return f"<queryResult><images>{entries}</images>{paging}</queryResult>".encode()


class Pages:
    """An HttpClient stand-in: the pages in order, and the URLs asked for."""

    def __init__(self, *pages: bytes) -> None:
        self.pages = list(pages)
        self.urls: list[str] = []

    def get(self, url: str, accept: str | None = None) -> bytes:
        self.urls.append(url)
        return self.pages.pop(0)


def checkpoints(items: list[Any]) -> list[dict[str, Any]]:
    return [dict(i.state) for i in items if isinstance(i, Checkpoint)]


def test_ncmec_window_checkpoint_is_the_newest_entry_of_the_whole_window(registry: Any) -> None:
    fmt = get_format("ncmec", registry)
    client = Pages(
        ncmec_page(["2026-03-02T00:00:00Z", "2026-03-03T00:00:00Z"], "/v2/entries?start=2"),
        ncmec_page(["2026-03-01T00:00:00Z"], None),  # entries are not time-ordered
    )
    items = list(fmt.fetch(client, "https://h.example", None))  # type: ignore[arg-type]
    first, last = checkpoints(items)
    assert first["next"] == "/v2/entries?start=2" and first["page"] == 2
    assert first["from"] == "2000-01-01T00:00:00Z" and first["max"] is not None
    assert last == {"from": "2026-03-03T00:00:00Z"}
    assert "from=2000-01-01T00%3A00%3A00Z" in client.urls[0] or "2000-01-01" in client.urls[0]
    assert "size=" not in client.urls[0]
    assert client.urls[1] == "https://h.example/v2/entries?start=2"
    # Resuming at the second page keeps the window's newest time seen on the first.
    again = Pages(ncmec_page(["2026-03-01T00:00:00Z"], None))
    resumed = list(fmt.fetch(again, "https://h.example", Checkpoint(first)))  # type: ignore[arg-type]
    assert again.urls == ["https://h.example/v2/entries?start=2"]
    assert checkpoints(resumed) == [{"from": "2026-03-03T00:00:00Z"}]
    assert any("page 2" in i.position for i in resumed if isinstance(i, BankUpdate))


def test_ncmec_empty_window_keeps_its_start_and_page_size_is_passed(registry: Any) -> None:
    fmt = get_format("ncmec", registry, {"page_size": 5})
    client = Pages(ncmec_page([], None))
    state = {"from": "2026-01-01T00:00:00Z", "to": "2026-02-01T00:00:00Z"}
    items = list(fmt.fetch(client, "https://h.example", Checkpoint(state)))  # type: ignore[arg-type]
    assert checkpoints(items) == [{"from": "2026-01-01T00:00:00Z"}]
    assert "size=5" in client.urls[0] and "2026-02-01" in client.urls[0]
    default = get_format("ncmec", registry, {"page_size": 1000})
    plain = Pages(ncmec_page([], None))
    list(default.fetch(plain, "https://h.example", None))  # type: ignore[arg-type]
    assert "size=" not in plain.urls[0]
