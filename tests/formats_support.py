"""Test doubles for the bank-format tests: an in-memory import target and a flaky HTTP server."""

from __future__ import annotations

import copy
import threading
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

from hashcore.content import ContentKind
from hashcore.errors import InvalidInput
from hashcore.model import EntryStatus
from hashcore.signals import Metric, Signal, SignalType


@dataclass
class Stored:
    signals: frozenset[tuple[str, bytes]]
    labels: tuple[str, ...]
    source: str | None
    status: str
    updated_at: float | None


class MemoryWriter:
    def __init__(self, state: dict[str, Any]) -> None:
        self.state = state

    def upsert_entry(
        self,
        bank: str,
        external_id: str,
        signals: list[Signal],
        *,
        labels: tuple[str, ...] = (),
        source: str | None = None,
        status: EntryStatus = EntryStatus.ACTIVE,
        updated_at: float | None = None,
        created_at: float | None = None,
    ) -> str:
        entries = self.state["entries"].setdefault(bank, {})
        new = Stored(
            frozenset((s.type, s.value) for s in signals),
            tuple(sorted(labels)),
            source,
            str(status),
            updated_at,
        )
        old = entries.get(external_id)
        if old is None:
            if status is not EntryStatus.ACTIVE:
                entries[external_id] = new  # tombstone
                return "not_held"
            entries[external_id] = new
            return "added"
        if old.updated_at is not None and updated_at is not None and updated_at < old.updated_at:
            return "unchanged"
        if not new.signals:
            new.signals = old.signals
        same = (old.signals, old.labels, old.source, old.status) == (
            new.signals,
            new.labels,
            new.source,
            new.status,
        )
        entries[external_id] = new
        return "unchanged" if same else "updated"

    def upsert_entries(self, bank: str, updates: Sequence[Any]) -> list[Any]:
        return upsert_one_by_one(self, bank, updates)

    def get_checkpoint(self, bank: str, source: str) -> str | None:
        return self.state["checkpoints"].get((bank, source))

    def set_checkpoint(self, bank: str, source: str, value: str) -> None:
        self.state["checkpoints"][(bank, source)] = value


class MemoryTarget:
    """Batches commit on success and vanish on an exception, like SQLite transactions."""

    def __init__(self) -> None:
        self.state: dict[str, Any] = {"entries": {}, "checkpoints": {}}
        self.commits = 0

    @contextmanager
    def batch(self, *, catch_up: bool = True) -> Iterator[MemoryWriter]:
        draft = copy.deepcopy(self.state)
        yield MemoryWriter(draft)
        self.state = draft
        self.commits += 1

    def catch_up(self) -> None:
        """Nothing is indexed in memory."""

    def entries(self, bank: str) -> dict[str, Stored]:
        return dict(self.state["entries"].get(bank, {}))

    def active(self, bank: str) -> dict[str, Stored]:
        return {k: v for k, v in self.entries(bank).items() if v.status == "active"}


class FakeTmk(SignalType):
    """Stands in for the TMK plugin: any bytes starting with the .tmk magic."""

    name: ClassVar[str] = "tmk_pdqf"
    content_kinds: ClassVar[frozenset[ContentKind]] = frozenset({ContentKind.VIDEO})
    metric: ClassVar[Metric] = Metric.SIMILARITY
    default_threshold: ClassVar[float] = 0.7

    def hash(self, media: Any) -> Signal:
        raise NotImplementedError

    def parse(self, text: str) -> bytes:
        return self.validate(bytes.fromhex(text))

    def format(self, value: bytes) -> str:
        return value.hex()

    def validate(self, value: bytes) -> bytes:
        if not bytes(value).startswith(b"TMK1"):
            raise InvalidInput("tmk_pdqf: not a .tmk feature")
        return bytes(value)

    def compare(self, a: bytes, b: bytes) -> float:
        return 1.0 if a == b else 0.0


Route = Callable[[str, dict[str, str]], tuple[int, bytes] | None]


@dataclass
class PartnerServer:
    """Serves ``routes(path, query)`` on 127.0.0.1; ``fail`` maps a path+page key to failures."""

    route: Route
    fail: dict[str, str] = field(default_factory=dict)
    """key -> "500" or "drop": fail the first request for that key, then serve normally."""
    log: list[str] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urllib.parse.urlsplit(self.path)
                query = dict(urllib.parse.parse_qsl(parts.query))
                key = parts.path + ("?start=" + query["start"] if "start" in query else "")
                key += ("?token=" + query["nextPageToken"]) if "nextPageToken" in query else ""
                key += ("?after=" + query["after"]) if "after" in query else ""
                server.log.append(key)
                server.headers.append(dict(self.headers))
                failure = server.fail.pop(key, None)
                if failure == "drop":
                    self.connection.close()
                    return
                if failure == "500":
                    self.send_error(500)
                    return
                result = server.route(parts.path, query)
                if result is None:
                    self.send_error(404)
                    return
                status, body = result
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


def upsert_one_by_one(writer: Any, bank: str, updates: Sequence[Any]) -> list[Any]:
    """``upsert_entries`` as a loop of ``upsert_entry`` calls.

    Not a reference for the store: ``upsert_entry`` is ``upsert_entries`` on one record, so
    tests/test_store_upsert_batch.py checks both against the model in tests/store_model.py."""
    results: list[Any] = []
    for update in updates:
        try:
            results.append(
                writer.upsert_entry(
                    bank,
                    update.external_id,
                    list(update.signals),
                    labels=update.labels,
                    source=update.source,
                    status=update.status,
                    updated_at=update.updated_at,
                    created_at=update.created_at,
                )
            )
        except InvalidInput as error:
            results.append(error)
    return results
