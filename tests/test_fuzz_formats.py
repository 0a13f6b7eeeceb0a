"""Fuzzing every partner format: random, truncated, garbled, deeply nested and re-encoded input.

A format must turn anything into items and :class:`~hashcore.errors.HashcoreError`s only:
never a RecursionError, UnicodeDecodeError, KeyError... which would end an import with a
traceback (``INTERNAL`` over gRPC) and lose the valid records after the bad one.
"""

from __future__ import annotations

import functools
import io
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hashcore.errors import HashcoreError
from hashcore.formats import get_format
from hashcore.formats.base import BankFormat
from hashcore.formats.csvmap import load_mapping
from hashcore.formats.records import BankUpdate, Checkpoint, Problem, Skip
from hashcore.registry import load_registry

DATA = Path(__file__).resolve().parent / "data"
REGISTRY = load_registry()
NATIVE = (
    b'{"format":"hashcore-bank","version":1,"bank":{"name":"b"}}\n'
    b'{"external_id":"e1","status":"active","labels":["x"],"signals":'
    b'[{"type":"md5","hex":"d35c785545392755e7e4164457657269"}]}\n'
)
SEEDS: dict[str, tuple[bytes, dict[str, object]]] = {
    "hashcore": (NATIVE, {}),
    "ncmec": ((DATA / "partner-samples" / "ncmec_entries.xml").read_bytes(), {}),
    "stopncii": ((DATA / "partner-samples" / "stopncii_fetch.json").read_bytes(), {}),
    "threatexchange": ((DATA / "partner-samples" / "te_threat_updates.json").read_bytes(), {}),
    "pytx-csv": ((DATA / "partner-samples" / "pytx_dataset.csv").read_bytes(), {}),
    "pytx-local": ((DATA / "partner" / "pytx_local.txt").read_bytes(), {}),
    "tat": ((DATA / "partner" / "tat_list.json").read_bytes(), {}),
    "csv": (
        (DATA / "partner" / "gifct_export.csv").read_bytes(),
        load_mapping(DATA / "partner" / "gifct_mapping.toml"),
    ),
    "csv-jsonl": (
        b'{"type":"md5","value":"d35c785545392755e7e4164457657269"}\n',
        {"input": "jsonl"},
    ),
}
ITEM_TYPES = (BankUpdate, Problem, Skip, Checkpoint)
FUZZ = settings(
    max_examples=50,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@functools.cache
def reader(name: str) -> BankFormat:
    return get_format("csv" if name == "csv-jsonl" else name, REGISTRY, SEEDS[name][1])


def parse(name: str, data: bytes) -> None:
    """Read everything; only hashcore's own errors may come out."""
    fmt = reader(name)
    try:
        for item in fmt.read(io.BytesIO(data)):
            assert isinstance(item, ITEM_TYPES), item
    except HashcoreError:
        pass


def test_every_installed_format_has_a_seed():
    from hashcore.formats.base import load_formats
    from hashcore.plugins import get_plugin_manager

    readable = {n for n, cls in load_formats(get_plugin_manager()).items() if cls.can_read()}
    assert readable <= {n for n in SEEDS if n != "csv-jsonl"}


@pytest.mark.parametrize("name", sorted(SEEDS))
@FUZZ
@given(data=st.binary(max_size=2048))
def test_random_bytes(name, data):
    parse(name, data)


@pytest.mark.parametrize("name", sorted(SEEDS))
@FUZZ
@given(
    cut=st.integers(min_value=0),
    flips=st.lists(st.tuples(st.integers(0), st.integers(0, 255)), max_size=8),
)
def test_truncated_and_garbled_seed(name, cut, flips):
    seed = bytearray(SEEDS[name][0])
    for position, value in flips:
        seed[position % len(seed)] = value
    parse(name, bytes(seed[: cut % (len(seed) + 1)]))


@pytest.mark.parametrize("name", sorted(SEEDS))
@FUZZ
@given(
    depth=st.integers(min_value=1, max_value=200_000),
    opener=st.sampled_from(["[", '{"a":', "<a>", '{"hashRecords":[', '{"data":[']),
    where=st.integers(min_value=0),
)
def test_deep_nesting_inside_the_seed(name, depth, opener, where):
    seed = SEEDS[name][0]
    lines = seed.split(b"\n")
    index = where % len(lines)
    lines.insert(index, opener.encode() * depth)
    parse(name, b"\n".join(lines))


@pytest.mark.parametrize("name", sorted(SEEDS))
@FUZZ
@given(
    encoding=st.sampled_from(["utf-16", "utf-16-be", "utf-32", "latin-1", "cp1252", "utf-8-sig"]),
    extra=st.text(max_size=40),
)
def test_other_encodings(name, encoding, extra):
    text = SEEDS[name][0].decode("utf-8") + extra
    parse(name, text.encode(encoding, errors="replace"))


@pytest.mark.parametrize("name", ["hashcore", "stopncii", "threatexchange", "tat", "csv-jsonl"])
@FUZZ
@given(
    value=st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
        lambda children: (
            st.lists(children, max_size=4)
            | st.dictionaries(st.text(max_size=12), children, max_size=4)
        ),
        max_leaves=30,
    )
)
def test_json_shaped_garbage(name, value):
    """Valid JSON of the wrong shape, in place of each record and of the whole document."""
    text = json.dumps(value)
    parse(name, text.encode())
    seed = SEEDS[name][0]
    if name in ("hashcore", "csv-jsonl"):
        parse(name, seed + text.encode() + b"\n")
    else:
        document = json.loads(seed)
        for key in list(document) if isinstance(document, dict) else []:
            parse(name, json.dumps({**document, key: value}).encode())
