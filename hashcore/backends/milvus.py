"""Bit families (PDQ, pHash) indexed in Milvus: BINARY_VECTOR codes, HAMMING range search.

One collection per family and store (``<prefix>_<family>_<store id>``): the value id is the
INT64 primary key, the code a BINARY_VECTOR of the family's bits. A lookup is one range search
per batch of query vectors (every variant of every lookup), with the embedded index's inclusive
threshold: Milvus keeps hits with ``range_filter <= distance < radius`` for HAMMING (pinned by
``tests/test_backend_milvus.py``), so ``distance <= t`` is ``radius = floor(t) + 1`` and
``range_filter = 0``. A search returns at most 16384 hits per query (Milvus's top-k ceiling);
a query that reaches it is searched again over halves of its distance range until each part
is complete, so no hit is ever silently dropped.

Each row also holds the value's banks (``banks``, a JSON scalar field ``{"ids": [bank id,
...]}``, see :mod:`hashcore.backends.membership`), so a lookup limited to some banks (a
partner's grant, a ``--bank`` filter, disabled banks) is filtered inside Milvus with
``json_contains_any`` and
never transfers the hits of other banks; the merge applies every bank rule again, so a list
that still holds a bank the value has lost costs a hit, never a match.

Exact families (MD5) stay on the embedded :class:`~hashcore.index.exact.ExactIndex`: an
equality lookup in a sorted array costs microseconds and 16 bytes a value (160 MB at 10M), and
Milvus has no exact-match index over binary codes that would do better.

Writes (``add``, ``remove``) only queue; the queue is applied before the next search, count,
listing or checkpoint. A store write then never fails because Milvus is unreachable: the
lookup does (:class:`~hashcore.errors.NotReady`, gRPC UNAVAILABLE), and the queue is applied
when Milvus answers again. A process that dies with a queue loses nothing: its checkpoint is
older, and the change log is replayed from there.
"""

from __future__ import annotations

import json
import math
import threading
import uuid
import warnings
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from hashcore.backends import redirect
from hashcore.backends.membership import BankMembership, bank_lists, filter_expression
from hashcore.errors import InvalidInput, NotReady
from hashcore.index.base import F64, I64, U8, IndexCorrupt, IndexHit, RangeHits, SignalIndex
from hashcore.registry import SignalRegistry
from hashcore.signals import BitSignalType, Metric, SignalType
from hashcore.store import Store

MAX_TOPK = 16384
"""Milvus's ceiling on hits per query (``limit``, offset included)."""
QUERY_BATCH = 16
"""Query vectors per search call. Milvus Lite's BIN_FLAT scan answered 16 at a time 1.5-2x
faster than 256 at a time (300k PDQ codes, 400 queries: ~220 against ~130 q/s, one run each
way, shared VM); small batches also bound one reply's size when queries hit many values."""
WRITE_BATCH = 20_000
"""Rows per upsert or delete call."""
BANK_CAPACITY = 4096
"""Banks listed per value (about 40 kB of JSON, under Milvus's 64 kB per JSON value); a value
in more is stored as in every bank (:data:`~hashcore.backends.membership.ANY_BANK`)."""
KIND = "MilvusIndex"
FORMAT_VERSION = 2
"""2: rows carry their banks, the checkpoint the bank-gains log's seq."""
CHECKPOINT = "milvus.json"
INDEX_TYPES = ("BIN_FLAT", "BIN_IVF_FLAT")


@dataclass(frozen=True, slots=True)
class MilvusSettings:
    """Where the Milvus is and how its collections are indexed (``[index_backend]``)."""

    uri: str
    """``http://host:19530`` for a Milvus server, or a local ``*.db`` file: Milvus Lite."""
    token: str | None = None
    """``user:password`` or an API key, for a server with authentication."""
    db_name: str = ""
    prefix: str = "hashcore"
    """Collection names start with it: several stores or deployments can share one Milvus."""
    index_type: str = "BIN_FLAT"
    """BIN_FLAT: exact answers. BIN_IVF_FLAT: faster on large collections, some hits missed
    (see docs/scale-out.md); Milvus Lite only has BIN_FLAT."""
    nlist: int = 1024
    """BIN_IVF_FLAT: clusters built."""
    nprobe: int = 64
    """BIN_IVF_FLAT: clusters searched per query."""
    timeout: float = 30.0
    """Seconds a Milvus call may take before a lookup fails (UNAVAILABLE)."""

    @classmethod
    def from_table(cls, table: Mapping[str, Any]) -> MilvusSettings:
        known = {f.name for f in fields(cls)}
        unknown = set(table) - known
        if unknown:
            raise InvalidInput(f"index_backend: unknown keys {', '.join(sorted(unknown))}")
        if "uri" not in table:
            raise InvalidInput("index_backend: milvus needs a uri", field="index_backend")
        try:
            settings = cls(**table)
        except TypeError as error:
            raise InvalidInput(f"index_backend: {error}", field="index_backend") from None
        if settings.index_type not in INDEX_TYPES:
            raise InvalidInput(
                f"index_backend: index_type must be one of {', '.join(INDEX_TYPES)}",
                field="index_backend",
            )
        if not (settings.prefix.isidentifier() and settings.prefix.isascii()):
            raise InvalidInput("index_backend: prefix must be letters, digits and _")
        return settings


def serves(signal_type: SignalType) -> bool:
    """The families Milvus indexes: Hamming bit hashes (PDQ, pHash), not exact ones (MD5)."""
    return (
        isinstance(signal_type, BitSignalType)
        and signal_type.metric is Metric.HAMMING
        and signal_type.bits % 8 == 0
    )


class MilvusBackend:
    """One connection to a Milvus, the collections of one store's Hamming families."""

    name = "milvus"

    def __init__(self, settings: MilvusSettings) -> None:
        from pymilvus import connections
        from pymilvus.exceptions import MilvusException

        self.settings = settings
        self.alias = f"hashcore-{uuid.uuid4().hex[:12]}"
        try:
            with _quiet():  # milvus_lite imports pkg_resources, which warns on import
                connections.connect(
                    alias=self.alias,
                    uri=settings.uri,
                    token=settings.token or "",
                    db_name=settings.db_name,
                    timeout=settings.timeout,
                )
        except MilvusException as error:
            raise NotReady(f"milvus at {settings.uri} unreachable: {error.message}") from None
        self.store_id = ""
        self.membership: BankMembership | None = None
        """Where values' banks come from: the store the engine opened (None before it does,
        and for an index used without a store: its values are then in every bank)."""
        # MilvusIndex.load is a classmethod (SignalIndex's contract): a subclass per backend
        # is how a snapshot read back finds this connection.
        self.index_class: type[MilvusIndex] = type("MilvusIndex", (MilvusIndex,), {"backend": self})

    def index_dir(self, store_dir: Path) -> Path:
        return store_dir / "indexes-milvus"

    def registry(self, registry: SignalRegistry, store: Store) -> SignalRegistry:
        self.store_id = store.store_id
        self.membership = BankMembership(store)
        return redirect(registry, serves, self.create)

    def create(self, signal_type: SignalType) -> MilvusIndex:
        """An empty index of the family: its collection is (re)made at first use."""
        assert isinstance(signal_type, BitSignalType)
        return self.index_class(signal_type.name, signal_type.bits)

    def collection_name(self, family: str) -> str:
        return f"{self.settings.prefix}_{family}_{self.store_id}"

    def problem(self) -> str | None:
        from pymilvus import utility

        try:
            utility.list_collections(timeout=min(self.settings.timeout, 5.0), using=self.alias)
        except Exception as error:  # noqa: BLE001 - any failure is the health finding
            return f"milvus at {self.settings.uri} unreachable: {type(error).__name__}"
        return None

    def close(self) -> None:
        from pymilvus import connections

        connections.disconnect(self.alias)


class MilvusIndex(SignalIndex):
    """A family's values in a Milvus collection, through :class:`SignalIndex`."""

    backend: ClassVar[MilvusBackend]

    def __init__(self, family: str, bits: int, *, fresh: bool = True) -> None:
        self.family = family
        self.bits = bits
        self._fresh = fresh
        self._collection: Any = None
        self._pending: dict[int, bytes | None] = {}
        self._lock = threading.Lock()
        membership = self.backend.membership
        self._gains_seq = membership.last_gain() if fresh and membership is not None else 0
        """The bank-gains log read so far (a fresh index takes every bank from the store)."""

    @property
    def value_size(self) -> int:
        return self.bits // 8

    # -- writes: queued ----------------------------------------------------------------------

    def add(self, value_ids: Sequence[int], values: Sequence[bytes]) -> None:
        if len(value_ids) != len(values):
            raise InvalidInput(f"{len(value_ids)} value ids for {len(values)} values")
        if any(len(value) != self.value_size for value in values):
            raise InvalidInput(f"every value must be {self.value_size} bytes")
        with self._lock:
            self._pending.update(zip((int(i) for i in value_ids), values, strict=True))

    def add_array(self, value_ids: I64, codes: U8) -> None:
        """Bulk loads go straight to Milvus, in batches: a rebuild needs it up anyway."""
        ids = np.asarray(value_ids, np.int64).reshape(-1)
        rows = np.ascontiguousarray(codes, np.uint8)
        if rows.ndim != 2 or rows.shape != (ids.shape[0], self.value_size):
            raise InvalidInput(f"expected ({ids.shape[0]}, {self.value_size}) uint8 codes")
        with self._lock, _unavailable(self):
            self._apply()
            for start in range(0, ids.shape[0], WRITE_BATCH):
                part = ids[start : start + WRITE_BATCH].tolist()
                codes_part = [row.tobytes() for row in rows[start : start + WRITE_BATCH]]
                columns = self._rows(part, codes_part)
                self._col().upsert(columns, timeout=self.backend.settings.timeout)

    def remove(self, value_ids: Sequence[int]) -> None:
        with self._lock:
            self._pending.update((int(i), None) for i in value_ids)

    @property
    def delta_size(self) -> int:
        return len(self._pending)

    def compact(self) -> None:
        """Apply the queued writes (Milvus compacts its segments on its own)."""
        with self._lock, _unavailable(self):
            self._apply()

    def _rows(self, value_ids: list[int], codes: list[bytes]) -> list[list[Any]]:
        """Upsert columns: ids, codes and each value's banks as the store has them now."""
        membership = self.backend.membership
        banks = membership.banks_of(value_ids) if membership is not None else {}
        lists = bank_lists(value_ids, banks, BANK_CAPACITY)
        return [value_ids, codes, [{"ids": ids} for ids in lists]]

    def _take_gains(self) -> None:
        """Queue the values held here that may have gained a bank since the log was last
        read, so they are written again with their banks. Values not held yet get theirs when
        the change log adds them (adding them now would run ahead of the index's seq)."""
        membership = self.backend.membership
        if membership is None:
            return
        seq, gained = membership.gains_after(self.family, self._gains_seq)
        todo = [value_id for value_id in gained if value_id not in self._pending]
        held: list[int] = []
        for start in range(0, len(todo), WRITE_BATCH):
            part = todo[start : start + WRITE_BATCH]
            rows = self._col().query(
                expr=f"id in {part}", output_fields=["id"], timeout=self.backend.settings.timeout
            )
            held += [int(row["id"]) for row in rows]
        self._pending.update(membership.values(held))
        self._gains_seq = seq

    def _apply(self) -> None:
        """Send the queue, deletes first; what was sent leaves it (the rest is retried)."""
        self._take_gains()
        timeout = self.backend.settings.timeout
        removed = [i for i, value in self._pending.items() if value is None]
        added = [(i, value) for i, value in self._pending.items() if value is not None]
        for start in range(0, len(removed), WRITE_BATCH):
            part = removed[start : start + WRITE_BATCH]
            self._col().delete(f"id in {part}", timeout=timeout)
            for value_id in part:
                del self._pending[value_id]
        for start in range(0, len(added), WRITE_BATCH):
            rows = added[start : start + WRITE_BATCH]
            columns = self._rows([i for i, _ in rows], [v for _, v in rows])
            self._col().upsert(columns, timeout=timeout)
            for value_id, _ in rows:
                del self._pending[value_id]

    # -- reads -------------------------------------------------------------------------------

    def search(self, queries: Sequence[bytes], threshold: float) -> list[list[IndexHit]]:
        return self.range_search(queries, threshold).to_lists()

    def range_search(self, queries: Sequence[bytes], threshold: float) -> RangeHits:
        """Every value within ``threshold`` (inclusive) of each query, nearest first."""
        return self.range_search_in(queries, threshold, None)

    def range_search_in(
        self, queries: Sequence[bytes], threshold: float, banks: Collection[str] | None
    ) -> RangeHits:
        """:meth:`range_search` over the values of ``banks`` only, filtered by Milvus."""
        expression = ""
        if banks is not None:
            membership = self.backend.membership
            if membership is not None and membership.installed:
                bank_ids = membership.bank_ids(banks)
                if not bank_ids:
                    return _as_range_hits([([], []) for _ in queries])
                expression = filter_expression(bank_ids)
        if math.isnan(threshold):
            raise InvalidInput("threshold is NaN")
        if any(len(query) != self.value_size for query in queries):
            raise InvalidInput(f"every query must be {self.value_size} bytes")
        per_query: list[tuple[list[int], list[float]]] = [([], []) for _ in queries]
        if queries and threshold >= 0:
            finite = math.isfinite(threshold)
            radius = min(self.bits, math.floor(threshold) if finite else self.bits)
            with _unavailable(self):
                with self._lock:  # searches run side by side; only sending the queue is alone
                    self._apply()
                    self._col()
                self._search_all(list(queries), radius + 1, per_query, expression)
        return _as_range_hits(per_query)

    def _search_all(
        self,
        queries: list[bytes],
        radius: int,
        out: list[tuple[list[int], list[float]]],
        expression: str,
    ) -> None:
        for start in range(0, len(queries), QUERY_BATCH):
            batch = queries[start : start + QUERY_BATCH]
            for offset, (ids, distances) in enumerate(self._range(batch, 0, radius, expression)):
                if len(ids) < MAX_TOPK:
                    out[start + offset] = (ids, distances)
                else:  # Milvus stopped at its ceiling: split the distance range until complete
                    out[start + offset] = self._complete(batch[offset], 0, radius, expression)

    def _complete(
        self, query: bytes, low: int, high: int, expression: str
    ) -> tuple[list[int], list[float]]:
        """Every hit with ``low <= distance < high``, however many."""
        ids, distances = self._range([query], low, high, expression)[0]
        if len(ids) < MAX_TOPK:
            return ids, distances
        if high - low == 1:
            raise NotReady(
                f"more than {MAX_TOPK} {self.family} values at distance {low} from one query"
            )
        middle = (low + high) // 2
        near_ids, near = self._complete(query, low, middle, expression)
        far_ids, far = self._complete(query, middle, high, expression)
        return near_ids + far_ids, near + far

    def _range(
        self, queries: list[bytes], low: int, high: int, expression: str = ""
    ) -> list[tuple[list[int], list[float]]]:
        """One range search: hits with ``low <= distance < high`` per query, up to the ceiling,
        among the rows ``expression`` keeps (every row when empty).

        Milvus's HAMMING range search keeps ``range_filter <= distance < radius``.
        """
        params: dict[str, Any] = {"radius": high, "range_filter": low}
        if self.backend.settings.index_type == "BIN_IVF_FLAT":
            params["nprobe"] = self.backend.settings.nprobe
        found = self._col().search(
            data=queries,
            anns_field="code",
            param={"metric_type": "HAMMING", "params": params},
            limit=MAX_TOPK,
            expr=expression or None,
            timeout=self.backend.settings.timeout,
        )
        return [(list(hits.ids), list(hits.distances)) for hits in found]

    def __len__(self) -> int:
        with self._lock, _unavailable(self):
            self._apply()
            rows = self._col().query(
                expr="", output_fields=["count(*)"], timeout=self.backend.settings.timeout
            )
        return int(rows[0]["count(*)"])

    def value_ids(self) -> I64:
        with self._lock, _unavailable(self):
            self._apply()
            iterator = self._col().query_iterator(
                batch_size=16384, expr="id >= 0", output_fields=["id"]
            )
            parts = []
            try:
                while batch := iterator.next():
                    parts.append(np.fromiter((row["id"] for row in batch), np.int64, len(batch)))
            finally:
                iterator.close()
        ids = np.concatenate(parts) if parts else np.zeros(0, np.int64)
        return np.sort(ids)

    # -- checkpoints -------------------------------------------------------------------------

    def save(self, directory: Path) -> None:
        """The data stays in Milvus (flushed to its storage); the directory names where."""
        with self._lock, _unavailable(self):
            self._apply()
            self._col().flush(timeout=self.backend.settings.timeout)
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        manifest = {
            "kind": KIND,
            "version": FORMAT_VERSION,
            "family": self.family,
            "bits": self.bits,
            "collection": self.backend.collection_name(self.family),
            "gains_seq": self._gains_seq,
        }
        (directory / CHECKPOINT).write_text(json.dumps(manifest, indent=2) + "\n")

    @classmethod
    def load(cls, directory: Path) -> MilvusIndex:
        """The collection a checkpoint names; :class:`IndexCorrupt` if it is gone or differs."""
        path = Path(directory) / CHECKPOINT
        try:
            manifest = json.loads(path.read_text())
            family, bits = str(manifest["family"]), int(manifest["bits"])
            gains_seq = int(manifest["gains_seq"])
            ok = manifest["kind"] == KIND and manifest["version"] == FORMAT_VERSION
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise IndexCorrupt(f"{path}: unreadable milvus checkpoint: {error}") from None
        if not ok or manifest.get("collection") != cls.backend.collection_name(family):
            raise IndexCorrupt(f"{path}: the checkpoint of another index or collection")
        index = cls(family, bits, fresh=False)
        index._gains_seq = gains_seq
        with index._lock, _unavailable(index):
            index._col()
        if cls.backend.membership is not None:
            # No later checkpoint can start before this one: the gains it holds are done with.
            cls.backend.membership.forget(family, gains_seq)
        return index

    # -- the collection ----------------------------------------------------------------------

    def _col(self) -> Any:
        """The loaded collection; a fresh index drops and remakes it first (a rebuild)."""
        if self._collection is None:
            from pymilvus import Collection, utility

            name = self.backend.collection_name(self.family)
            alias = self.backend.alias
            exists = utility.has_collection(name, using=alias)
            if self._fresh:
                if exists:
                    utility.drop_collection(name, using=alias)
                collection = self._make(name)
            elif not exists:
                raise IndexCorrupt(f"milvus collection {name} is gone")
            else:
                collection = Collection(name, using=alias)
                dims = [f.params.get("dim") for f in collection.schema.fields if f.name == "code"]
                if dims != [self.bits]:
                    raise IndexCorrupt(f"milvus collection {name} holds codes of {dims} bits")
                if "banks" not in {f.name for f in collection.schema.fields}:
                    raise IndexCorrupt(f"milvus collection {name} has no banks field (older)")
            collection.load()
            self._collection = collection
            self._fresh = False
        return self._collection

    def _make(self, name: str) -> Any:
        from pymilvus import Collection, CollectionSchema, DataType, FieldSchema

        settings = self.backend.settings
        schema = CollectionSchema(
            [
                FieldSchema("id", DataType.INT64, is_primary=True, auto_id=False),
                FieldSchema("code", DataType.BINARY_VECTOR, dim=self.bits),
                FieldSchema("banks", DataType.JSON),  # {"ids": [bank id, ...]}
            ],
            description=f"hashcore {self.family} values by value id",
        )
        collection = Collection(name, schema, using=self.backend.alias, consistency_level="Strong")
        params: dict[str, Any] = {"index_type": settings.index_type, "metric_type": "HAMMING"}
        if settings.index_type == "BIN_IVF_FLAT":
            params["params"] = {"nlist": settings.nlist}
        collection.create_index("code", params)
        return collection


def _as_range_hits(per_query: list[tuple[list[int], list[float]]]) -> RangeHits:
    """Per-query ids and distances as :class:`RangeHits`, each query's sorted by
    (distance, id): Milvus's order among equal distances is its own."""
    counts = np.fromiter((len(ids) for ids, _ in per_query), np.int64, len(per_query))
    lims = np.concatenate([np.zeros(1, np.int64), np.cumsum(counts)])
    ids: I64 = np.fromiter((i for q, _ in per_query for i in q), np.int64, int(lims[-1]))
    distances: F64 = np.fromiter((d for _, q in per_query for d in q), np.float64, int(lims[-1]))
    query = np.repeat(np.arange(len(per_query)), counts)
    order = np.lexsort((ids, distances, query))
    return RangeHits(lims, ids[order], distances[order])


@contextmanager
def _unavailable(index: MilvusIndex) -> Iterator[None]:
    """Milvus errors as :class:`NotReady` (UNAVAILABLE): the caller should retry later."""
    from pymilvus.exceptions import MilvusException

    try:
        yield
    except MilvusException as error:
        raise NotReady(f"the milvus index of {index.family} failed: {error.message}") from None


@contextmanager
def _quiet() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="pkg_resources is deprecated")
        yield
