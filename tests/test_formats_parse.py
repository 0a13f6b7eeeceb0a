"""Every bank format against the partner samples and our own fixtures (no store needed)."""

from __future__ import annotations

import io
import json
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hashcore.errors import HashcoreError
from hashcore.formats import (
    BankFormat,
    BankUpdate,
    Problem,
    Skip,
    canonical_family,
    get_format,
    load_formats,
)
from hashcore.formats.csvmap import load_mapping
from hashcore.formats.ncmec import PageInfo
from hashcore.model import EntryStatus
from hashcore.plugins import get_plugin_manager
from hashcore.registry import SignalRegistry

DATA = Path(__file__).resolve().parent / "data"
SAMPLES = DATA / "partner-samples"
OURS = DATA / "partner"
BRIDGE_PDQ = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
BRIDGE_MD5 = "d35c785545392755e7e4164457657269"
POSITIVE = "partner-opinion:positive"
"""What the partner says of a record beyond its labels is kept as a label (issue 17)."""


def read(registry: SignalRegistry, fmt: str, path: Path, **options: object) -> list[object]:
    with path.open("rb") as stream:
        return list(get_format(fmt, registry, options).read(stream))


def updates(items: list[object]) -> dict[str, BankUpdate]:
    return {i.external_id: i for i in items if isinstance(i, BankUpdate)}


def problems(items: list[object]) -> list[Problem]:
    return [i for i in items if isinstance(i, Problem)]


def skips(items: list[object]) -> list[str]:
    return sorted(i.reason for i in items if isinstance(i, Skip))


def test_hashcore_bank_formats_hook_lists_the_built_ins() -> None:
    formats = load_formats(get_plugin_manager())
    assert {
        "ncmec",
        "stopncii",
        "threatexchange",
        "pytx-csv",
        "pytx-local",
        "tat",
        "csv",
        "hashcore",
    } <= set(formats)
    assert all(issubclass(cls, BankFormat) for cls in formats.values())


def test_unknown_format_is_named(registry: SignalRegistry) -> None:
    with pytest.raises(HashcoreError, match="unknown bank format 'nope'"):
        get_format("nope", registry)


def test_unknown_option_is_refused(registry: SignalRegistry) -> None:
    with pytest.raises(HashcoreError, match="no option colour"):
        get_format("ncmec", registry, {"colour": "red"})


@pytest.mark.parametrize(
    ("raw", "family"),
    [
        ("video_md5", "md5"),
        ("HASH_MD5", "md5"),
        ("HASH_VIDEO_MD5", "md5"),
        ("VideoMD5", "md5"),
        ("ImagePDQ", "pdq"),
        ("HASH_PDQ", "pdq"),
        ("TMK_PDQF", "tmk_pdqf"),
        ("VideoTMK", "tmk_pdqf"),
        ("HASH_TMK", "tmk_pdqf"),
        ("tmk-pdqf", "tmk_pdqf"),
        ("pdna", "photodna"),
        ("HASH_PHOTODNA", "photodna"),
        ("SHA256", "sha256"),
        ("nonsense", None),
    ],
)
def test_one_alias_table(raw: str, family: str | None) -> None:
    assert canonical_family(raw) == family


# NCMEC


def test_ncmec_sample(registry: SignalRegistry) -> None:
    items = read(registry, "ncmec", SAMPLES / "ncmec_entries.xml")
    found = updates(items)
    image = found["4242-img-000123"]
    assert {s.type for s in image.signals} == {"md5", "pdq"}
    assert image.labels == ("ncmec:B2", "content:image")  # the kind kept as a label
    assert image.status is EntryStatus.ACTIVE and image.content_kind == "image"
    assert image.updated_at == 1772445600.0  # 2026-03-02T10:00:00Z
    assert found["4242-img-000099"].status is EntryStatus.DELETED
    video = found["77-vid-000007"]
    assert [s.type for s in video.signals] == ["md5"] and video.labels == (
        "ncmec:A1",
        "content:video",
    )
    assert "unsupported family sha1" in skips(items)
    assert not problems(items)


def test_ncmec_problems_have_positions(registry: SignalRegistry) -> None:
    items = read(registry, "ncmec", OURS / "ncmec_mixed.xml")
    found = updates(items)
    assert set(found) == {"10-a", "10-odd", "10-gone", "77-vid-000007"}
    assert found["10-a"].signals[0].value.hex() == BRIDGE_MD5
    assert found["10-gone"].status is EntryStatus.DELETED
    assert found["77-vid-000007"].content_kind == "video"
    reasons = [str(p) for p in problems(items)]
    assert any("image #2 (10-short)" in r and "malformed md5" in r for r in reasons)
    assert any("image #3 (10-odd)" in r and "unknown signal type 'vidently'" in r for r in reasons)
    assert "unsupported family photodna" in skips(items)
    assert all(BRIDGE_MD5[:14] not in r for r in reasons), "hash values never in reports"


def test_ncmec_truncated_file_keeps_records_before_the_break(registry: SignalRegistry) -> None:
    items = read(registry, "ncmec", OURS / "ncmec_truncated.xml")
    assert set(updates(items)) == {"10-ok"}
    [problem] = problems(items)
    assert problem.reason == "malformed XML" and "line 12" in problem.position


def test_ncmec_keeps_entries_before_a_syntax_error_mid_document(registry: SignalRegistry) -> None:
    entry = (
        "<image><member id='1'>m</member><id>{n}</id>"
        "<fingerprints><md5>" + BRIDGE_MD5 + "</md5></fingerprints></image>\n"
    )
    body = "<queryResult><images>" + entry.format(n="a") + entry.format(n="b")
    body += "<image><id>c</i></image>" + entry.format(n="d") + "</images></queryResult>"
    items = list(get_format("ncmec", registry).read(io.BytesIO(body.encode())))
    assert set(updates(items)) == {"1-a", "1-b"}
    [problem] = problems(items)
    assert problem.reason == "malformed XML" and problem.position.startswith("file line 3 ")


def test_ncmec_reads_fields_like_elementtree(registry: SignalRegistry) -> None:
    """Prefixed names, nested markup in a field (its text before the child counts), the last
    of repeated fields and fingerprints, entries split across any chunk boundary."""
    body = (
        "<q:queryResult xmlns:q='urn:x'><q:images><q:image>"
        "<q:member id='7'>M</q:member><q:id> e1 <b>x</b>tail</q:id>"
        "<q:classification>A1</q:classification><q:classification>B2</q:classification>"
        "<q:fingerprints><q:md5>" + "0" * 32 + "</q:md5></q:fingerprints>"
        "<q:fingerprints><q:md5> " + BRIDGE_MD5 + " </q:md5><q:sha1>ab</q:sha1></q:fingerprints>"
        "</q:image></q:images></q:queryResult>"
    ).encode()
    fmt = get_format("ncmec", registry)
    for size in (1, 7, len(body)):
        chunks = [body[i : i + size] for i in range(0, len(body), size)]
        items = list(fmt.parse(chunks, "file", PageInfo(), None))
        [update] = updates(items).values()
        assert update.external_id == "7-e1" and update.labels == ("ncmec:B2", "content:image")
        assert [s.value.hex() for s in update.signals] == [BRIDGE_MD5]
        assert skips(items) == ["unsupported family sha1"]


def test_ncmec_refuses_doctype_and_entities(registry: SignalRegistry) -> None:
    items = read(registry, "ncmec", OURS / "ncmec_entity_bomb.xml")
    assert not updates(items)
    [problem] = problems(items)
    assert "DOCTYPE" in problem.reason


class GeneratedFeed(io.RawIOBase):
    """An NCMEC file of ``count`` entries of about 2 KB, made as it is read: never whole in
    memory, so what a parse holds shows in tracemalloc. ``size`` counts the bytes read."""

    PAD = b"n" * 2000

    def __init__(self, count: int) -> None:
        self.pieces = self._pieces(count)
        self.pending = b""
        self.size = 0

    def _pieces(self, count: int) -> Iterator[bytes]:
        yield b"<queryResult><images>"
        head = b"<image><member id='1'>m</member><timestamp>2026-03-02T10:00:00Z</timestamp>"
        head += b"<classification>A1</classification><note>" + self.PAD + b"</note>"
        tail = b"<id>%d</id><fingerprints><md5>%032x</md5></fingerprints></image>"
        for n in range(count):
            yield head + tail % (n, n)
        yield b"</images></queryResult>"

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        filled = 0
        while filled < len(view):
            if not self.pending:
                self.pending = next(self.pieces, b"")
                if not self.pending:
                    break
            take = min(len(view) - filled, len(self.pending))
            view[filled : filled + take] = self.pending[:take]
            self.pending = self.pending[take:]
            filled += take
        self.size += filled
        return filled


def streaming_peak(registry: SignalRegistry, count: int) -> tuple[int, int, int]:
    """(records read, feed bytes, peak bytes allocated while reading), no record kept."""
    fmt = get_format("ncmec", registry)
    feed = GeneratedFeed(count)
    records = 0
    tracemalloc.start()
    try:
        for item in fmt.read(feed):
            records += isinstance(item, BankUpdate)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return records, feed.size, peak


def test_ncmec_memory_is_dropped_as_it_streams(registry: SignalRegistry) -> None:
    """The peak memory of reading a feed is flat in its size and far below it: a reader that
    kept its entries (or records, or the file) would grow with the feed."""
    small = streaming_peak(registry, 500)
    records, size, peak = streaming_peak(registry, 3000)
    assert (small[0], records) == (500, 3000)
    assert size > 6_000_000
    assert peak < size / 10, f"{peak:,} bytes at peak reading a {size:,}-byte feed"
    assert peak < small[2] * 1.25 + 32_000, (
        f"peak grew from {small[2]:,} bytes ({small[1]:,}-byte feed) to {peak:,} ({size:,})"
    )


# StopNCII


def test_stopncii_sample_withdrawn_is_not_active(registry: SignalRegistry) -> None:
    items = read(registry, "stopncii", SAMPLES / "stopncii_fetch.json")
    found = updates(items)
    pdq = found["ImagePDQ:2afc4a5c09628a7961c14d436493bba66b89b831453baa1d556ba385554daa82"]
    assert pdq.status is EntryStatus.ACTIVE and pdq.signals[0].type == "pdq"
    md5 = found["VideoMD5:9e107d9d372bb6826bd81d3542a419d6"]
    assert md5.status is EntryStatus.WITHDRAWN and md5.updated_at == 1772445600


def test_stopncii_status_decides_not_the_value(registry: SignalRegistry) -> None:
    """hashStatus Deleted deletes even when hashValue looks like any other value."""
    page = {
        "hashRecords": [
            {
                "signalType": "VideoMD5",
                "hashValue": "Deleted" * 0 + BRIDGE_MD5,
                "hashStatus": "Deleted",
                "lastModtimestamp": 5,
            },
            {"signalType": "URL", "hashValue": "http://x", "hashStatus": "Active"},
            {"signalType": "Text", "hashValue": "hello", "hashStatus": "Active"},
            {"signalType": "ImagePDQ", "hashValue": BRIDGE_PDQ, "hashStatus": "Mystery"},
            {"signalType": "Nope", "hashValue": "00", "hashStatus": "Active"},
            "not an object",
        ]
    }
    fmt = get_format("stopncii", registry)
    items = list(fmt.page(page, "page 7"))  # type: ignore[attr-defined]
    [deleted] = updates(items).values()
    assert deleted.status is EntryStatus.DELETED
    assert skips(items) == ["unsupported family text", "unsupported family url"]
    assert [p.position for p in problems(items)] == [
        "page 7 record 4",
        "page 7 record 5",
        "page 7 record 6",
    ]


# ThreatExchange and pytx


def test_threatexchange_sample(registry: SignalRegistry) -> None:
    found = updates(read(registry, "threatexchange", SAMPLES / "te_threat_updates.json"))
    assert found["3058061737574159"].labels == ("gifct_glorification", POSITIVE)
    assert found["3058061737574159"].status is EntryStatus.ACTIVE
    assert found["3058061737574160"].status is EntryStatus.DELETED


def test_threatexchange_opinions_and_unknowns(registry: SignalRegistry) -> None:
    items = read(registry, "threatexchange", OURS / "te_updates.json")
    found = updates(items)
    assert found["1"].status is EntryStatus.ACTIVE and found["1"].labels == (
        "a",
        "b",
        "c",
        POSITIVE,
    )
    assert found["2"].status is EntryStatus.WITHDRAWN, "NON_MALICIOUS alone: a false positive"
    assert found["2"].updated_at == 1772445600.0
    assert found["3"].status is EntryStatus.DELETED, "no descriptor left"
    assert skips(items) == ["unsupported family photodna"]
    reasons = {p.position: p.reason for p in problems(items)}
    assert reasons["file record 5 (id 5)"] == "unknown signal type 'HASH_FANCY'"
    assert reasons["file record 6 (id 6)"].startswith("malformed pdq value")


def test_threatexchange_unknown_status_is_a_lead_not_a_positive(registry: SignalRegistry) -> None:
    """Descriptors that all say UNKNOWN share a hash unclassified: an active lead, labelled
    as pytx labels it (INVESTIGATION_SEED), not a confirmed positive; one MALICIOUS wins."""

    def item(te_id: str, *statuses: str) -> dict[str, object]:
        descriptors = [{"owner": {"name": "x"}, "status": s, "tags": []} for s in statuses]
        return {
            "id": te_id,
            "indicator": BRIDGE_PDQ,
            "type": "HASH_PDQ",
            "last_updated": "2026-03-02T10:00:00+0000",
            "descriptors": {"data": descriptors},
        }

    text = json.dumps({"data": [item("1", "UNKNOWN"), item("2", "UNKNOWN", "MALICIOUS")]})
    found = updates(list(get_format("threatexchange", registry).read(io.BytesIO(text.encode()))))
    assert found["1"].status is EntryStatus.ACTIVE and found["1"].opinion == "seed"
    assert found["2"].status is EntryStatus.ACTIVE and found["2"].opinion == "positive"


def test_pytx_dataset_sample(registry: SignalRegistry) -> None:
    found = updates(read(registry, "pytx-csv", SAMPLES / "pytx_dataset.csv"))
    pdq = found[f"pdq:{BRIDGE_PDQ}"]
    assert pdq.labels == ("A1", POSITIVE) and pdq.source == "Hotline B file"
    assert found["md5:d41d8cd98f00b204e9800998ecf8427e"].opinion == "seed"


def test_pytx_negative_class_is_withdrawn(registry: SignalRegistry) -> None:
    text = "signal_type,signal_str,collab,category,tags\npdq," + BRIDGE_PDQ + ",c,NEGATIVE_CLASS,\n"
    [update] = get_format("pytx-csv", registry).read(io.BytesIO(text.encode()))
    assert isinstance(update, BankUpdate) and update.status is EntryStatus.WITHDRAWN


def test_pytx_local_file(registry: SignalRegistry) -> None:
    items = read(registry, "pytx-local", OURS / "pytx_local.txt")
    assert set(updates(items)) == {f"pdq:{BRIDGE_PDQ}", f"md5:{BRIDGE_MD5}"}
    assert skips(items) == ["unsupported family photodna"]
    assert [p.position for p in problems(items)] == ["line 6", "line 7"]


# TaT and the column-mapped importer


def test_tat_list(registry: SignalRegistry) -> None:
    items = read(registry, "tat", OURS / "tat_list.json")
    found = updates(items)
    assert found["101"].signals[0].value.hex() == BRIDGE_MD5
    assert found["101"].labels == ("tat:Far-right", "content:image")
    assert found["101"].created_at is not None and found["101"].content_kind == "image"
    assert found["103"].status is EntryStatus.DELETED
    assert skips(items) == ["unsupported family sha256"]
    assert [p.position for p in problems(items)] == ["file record 4 (id 104)"]


def test_csv_mapping_file(registry: SignalRegistry) -> None:
    options = load_mapping(OURS / "gifct_mapping.toml")
    items = read(registry, "csv", OURS / "gifct_export.csv", **options)
    found = updates(items)
    assert found["g-1"].labels == ("gifct:glorification", "gifct:recruitment")
    assert found["g-1"].source == "gifct" and found["g-1"].status is EntryStatus.ACTIVE
    assert found["g-2"].status is EntryStatus.DELETED
    assert skips(items) == ["unsupported family sha256"]
    assert [str(p) for p in problems(items)] == ["line 5: unknown signal type 'GIFCT_WEIRD'"]


def test_csv_json_lines_with_fixed_type(registry: SignalRegistry) -> None:
    lines = f'{{"h": "{BRIDGE_MD5}"}}\n\n{{"h": 3}}\nnot json\n'
    fmt = get_format("csv", registry, {"input": "jsonl", "value_column": "h", "fixed_type": "md5"})
    items = list(fmt.read(io.BytesIO(lines.encode())))
    assert set(updates(items)) == {f"md5:{BRIDGE_MD5}"}
    assert [p.position for p in problems(items)] == ["line 3", "line 4"]


def test_csv_alias_must_target_a_family(registry: SignalRegistry) -> None:
    with pytest.raises(HashcoreError, match="not a known family"):
        get_format("csv", registry, {"type_aliases": "X=bogus"})


# Never crash on arbitrary input: only our own items or errors come out.

FILE_FORMATS = [
    "ncmec",
    "stopncii",
    "threatexchange",
    "pytx-csv",
    "pytx-local",
    "tat",
    "csv",
    "hashcore",
]


@pytest.mark.parametrize("fmt", FILE_FORMATS)
@settings(max_examples=60, deadline=None)
@given(data=st.binary(max_size=400) | st.text(max_size=300).map(str.encode))
def test_parsers_never_crash(registry: SignalRegistry, fmt: str, data: bytes) -> None:
    try:
        items = list(get_format(fmt, registry).read(io.BytesIO(data)))
    except HashcoreError:
        return
    assert all(isinstance(i, BankUpdate | Problem | Skip) for i in items)


@settings(max_examples=60, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=20),
        lambda inner: (
            st.lists(inner, max_size=4)
            | st.dictionaries(
                st.sampled_from(
                    [
                        "id",
                        "type",
                        "indicator",
                        "data",
                        "descriptors",
                        "status",
                        "should_delete",
                        "last_updated",
                        "hashRecords",
                        "signalType",
                        "hashValue",
                        "hashStatus",
                        "algorithm",
                        "hash_digest",
                        "tags",
                    ]
                ),
                inner,
                max_size=6,
            )
        ),
        max_leaves=20,
    )
)
def test_json_parsers_never_crash_on_shapes(registry: SignalRegistry, doc: object) -> None:
    import json

    body = json.dumps(doc).encode()
    for fmt in ("stopncii", "threatexchange", "tat"):
        items = list(get_format(fmt, registry).read(io.BytesIO(body)))
        assert all(isinstance(i, BankUpdate | Problem | Skip) for i in items)
