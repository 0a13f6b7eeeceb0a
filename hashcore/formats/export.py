"""Writing a bank out: hashcore's lossless JSON lines, or python-threatexchange's dataset CSV.

The native export carries every entry, withdrawn and deleted ones included, because the
receiving hotline must stop matching those too. The pytx CSV can only say "this is a positive"
(its categories have no "withdrawn"), so it carries the active entries only, one row per signal
of a family pytx knows; the rest are counted and reported.
"""

from __future__ import annotations

import csv
import itertools
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Protocol, TextIO

from hashcore.errors import InvalidInput
from hashcore.formats.native import entry_line, header_line
from hashcore.formats.pytx import CATEGORIES, DATASET_HEADER
from hashcore.formats.records import partner_labels
from hashcore.model import Bank, BankInfo, Entry, EntryStatus
from hashcore.opinions.book import list_opinions
from hashcore.opinions.model import Opinion
from hashcore.registry import SignalRegistry, load_registry
from hashcore.store import Store

EXPORT_FORMATS = ("hashcore", "pytx-csv")
PYTX_NAMES = {"pdq": "pdq", "md5": "video_md5", "vpdq": "vpdq"}
"""Our family -> python-threatexchange signal type name (pytx's MD5 type is ``video_md5``).
The value is the family's text form, which is pytx's for each of them (hex; vPDQ's JSON)."""


class Source(Protocol):
    """What an export reads: the engine's bank info and a stream of every entry of a bank."""

    def get_bank(self, name: str) -> BankInfo: ...

    def iter_entries(self, bank: str) -> Iterator[Entry]: ...


def export_bank(
    engine: Source, bank: str, out: TextIO, fmt: str = "hashcore", *, with_sources: bool = False
) -> Counter[str]:
    """Write ``bank`` to ``out``; returns counts (``entries`` written, and what was left out).

    Entries' sources (local paths for ``bank add``) are left out unless ``with_sources``."""
    if fmt not in EXPORT_FORMATS:
        raise InvalidInput(f"cannot export as {fmt!r} (use {', '.join(EXPORT_FORMATS)})")
    info = engine.get_bank(bank)
    entries = _started(engine.iter_entries(bank))
    if fmt == "hashcore":
        opinions = bank_opinions(engine, bank)
        return write_native(info.bank, entries, out, with_sources=with_sources, opinions=opinions)
    return write_pytx_csv(info.bank, entries, out, load_registry())


def _started(entries: Iterable[Entry]) -> Iterator[Entry]:
    """``entries`` with the first one read already: an export the source refuses (a server's
    PERMISSION_DENIED to a lookup-only partner) fails before the header is written to stdout."""
    rows = iter(entries)
    first = next(rows, None)
    return rows if first is None else itertools.chain([first], rows)


def write_native(
    bank: Bank,
    entries: Iterable[Entry],
    out: TextIO,
    *,
    with_sources: bool = False,
    opinions: Mapping[str, Sequence[Opinion]] | None = None,
) -> Counter[str]:
    """The bank, its entries and the opinions on them (by external id)."""
    counts: Counter[str] = Counter()
    out.write(header_line(bank) + "\n")
    for entry in entries:
        said = (opinions or {}).get(entry.external_id, ())
        out.write(entry_line(entry, with_source=with_sources, opinions=said) + "\n")
        counts["entries"] += 1
        if said:
            counts["opinions"] += len(said)
    return counts


def bank_opinions(engine: Source, bank: str) -> dict[str, list[Opinion]]:
    """The opinions on ``bank``'s entries by external id: a store's own, or a server's
    (``ListOpinions``); none from a source that is neither."""
    from hashcore.remote import RemoteEngine

    store = getattr(engine, "store", None)
    if isinstance(store, Store):
        opinions = list_opinions(store, bank)
    elif isinstance(engine, RemoteEngine):
        from hashcore.opinions.api import RemoteOpinions

        opinions = RemoteOpinions(engine).list_opinions(bank)
    else:
        return {}
    found: dict[str, list[Opinion]] = {}
    for opinion in opinions:
        found.setdefault(opinion.external_id, []).append(opinion)
    return found


def write_pytx_csv(
    bank: Bank, entries: Iterable[Entry], out: TextIO, registry: SignalRegistry
) -> Counter[str]:
    counts: Counter[str] = Counter()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(DATASET_HEADER)
    for entry in entries:
        if entry.status is not EntryStatus.ACTIVE:
            counts[f"left out: {entry.status.value} entry"] += 1
            continue
        for signal in entry.signals:
            name = PYTX_NAMES.get(signal.type)
            if name is None:
                counts[f"left out: {signal.type} (no pytx type)"] += 1
                continue
            category, tags = pytx_category(entry.labels)
            text = registry.get(signal.type).format(signal.value)
            writer.writerow([name, text, bank.name, category, " ".join(tags)])
            counts["entries"] += 1
    return counts


ACTIVE_CATEGORY_LABELS = {
    category: partner_labels((), opinion, None)[0]
    for category, (status, opinion) in CATEGORIES.items()
    if status is EntryStatus.ACTIVE
}
"""The label each active dataset category becomes on import (``partner-opinion:seed``)."""


def pytx_category(labels: Sequence[str]) -> tuple[str, list[str]]:
    """An active entry's dataset category and tags: a partner's seed (imported with the label
    ``partner-opinion:seed``) goes out as ``INVESTIGATION_SEED``, anything else as
    ``POSITIVE_CLASS``. The label the category says is not repeated as a tag, so a re-import
    gives the entry's labels back."""
    seed = "INVESTIGATION_SEED"
    category = seed if ACTIVE_CATEGORY_LABELS[seed] in labels else "POSITIVE_CLASS"
    said = ACTIVE_CATEGORY_LABELS[category]
    return category, [label.replace(" ", "_") for label in labels if label != said]
