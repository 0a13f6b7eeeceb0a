"""Applying a format's update stream to an engine, in atomic batches with the checkpoint.

Updates are buffered and written ``batch_size`` at a time in one transaction (one
``upsert_entries`` call: a few statements per batch, not a dozen per record); a checkpoint from
the format closes the batch it ends and is stored in the same transaction, so a crash or a
network failure half-way leaves the store at the last committed checkpoint and a restart
resumes from there. Upserts are keyed by external id and idempotent, so replaying the part of a
window after the last checkpoint adds nothing twice. The indexes catch up once, at the end (a
lookup meanwhile catches up by itself), so a large import rebuilds them instead of replaying
every change. A strict file import instead writes all its batches in one transaction
(``all_or_nothing``): it is read once, and nothing is committed unless all of it is valid.

This is a plain function so the CLI and the gRPC server share it.
"""

from __future__ import annotations

import gc
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from hashcore.errors import HashcoreError, InvalidInput, StoreError, keep_first
from hashcore.formats.columns import UpdateColumns
from hashcore.formats.records import BankUpdate, Checkpoint, Item, Problem, Skip
from hashcore.model import EntryStatus, Ticker
from hashcore.opinions.book import record_imported as record_opinions

BATCH_SIZE = 20_000
"""Updates per transaction: 1M hashed records took 85 s at 1,000, 73 s at 5,000 (fewer commits
and WAL checkpoints), and 1M NCMEC records 62.2 s at 5,000, 59.4 s at 20,000, 60.6 s at 50,000;
a transaction of 20,000 holds the write lock for about a second."""
GC_YOUNG_THRESHOLD = 20_000
"""Container allocations between young garbage-collector passes during an import (default 700)."""
MAX_PROBLEMS_KEPT = 1000
"""Problems beyond this are counted, not kept, so a broken million-line file stays cheap."""
MAX_DELETE_FRACTION = 0.5
"""An import may delete or withdraw at most this fraction of a bank's active entries unless
told it may (``--allow-mass-delete``): a broken or hostile feed must not empty a bank."""
MASS_DELETE_MIN_ENTRIES = 10
"""Banks with fewer active entries than this are not guarded (withdrawing the one entry of a
one-entry bank is an ordinary withdrawal)."""


class MassDeleteRefused(InvalidInput):
    """The feed would delete or withdraw too much of the bank; its batch was rolled back."""


class Writer(Protocol):
    """The transaction-bound write API the importer needs (``hashcore.store.StoreWriter``)."""

    def upsert_entries(
        self, bank: str, updates: Sequence[BankUpdate]
    ) -> Sequence[str | InvalidInput]:
        """Per update, in order: its outcome (``added``, ``updated``, ``unchanged``) or why it
        was refused; the same as upserting the records one by one. The importer passes
        :class:`UpdateColumns`, which the store writes from its columns."""
        ...

    def get_checkpoint(self, bank: str, source: str) -> str | None: ...

    def set_checkpoint(self, bank: str, source: str, value: str) -> None: ...


class Target(Protocol):
    """What an import writes to: an engine (``Engine.batch``) or anything shaped like one."""

    def batch(self, *, catch_up: bool = True) -> AbstractContextManager[Any]: ...

    def catch_up(self) -> None: ...


@dataclass
class ImportSummary:
    """What an import did. ``deleted`` counts deletions and withdrawals that changed an entry;
    ``not_held`` those of entries the bank never held (a feed's history replayed from its start)."""

    added: int = 0
    updated: int = 0
    deleted: int = 0
    unchanged: int = 0
    not_held: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    problems: list[Problem] = field(default_factory=list)
    problem_count: int = 0
    checkpoint: Checkpoint | None = None
    batches: int = 0
    delete_limit: int | None = None
    """Deletions of active entries this import may make (None: unguarded)."""
    active_deleted: int = 0

    @property
    def records(self) -> int:
        return self.added + self.updated + self.deleted + self.unchanged + self.not_held

    def note_problem(self, problem: Problem) -> None:
        self.problem_count += 1
        self.skipped["malformed or unknown"] += 1
        keep_first(self.problems, problem, MAX_PROBLEMS_KEPT)

    def as_dict(self) -> dict[str, Any]:
        return {
            "added": self.added,
            "updated": self.updated,
            "deleted": self.deleted,
            "unchanged": self.unchanged,
            "not_held": self.not_held,
            "skipped": dict(sorted(self.skipped.items())),
            "problems": self.problem_count,
        }

    def lines(self) -> list[str]:
        """A human summary; problems first (with positions), then the counts."""
        out = [f"problem: {p}" for p in self.problems]
        if self.problem_count > len(self.problems):
            out.append(f"... and {self.problem_count - len(self.problems)} more problems")
        out.append(
            f"added {self.added}, updated {self.updated}, deleted {self.deleted}, "
            f"unchanged {self.unchanged}"
            + (f", deletions of entries never held {self.not_held}" if self.not_held else "")
        )
        out.extend(f"skipped {n}: {reason}" for reason, n in sorted(self.skipped.items()))
        return out


def import_updates(
    engine: Target,
    bank: str,
    source: Iterable[Item | UpdateColumns],
    *,
    strict: bool = False,
    progress: Ticker | None = None,
    batch_size: int = BATCH_SIZE,
    checkpoint_source: str | None = None,
    max_delete_fraction: float | None = MAX_DELETE_FRACTION,
    all_or_nothing: bool = False,
    prepare: Callable[[Writer], object] | None = None,
) -> ImportSummary:
    """Apply ``source`` to ``bank``; checkpoints go under ``checkpoint_source`` if given.
    ``source`` may carry runs of updates as :class:`UpdateColumns` (as ``read_feed`` gives them).

    ``strict`` raises :class:`InvalidInput` at the first problem; the batch in progress is
    dropped (batches committed before it stay: they were valid and re-applying them is a no-op).

    ``all_or_nothing`` writes every batch in one transaction, committed at the end: with
    ``strict``, a file import then commits nothing unless the whole file is valid, reading it
    once (a problem raises :class:`StrictProblem`). The write lock is held meanwhile, and a
    killed import leaves nothing to resume from: it starts again. ``prepare`` is called with
    that transaction's writer first (``hashcore bank import --create --strict`` creates the bank
    there, so a refused file leaves no empty bank behind).

    The batch that would take the import's deletions and withdrawals of active entries past
    ``max_delete_fraction`` of the bank's active entries (counted before the import) is rolled
    back and :class:`MassDeleteRefused` raised; ``None`` turns the guard off.
    """
    if batch_size < 1:
        raise InvalidInput("batch size must be at least 1", field="batch_size")
    summary = ImportSummary()
    summary.delete_limit = _delete_limit(engine, bank, max_delete_fraction)
    run = _Run(engine, bank, strict, progress, checkpoint_source)
    stop = (StrictProblem if all_or_nothing else _stopped) if strict else None
    batches = _batches(source, batch_size, summary, stop)
    try:
        with fewer_gc_passes():
            if all_or_nothing:
                _apply_at_once(run, batches, summary, prepare)
            else:
                for updates, checkpoint in batches:
                    run.commit(updates, checkpoint, summary)
        if summary.batches:
            engine.catch_up()  # once, here: batches were committed with catch_up=False
    except StoreError as error:  # say what this import had committed before the failure
        done = (
            f"this import committed {summary.records:,} updates in {summary.batches} "
            "transaction(s) before it"
            if summary.batches
            else "this import committed nothing"
        )
        if summary.checkpoint is not None:
            done += f", up to checkpoint {summary.checkpoint.to_text()}"
        raise type(error)(f"{error.message}; {done}", field=error.field) from None
    return summary


class StrictProblem(InvalidInput):
    """A strict all-or-nothing import met ``problem``; nothing was committed."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(f"{problem} (--strict: nothing imported)", field="input")
        self.problem = problem


def _stopped(problem: Problem) -> InvalidInput:
    return InvalidInput(f"{problem} (--strict: import stopped)", field="input")


def _batches(
    source: Iterable[Item | UpdateColumns],
    batch_size: int,
    summary: ImportSummary,
    stop: Callable[[Problem], InvalidInput] | None,
) -> Iterator[tuple[UpdateColumns, Checkpoint | None]]:
    """The updates of ``source`` in batches, as columns; a checkpoint closes the batch it ends.
    Problems and skips are counted in ``summary``, or a problem raises ``stop(problem)``
    (strict)."""
    pending = UpdateColumns()
    for item in source:
        if isinstance(item, BankUpdate):
            pending.append(item)
            if len(pending) >= batch_size:
                yield pending, None
                pending = UpdateColumns()
        elif isinstance(item, UpdateColumns):
            pending.extend(item)
            while len(pending) >= batch_size:
                yield pending.cut(batch_size), None
        elif isinstance(item, Checkpoint):
            yield pending, item
            pending = UpdateColumns()
        elif isinstance(item, Problem):
            if stop is not None:
                raise stop(item)
            summary.note_problem(item)
        elif isinstance(item, Skip):
            summary.skipped[item.reason] += 1
    if len(pending):
        yield pending, None


def _apply_at_once(
    run: _Run,
    batches: Iterable[tuple[UpdateColumns, Checkpoint | None]],
    committed: ImportSummary,
    prepare: Callable[[Writer], object] | None,
) -> None:
    """Every batch in one transaction, counted in ``committed`` once it has committed; until
    then errors report what ``committed`` holds: nothing."""
    staged = ImportSummary(delete_limit=committed.delete_limit)
    with run.engine.batch(catch_up=False) as writer:
        if prepare is not None:
            prepare(writer)
        for updates, checkpoint in batches:
            run.write(writer, updates, checkpoint, staged, committed)
    _add(committed, staged)


_gc_lock = threading.Lock()
_gc_users = 0
_gc_saved: tuple[int, int, int] = gc.get_threshold()


@contextmanager
def fewer_gc_passes(young: int = GC_YOUNG_THRESHOLD) -> Iterator[None]:
    """Run the cyclic garbage collector's young-generation passes less often meanwhile.

    An import allocates millions of short-lived objects (records, signals, SQL parameters) and
    keeps a batch of them alive at a time; with the default threshold (700 allocations) the
    collector traverses them again and again, about 15% of a large import's time. Nothing is
    left uncollected: reference counting still frees them and cycles are still collected, in
    passes 30 times rarer. The setting is process-wide, so concurrent imports share it and the
    last one to finish restores the previous thresholds.
    """
    global _gc_users, _gc_saved
    with _gc_lock:
        if _gc_users == 0:
            _gc_saved = gc.get_threshold()
            gc.set_threshold(max(young, _gc_saved[0]), *_gc_saved[1:])
        _gc_users += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_users -= 1
            if _gc_users == 0:
                gc.set_threshold(*_gc_saved)


def _delete_limit(engine: Target, bank: str, fraction: float | None) -> int | None:
    """How many active entries the import may delete, from the bank's count before it."""
    get_bank = getattr(engine, "get_bank", None)
    if fraction is None or get_bank is None:
        return None
    try:
        active = int(get_bank(bank).entries)
    except HashcoreError:  # no such bank yet: nothing to delete
        return None
    if active < MASS_DELETE_MIN_ENTRIES:
        return None
    return int(active * fraction)


def stored_checkpoint(engine: Target, bank: str, checkpoint_source: str) -> Checkpoint | None:
    """The checkpoint committed by the last import of ``checkpoint_source`` into ``bank``."""
    with engine.batch() as writer:
        text = writer.get_checkpoint(bank, checkpoint_source)
    return None if text is None else Checkpoint.from_text(text)


@dataclass
class _Run:
    """One import's settings, and writing one batch of it."""

    engine: Target
    bank: str
    strict: bool
    progress: Ticker | None
    checkpoint_source: str | None

    def commit(
        self, updates: UpdateColumns, checkpoint: Checkpoint | None, summary: ImportSummary
    ) -> None:
        """One transaction: the updates, then the checkpoint; counted only once committed."""
        if not len(updates) and (checkpoint is None or self.checkpoint_source is None):
            return
        staged = ImportSummary(delete_limit=summary.delete_limit)
        staged.active_deleted = summary.active_deleted
        with self.engine.batch(catch_up=False) as writer:
            self.write(writer, updates, checkpoint, staged, summary)
        _add(summary, staged)

    def write(
        self,
        writer: Writer,
        updates: UpdateColumns,
        checkpoint: Checkpoint | None,
        staged: ImportSummary,
        committed: ImportSummary,
    ) -> None:
        """Write one batch with ``writer``, counting it in ``staged``; a refusal's message
        says what ``committed`` holds (what earlier transactions committed)."""
        problems: list[Problem] = []
        results = writer.upsert_entries(self.bank, updates) if len(updates) else []
        for at in [at for at, result in enumerate(results) if isinstance(result, InvalidInput)]:
            message = results[at].message  # type: ignore[union-attr]
            position = updates.positions[at]
            if self.strict:
                raise InvalidInput(f"{position}: {message} (--strict)") from None
            problems.append(Problem(position or updates.external_ids[at], message))
        counts: Counter[str] = Counter(r for r in results if not isinstance(r, InvalidInput))
        for at, status in enumerate(updates.statuses):
            outcome = results[at]
            if status != _ACTIVE and outcome in ("added", "updated"):  # a deletion's outcome
                counts[outcome] -= 1  # type: ignore[index]
                counts["active_deleted"] += outcome == "updated"
                counts["deleted"] += 1
        for at, verdicts in enumerate(updates.entry_opinions):
            if verdicts and not isinstance(results[at], InvalidInput):
                record_opinions(writer, self.bank, updates.external_ids[at], verdicts)
        limit = staged.delete_limit
        if limit is not None and staged.active_deleted + counts["active_deleted"] > limit:
            raise MassDeleteRefused(
                f"refused: this feed deletes or withdraws more than {limit:,} of the active "
                f"entries of bank {self.bank!r} (the mass-delete guard); "
                f"its batch of {len(updates):,} updates was rolled back"
                + (
                    f" ({committed.records:,} updates in {committed.batches} earlier batch(es) "
                    "were committed)"
                    if committed.batches
                    else ", nothing was imported"
                )
                + ". If the partner really withdrew them, re-run with --allow-mass-delete",
                field="allow_mass_delete",
            )
        if checkpoint is not None and self.checkpoint_source is not None:
            writer.set_checkpoint(self.bank, self.checkpoint_source, checkpoint.to_text())
        staged.added += counts["added"]
        staged.updated += counts["updated"]
        staged.deleted += counts["deleted"]
        staged.active_deleted += counts["active_deleted"]
        staged.not_held += counts["not_held"]
        staged.unchanged += sum(
            n for k, n in counts.items() if k not in _COUNTED and k != "active_deleted"
        )
        for problem in problems:
            staged.note_problem(problem)
        if checkpoint is not None:
            staged.checkpoint = checkpoint
        staged.batches += 1
        if self.progress is not None and len(updates):
            self.progress.advance(len(updates))


def _add(summary: ImportSummary, batch: ImportSummary) -> None:
    """Count a committed batch's ``batch`` summary into the import's."""
    summary.added += batch.added
    summary.updated += batch.updated
    summary.deleted += batch.deleted
    summary.unchanged += batch.unchanged
    summary.not_held += batch.not_held
    summary.active_deleted = batch.active_deleted
    summary.skipped.update(batch.skipped)
    summary.problem_count += batch.problem_count
    summary.problems.extend(batch.problems[: MAX_PROBLEMS_KEPT - len(summary.problems)])
    if batch.checkpoint is not None:
        summary.checkpoint = batch.checkpoint
    summary.batches += batch.batches


_COUNTED = frozenset({"added", "updated", "deleted", "not_held"})
_ACTIVE = EntryStatus.ACTIVE.value


def creating_bank(
    items: Iterable[Item | UpdateColumns], create: Callable[[], object]
) -> Iterator[Item | UpdateColumns]:
    """``items``, with ``create()`` called (``--create``: the bank) before the first one that is
    not a :class:`Problem`, or at the end if there were none at all (an export of an empty
    bank). A file refused whole (empty, a wrong header, broken before its first record)
    yields problems alone: no empty bank is left behind."""
    created = refused = False
    for item in items:
        if not created:
            if isinstance(item, Problem):
                refused = True
            else:
                create()
                created = True
        yield item
    if not created and not refused:
        create()


def refused_whole(items: Iterable[Item | UpdateColumns]) -> list[Problem] | None:
    """The problems of a feed that yields problems alone (a file refused whole); None as
    soon as it yields anything else, or if it yields nothing."""
    problems: list[Problem] = []
    for item in items:
        if not isinstance(item, Problem):
            return None
        problems.append(item)
    return problems or None


def iter_updates(items: Iterable[Item]) -> Iterator[BankUpdate]:
    """Only the updates of a stream (tests, previews)."""
    return (item for item in items if isinstance(item, BankUpdate))
