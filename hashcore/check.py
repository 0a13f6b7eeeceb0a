"""``hashcore check``: verify a store and its indexes, and rebuild what is derived.

The store is the system of record: banks, entries and their signals. Everything else is derived
from it and can be rebuilt: ``bank_counts`` (a recount of active entries and their signals),
``signal_values.refs`` (active entries carrying each value), the change log's final state (a value
is live exactly while ``refs > 0``) and the indexes with their snapshots. A check compares each
derived thing with a recount, and each index with the store's live values; ``repair`` rewrites
the derived data and then checks again. What cannot be derived (a corrupt SQLite file, duplicate
keys) is reported and left alone.

A change log with holes (a lost row) cannot be mended in place: repair appends the changes that
bring every value to its live state, records the last sequence number as the log's new base
(``meta.changes_base``: holes at or before it are history) and gives the store a new id, so every
snapshot built from the old log is refused and rebuilt rather than trusted.
"""

from __future__ import annotations

import itertools
import sqlite3
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from hashcore.errors import HashcoreError, keep_first
from hashcore.opinions.book import standing_exceptions
from hashcore.registry import SignalRegistry
from hashcore.signals import Metric, SignalType
from hashcore.snapshots import (
    INDEX_DIR,
    IndexState,
    digest_problem,
    manifest_problem,
    read_manifest,
    replay,
    snapshot_dir,
)
from hashcore.store import Store
from hashcore.store.schema import FAMILY_RECOUNT_SQL, RECOUNT_SQL, connect
from hashcore.store.store import INDEX_DIR as INDEXES

if TYPE_CHECKING:
    from hashcore.engine import Engine

EXIT_OK = 0
EXIT_INCONSISTENT = 1
EXIT_ERROR = 2
EXAMPLES = 5
"""Problems quoted per check; the rest are counted."""
LOG_BASE = "changes_base"
"""``meta`` key: the sequence number up to which the change log is history (see the module)."""
VERIFY_BATCH = 20_000
"""Values searched per index call when verifying that the index holds each live value."""

STORE_CHECKS = (
    "integrity", "unique", "bank_counts", "family_counts", "refs", "changes", "exceptions",
)  # fmt: skip


@dataclass
class CheckResult:
    """One check: its problems (counted, a few quoted) and a line about what was checked."""

    name: str
    problems: int = 0
    examples: list[str] = field(default_factory=list)
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.problems == 0

    def problem(self, text: str, count: int = 1) -> None:
        self.problems += count
        keep_first(self.examples, text, EXAMPLES)

    def to_json(self) -> dict[str, Any]:
        fields = asdict(self)
        return {"name": fields.pop("name"), "ok": self.ok, **fields}


@dataclass
class CheckReport:
    """Every check's result; with a repair, also the first pass and what was rebuilt."""

    results: list[CheckResult]
    seconds: float = 0.0
    repaired: list[str] = field(default_factory=list)
    before_repair: list[CheckResult] | None = None

    @property
    def ok(self) -> bool:
        return all(result.ok for result in self.results)

    @property
    def exit_code(self) -> int:
        return EXIT_OK if self.ok else EXIT_INCONSISTENT

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "ok": self.ok,
            "seconds": round(self.seconds, 3),
            "checks": [result.to_json() for result in self.results],
        }
        if self.before_repair is not None:
            data["before_repair"] = [result.to_json() for result in self.before_repair]
            data["repaired"] = list(self.repaired)
        return data

    def lines(self) -> list[str]:
        """The human summary: one line per check, its examples indented under it."""
        out = []
        if self.before_repair is not None:
            bad = [r for r in self.before_repair if not r.ok]
            out.append(
                "before repair: "
                + (", ".join(f"{r.name} ({r.problems})" for r in bad) if bad else "consistent")
            )
            out.append("repaired: " + (", ".join(self.repaired) or "nothing"))
        for result in self.results:
            state = "ok" if result.ok else f"{result.problems} problem(s)"
            detail = f" ({result.detail})" if result.detail else ""
            out.append(f"{result.name}: {state}{detail}")
            out.extend(f"  - {example}" for example in result.examples)
        verdict = "consistent" if self.ok else "INCONSISTENT"
        out.append(f"{verdict} ({self.seconds:.1f}s)")
        return out


# Entry points


def check_store_dir(
    store_dir: Path, registry: SignalRegistry, *, repair: bool = False
) -> CheckReport:
    """Check the store in ``store_dir`` and its index snapshots; with ``repair``, rebuild what
    is derived and check again. No server may be using the store while it is repaired (use the
    server's ``Check`` call instead: it repairs its loaded indexes too)."""
    from hashcore.engine import Engine
    from hashcore.store.store import DB_NAME, lost_database

    started = time.monotonic()
    lost = lost_database(Path(store_dir))
    if lost:
        raise HashcoreError(lost)
    if not (Path(store_dir) / DB_NAME).is_file():
        raise HashcoreError(f"no store in {store_dir} (no {DB_NAME})")
    root = Path(store_dir) / INDEXES
    with Store(store_dir) as store:
        results = _check_all(store, registry, root, None)
    if not repair:
        return CheckReport(results, time.monotonic() - started)
    first = results
    repaired = repair_store(Path(store_dir) / DB_NAME, first)
    stale = [r.name.partition(":")[2] for r in first if r.name.startswith("index:") and not r.ok]
    if "changes" in repaired:
        stale = [signal_type.name for signal_type in registry]
    _remove_leftovers(root)
    for family in stale:
        _remove_snapshot(root, family)
    if stale or repaired:
        with Engine(store_dir, registry) as engine:
            engine.compact()  # rebuilt indexes are written as snapshots
        repaired += [f"index:{family}" for family in stale]
    with Store(store_dir) as store:
        results = _check_all(store, registry, root, None)
    return CheckReport(results, time.monotonic() - started, repaired, first)


def check_engine(engine: Engine, *, repair: bool = False) -> CheckReport:
    """Check a running engine's store, snapshots and loaded indexes (the server's ``Check``);
    with ``repair``, rebuild what is derived, the loaded indexes too, and check again."""
    started = time.monotonic()
    root = engine.store_dir / INDEXES
    with engine.indexes.quiesced() as states:
        results = _check_all(engine.store, engine.registry, root, states)
    if not repair:
        return CheckReport(results, time.monotonic() - started)
    first = results
    repaired = repair_store(engine.store.path, first)
    if repaired:
        engine.store.store_id = read_store_id(engine.store.path)
    stale = {r.name.partition(":")[2] for r in first if r.name.partition(":")[0] in _INDEX_KINDS}
    stale.discard("")
    if "changes" in repaired or "refs" in repaired:
        stale = {signal_type.name for signal_type in engine.registry}
    _remove_leftovers(root)
    if stale:
        engine.indexes.rebuild(sorted(stale))
        repaired += [f"index:{family}" for family in sorted(stale)]
    with engine.indexes.quiesced() as states:
        results = _check_all(engine.store, engine.registry, root, states)
    return CheckReport(results, time.monotonic() - started, repaired, first)


_INDEX_KINDS = ("index", "loaded")


def _check_all(
    store: Store,
    registry: SignalRegistry,
    root: Path,
    loaded: Mapping[str, IndexState] | None,
) -> list[CheckResult]:
    results = check_store(store.path)
    for signal_type in registry:
        results.append(check_snapshot(store, signal_type, root))
        if loaded is not None and signal_type.name in loaded:
            result = CheckResult(f"loaded:{signal_type.name}")
            state = loaded[signal_type.name]
            compare_index(store.path, signal_type, state.index, state.seq, result)
            results.append(result)
    return results


# The store


@contextmanager
def _reading(path: Path) -> Iterator[sqlite3.Connection]:
    """A connection of our own in one read transaction: every count from the same moment."""
    conn = connect(str(path))
    try:
        conn.execute("BEGIN")
        try:
            yield conn
        finally:
            conn.execute("COMMIT")
    finally:
        conn.close()


def check_store(path: Path) -> list[CheckResult]:
    """The store's own checks (see :data:`STORE_CHECKS`), read in one transaction."""
    with _reading(path) as conn:
        return [
            _check_integrity(conn),
            _check_unique(conn),
            _check_bank_counts(conn),
            _check_family_counts(conn),
            _check_refs(conn),
            _check_changes(conn)[0],
            _check_exceptions(conn),
        ]


def _check_integrity(conn: sqlite3.Connection) -> CheckResult:
    result = CheckResult("integrity", detail="PRAGMA integrity_check, foreign_key_check")
    rows = [str(row[0]) for row in conn.execute("PRAGMA integrity_check")]
    if rows != ["ok"]:
        for row in rows:
            result.problem(row)
    for table, rowid, parent, _ in conn.execute("PRAGMA foreign_key_check"):
        result.problem(f"{table} row {rowid} points to a missing {parent} row")
    return result


def _check_unique(conn: sqlite3.Connection) -> CheckResult:
    result = CheckResult("unique", detail="entry ids, (bank, external id), bank names, values")
    queries = (
        ("entry id", "SELECT id, COUNT(*) FROM entries GROUP BY id HAVING COUNT(*) > 1"),
        (
            "(bank, external id)",
            "SELECT bank_id || '/' || external_id, COUNT(*) FROM entries"
            " GROUP BY bank_id, external_id HAVING COUNT(*) > 1",
        ),
        ("bank name", "SELECT name, COUNT(*) FROM banks GROUP BY name HAVING COUNT(*) > 1"),
        (
            "value",
            "SELECT family || ':' || hex(value), COUNT(*) FROM signal_values"
            " GROUP BY family, value HAVING COUNT(*) > 1",
        ),
    )
    for what, sql in queries:
        for key, count in conn.execute(sql):
            result.problem(f"{what} {key} appears {count} times")
    return result


def _check_bank_counts(conn: sqlite3.Connection) -> CheckResult:
    stored = {
        (b, f): c for b, f, c in conn.execute("SELECT bank_id, family, count FROM bank_counts")
    }
    counted = {(b, f): c for b, f, c in conn.execute(RECOUNT_SQL)}
    names = dict(conn.execute("SELECT id, name FROM banks").fetchall())
    result = CheckResult("bank_counts", detail=f"{len(names)} banks recounted")
    for key in sorted(stored.keys() | counted.keys()):
        have, want = stored.get(key, 0), counted.get(key, 0)
        if have != want:
            bank, family = key
            what = f"{family} signals" if family else "entries"
            result.problem(f"bank {names.get(bank, bank)!r}: {what} {have}, recount {want}")
    return result


def _check_family_counts(conn: sqlite3.Connection) -> CheckResult:
    stored = dict(conn.execute("SELECT family, live FROM family_counts").fetchall())
    counted = dict(conn.execute(FAMILY_RECOUNT_SQL).fetchall())
    result = CheckResult("family_counts", detail=f"{len(counted)} families recounted")
    for family in sorted(stored.keys() | counted.keys()):
        have, want = stored.get(family, 0), counted.get(family, 0)
        if have != want:
            result.problem(f"family {family}: {have} live values, recount {want}")
    return result


_REFS_SQL = """
SELECT v.id, v.family, v.refs, COALESCE(c.n, 0) FROM signal_values v
LEFT JOIN (
    SELECT s.value_id AS id, COUNT(*) AS n FROM entry_signals s
    JOIN entries e ON e.id = s.entry_id WHERE e.status = 'active' GROUP BY s.value_id
) c ON c.id = v.id
WHERE v.refs != COALESCE(c.n, 0)
"""


def _check_refs(conn: sqlite3.Connection) -> CheckResult:
    total = conn.execute("SELECT COUNT(*) FROM signal_values").fetchone()[0]
    result = CheckResult("refs", detail=f"{total} values recounted")
    for value_id, family, refs, count in conn.execute(_REFS_SQL):
        result.problem(f"value {value_id} ({family}): refs {refs}, active entries {count}")
    return result


_LOCAL_OPINIONS_SQL = (
    "SELECT entry_id, author, id, kind, hashes FROM opinions WHERE origin = ''"
    " ORDER BY entry_id, author, created_at DESC, id DESC"
)


def _expected_exceptions(conn: sqlite3.Connection) -> set[tuple[int, str, bytes, int]]:
    """``match_exceptions`` as the opinions make it (:func:`~hashcore.opinions.book.
    standing_exceptions` of each author's history on each entry)."""
    expected = set()
    rows = conn.execute(_LOCAL_OPINIONS_SQL)
    for (entry_id, _), history in itertools.groupby(rows, key=lambda row: row[:2]):
        for opinion_id, family, value in standing_exceptions(row[2:] for row in history):
            expected.add((entry_id, family, value, opinion_id))
    return expected


def _check_exceptions(conn: sqlite3.Connection) -> CheckResult:
    """The false-positive exception list against the opinions it is derived from: a lost row
    lets a match the analyst set aside come back; a stray one hides a real match."""
    expected = _expected_exceptions(conn)
    stored = set(conn.execute("SELECT entry_id, family, value, opinion_id FROM match_exceptions"))
    result = CheckResult("exceptions", detail=f"{len(expected)} exceptions from the opinions")
    for entry_id, family, _, opinion_id in sorted(expected - stored):
        result.problem(f"entry {entry_id}: opinion {opinion_id}'s {family} exception missing")
    for entry_id, family, _, opinion_id in sorted(stored - expected):
        result.problem(f"entry {entry_id}: {family} exception of opinion {opinion_id} stray")
    return result


def _log_base(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (LOG_BASE,)).fetchone()
    return int(row[0]) if row else 0


def _check_changes(
    conn: sqlite3.Connection,
) -> tuple[CheckResult, list[tuple[str, int, str]], bool]:
    """The change log against itself and ``refs``; also the changes that would bring every
    value to its live state, and whether the log's history is broken (holes, repeated ops)."""
    base = _log_base(conn)
    values = {
        value_id: (family, refs > 0)
        for value_id, family, refs in conn.execute("SELECT id, family, refs FROM signal_values")
    }
    state: dict[int, str] = {}
    result = CheckResult("changes")
    broken = False
    expected = base + 1
    rows = 0
    last = 0
    for seq, family, value_id, op in conn.execute(
        "SELECT seq, family, value_id, op FROM changes ORDER BY seq"
    ):
        rows += 1
        last = seq
        before = state.get(value_id)
        state[value_id] = op
        if seq <= base:
            continue
        if seq != expected:
            broken = True
            result.problem(f"changes {expected}..{seq - 1} are missing", seq - expected)
        expected = seq + 1
        known = values.get(value_id)
        if known is None:
            result.problem(f"change {seq} names value {value_id}, which does not exist")
        elif known[0] != family:
            result.problem(f"change {seq} files value {value_id} ({known[0]}) under {family}")
        if before == op or (before is None and op == "remove"):
            broken = True
            result.problem(f"change {seq}: {op} of value {value_id} follows {before or 'nothing'}")
    top = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'changes'").fetchone()
    if top is not None and int(top[0]) > max(last, base):
        broken = True
        result.problem(f"changes {max(last, base) + 1}..{top[0]} (the last) are missing")
    fixes: list[tuple[str, int, str]] = []
    for value_id, (family, live) in values.items():
        logged = state.get(value_id) == "add"
        if logged != live:
            fixes.append((family, value_id, "add" if live else "remove"))
            result.problem(
                f"value {value_id} ({family}) is {'live' if live else 'dead'} but the log"
                f" leaves it {'in' if logged else 'out of'} the index"
            )
    result.detail = f"{rows} changes, {len(values)} values" + (f", base {base}" if base else "")
    return result, sorted(fixes, key=lambda fix: fix[1]), broken


def read_store_id(path: Path) -> str:
    with _reading(path) as conn:
        return str(conn.execute("SELECT value FROM meta WHERE key = 'store_id'").fetchone()[0])


def repair_store(path: Path, results: Sequence[CheckResult]) -> list[str]:
    """Rewrite the derived data the failed ``results`` name, in one write transaction; what
    was repaired (``bank_counts``, ``family_counts``, ``refs``, ``changes``, ``exceptions``)."""
    failed = {result.name for result in results if not result.ok}
    wanted = failed & {"bank_counts", "family_counts", "refs", "changes", "exceptions"}
    if not wanted:
        return []
    repaired = []
    conn = connect(str(path))
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            if not _check_refs(conn).ok:
                conn.execute(
                    "UPDATE signal_values SET refs = (SELECT COUNT(*) FROM entry_signals s"
                    " JOIN entries e ON e.id = s.entry_id"
                    " WHERE s.value_id = signal_values.id AND e.status = 'active')"
                    " WHERE refs != (SELECT COUNT(*) FROM entry_signals s"
                    " JOIN entries e ON e.id = s.entry_id"
                    " WHERE s.value_id = signal_values.id AND e.status = 'active')"
                )
                repaired.append("refs")
            if not _check_bank_counts(conn).ok:
                conn.execute("DELETE FROM bank_counts")
                conn.execute(f"INSERT INTO bank_counts (bank_id, family, count) {RECOUNT_SQL}")
                repaired.append("bank_counts")
            if not _check_family_counts(conn).ok:
                conn.execute("DELETE FROM family_counts")
                conn.execute(f"INSERT INTO family_counts (family, live) {FAMILY_RECOUNT_SQL}")
                repaired.append("family_counts")
            log, fixes, broken = _check_changes(conn)
            if not log.ok:
                now = time.time()
                conn.executemany(
                    "INSERT INTO changes (family, value_id, op, ts) VALUES (?, ?, ?, ?)",
                    [(family, value_id, op, now) for family, value_id, op in fixes],
                )
                if broken:
                    top = conn.execute(
                        "SELECT seq FROM sqlite_sequence WHERE name = 'changes'"
                    ).fetchone()
                    conn.execute(
                        "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                        (LOG_BASE, str(int(top[0]) if top else 0)),
                    )
                    conn.execute(
                        "UPDATE meta SET value = ? WHERE key = 'store_id'", (uuid.uuid4().hex,)
                    )
                repaired.append("changes")
            if not _check_exceptions(conn).ok:
                conn.execute("DELETE FROM match_exceptions")
                conn.executemany(
                    "INSERT INTO match_exceptions (entry_id, family, value, opinion_id)"
                    " VALUES (?, ?, ?, ?)",
                    sorted(_expected_exceptions(conn)),
                )
                repaired.append("exceptions")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    finally:
        conn.close()
    return repaired


# Indexes


def check_snapshot(store: Store, signal_type: SignalType, root: Path) -> CheckResult:
    """The family's snapshot on disk: manifest, file digests, load, then (after replaying the
    later changes, as opening does) its values against the store's."""
    family = signal_type.name
    result = CheckResult(f"index:{family}")
    directory = snapshot_dir(root, family)
    if not directory.exists():
        result.detail = "no snapshot: rebuilt from the store when opened"
        return result
    try:
        manifest = read_manifest(directory)
    except (OSError, ValueError) as error:
        result.problem(f"unreadable manifest: {error}")
        return result
    seq = store.last_seq()
    problem = manifest_problem(manifest, family, store.store_id, seq)
    if problem is None:
        problem = digest_problem(manifest, directory / INDEX_DIR)
    if problem is not None:
        result.problem(f"snapshot refused: {problem}")
        return result
    from hashcore.index.factory import load_index

    try:
        index = load_index(signal_type, directory / INDEX_DIR)
    except Exception as error:  # noqa: BLE001 - whatever fails to load is the finding
        result.problem(f"snapshot does not load: {error}")
        return result
    if len(index) != manifest["count"]:
        result.problem(f"snapshot holds {len(index)} values, its manifest says {manifest['count']}")
    state = IndexState(family, index, int(manifest["seq"]), "snapshot")
    replay(state, store, seq)
    compare_index(store.path, signal_type, state.index, state.seq, result)
    digests = "sha256 verified" if "files" in manifest else "no digests (older snapshot)"
    result.detail = f"snapshot at seq {manifest['seq']}, {digests}; {result.detail}"
    return result


def compare_index(path: Path, signal_type: Any, index: Any, seq: int, result: CheckResult) -> None:
    """``index`` (current to ``seq``) against the store's live values of its family.

    Values the log changed after ``seq`` (written while we looked) are left out. Every other
    live value must be in the index under its id (and, for Hamming and exact families, be
    found by searching for it); nothing else may be.
    """
    family = signal_type.name
    with _reading(path) as conn:
        touched = np.fromiter(
            (
                row[0]
                for row in conn.execute(
                    "SELECT DISTINCT value_id FROM changes WHERE family = ? AND seq > ?",
                    (family, seq),
                )
            ),
            np.int64,
        )
        ids_list: list[int] = []
        values: list[bytes] = []
        for value_id, value in conn.execute(
            "SELECT id, value FROM signal_values WHERE family = ? AND refs > 0 ORDER BY id",
            (family,),
        ):
            ids_list.append(value_id)
            values.append(bytes(value))
    live = np.asarray(ids_list, np.int64)
    try:
        present: npt.NDArray[np.int64] = np.asarray(index.value_ids(), np.int64)
    except NotImplementedError:
        if len(index) != live.shape[0]:
            result.problem(f"index holds {len(index)} values, the store {live.shape[0]} live")
        result.detail = f"{live.shape[0]} live values (count only)"
        return
    missing = np.setdiff1d(np.setdiff1d(live, present), touched)
    dead = np.setdiff1d(np.setdiff1d(present, live), touched)
    for value_id in missing.tolist()[:EXAMPLES]:
        result.problem(f"live value {value_id} is not in the index")
    if missing.shape[0] > EXAMPLES:
        result.problems += int(missing.shape[0]) - EXAMPLES
    for value_id in dead.tolist()[:EXAMPLES]:
        result.problem(f"value {value_id} is in the index but not live in the store")
    if dead.shape[0] > EXAMPLES:
        result.problems += int(dead.shape[0]) - EXAMPLES
    verified = 0
    if signal_type.metric in (Metric.HAMMING, Metric.EXACT):
        keep = np.isin(live, present) & ~np.isin(live, touched)
        chosen = np.flatnonzero(keep).tolist()
        for start in range(0, len(chosen), VERIFY_BATCH):
            rows = chosen[start : start + VERIFY_BATCH]
            hits = index.search([values[row] for row in rows], 0)
            for row, found in zip(rows, hits, strict=True):
                value_id = ids_list[row]
                if all(hit.value_id != value_id for hit in found):
                    result.problem(f"value {value_id} is in the index under another hash")
            verified += len(rows)
    if signal_type.metric in (Metric.HAMMING, Metric.EXACT):
        result.detail = f"{live.shape[0]} live values, {verified} found by search"
    else:  # a similarity index has no distance-0 search to find a value by: ids checked only
        result.detail = f"{live.shape[0]} live values (ids checked; no exact search for scores)"


def _remove_snapshot(root: Path, family: str) -> None:
    import shutil

    shutil.rmtree(snapshot_dir(root, family), ignore_errors=True)


def _remove_leftovers(root: Path) -> None:
    """Temporary directories of snapshot writes that were interrupted."""
    import shutil

    if root.is_dir():
        for path in root.iterdir():
            if path.name.startswith(".") and path.is_dir():
                shutil.rmtree(path, ignore_errors=True)


# The wire form (the server's Banks.Check)


def report_to_pb(report: CheckReport) -> Any:
    """A :class:`CheckReport` as a ``CheckResponse`` message."""
    from hashcore.api.v1 import hashcore_pb2 as pb

    def result(item: CheckResult) -> Any:
        return pb.CheckResult(
            name=item.name, problems=item.problems, examples=item.examples, detail=item.detail
        )

    return pb.CheckResponse(
        ok=report.ok,
        results=[result(item) for item in report.results],
        before_repair=[result(item) for item in report.before_repair or []],
        repaired=report.repaired,
        seconds=report.seconds,
        repair=report.before_repair is not None,
    )


def report_from_pb(message: Any) -> CheckReport:
    def result(item: Any) -> CheckResult:
        return CheckResult(item.name, int(item.problems), list(item.examples), item.detail)

    return CheckReport(
        [result(item) for item in message.results],
        float(message.seconds),
        list(message.repaired),
        [result(item) for item in message.before_repair] if message.repair else None,
    )
