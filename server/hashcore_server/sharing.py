"""The ``Sharing`` service: publish a bank's changes to partners that follow it.

``FollowBank`` reads the bank's ``entry_log`` (written by store triggers, so every write path
shows up) strictly after the caller's checkpoint, and sends each changed entry once per page in
its current state, with the page's checkpoint. Then it polls the log (one indexed ``MAX`` per
bank every :data:`POLL_SECONDS`: writes may come from another process, an importer, so there is
no in-process notification to wait on) and sends heartbeats while nothing changes. Hashes,
labels, statuses and timestamps travel; content never does (the store has none).

The publisher records, per partner (token name) and bank, the checkpoint the partner gave back
(what it applied) and the last one sent to it: ``GetBank`` and ``ListBanks`` show them to the
bank's admins only.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Iterator, Sequence

from hashcore.api.v1 import hashcore_pb2 as pb
from hashcore.api.v1 import hashcore_pb2_grpc as pb_grpc
from hashcore.engine import Engine
from hashcore.errors import InvalidInput
from hashcore.remote.wire import entry_to_pb, timestamp
from hashcore.sharing.checkpoint import format_checkpoint, parse_checkpoint
from hashcore.store.sharing import LoggedEntry
from hashcore_server.auth import FOLLOW
from hashcore_server.calls import Call, State, rpc_stream

log = logging.getLogger("hashcore.server")

PAGE_ROWS = 500
"""Log rows read per page."""
MAX_UPDATE_BYTES = 4 * 1024 * 1024
"""An update is cut before it grows past this (TMK signals are large), well under the limits."""
POLL_SECONDS = 0.25
DEFAULT_HEARTBEAT = 10.0
HEARTBEAT_RANGE = (0.05, 300.0)
RECORD_SECONDS = 2.0
"""How often a stream writes the follower's position to the store (and once at its end)."""


class SharingServicer(pb_grpc.SharingServicer):  # type: ignore[misc]
    def __init__(self, state: State) -> None:
        self.state = state
        self._closed = threading.Event()

    def close(self) -> None:
        """End every stream at its next poll (server shutdown)."""
        self._closed.set()

    @rpc_stream
    def FollowBank(
        self, request: pb.FollowBankRequest, call: Call
    ) -> Iterator[pb.FollowBankResponse]:
        bank = request.bank
        if not bank:
            raise InvalidInput("a bank name is required", field="bank")
        call.principal.require(bank, FOLLOW)
        engine = self.state.require_engine()
        store_id = engine.store.store_id
        position = parse_checkpoint(request.after, store_id, engine.store.log_end(bank))
        heartbeat = request.heartbeat_seconds or DEFAULT_HEARTBEAT
        if not math.isfinite(heartbeat):
            raise InvalidInput("heartbeat_seconds must be a number of seconds", field="heartbeat")
        heartbeat = min(max(heartbeat, HEARTBEAT_RANGE[0]), HEARTBEAT_RANGE[1])
        partner = call.principal.name
        record = _Recorder(engine, bank, partner)
        if request.after:
            record(request.after, force=True)
        log.info("%s follows bank %r from position %d", partner, bank, position)
        call.context.send_initial_metadata((("x-request-id", call.request_id),))
        sent = 0
        last_message = time.monotonic()
        try:
            while call.context.is_active() and not self._closed.is_set():
                read, items = engine.store.log_page(bank, position, PAGE_ROWS)
                if read > position:
                    end = engine.store.log_end(bank)
                    for update in _updates(bank, store_id, items, read, end):
                        yield update
                        sent += len(update.entries)
                        record(update.checkpoint)
                    position = read
                    last_message = time.monotonic()
                    continue
                checkpoint = format_checkpoint(store_id, position)
                if request.until_caught_up:
                    yield _message(bank, checkpoint, [], caught_up=True)
                    return
                if time.monotonic() - last_message >= heartbeat:
                    yield _message(bank, checkpoint, [], caught_up=True)
                    last_message = time.monotonic()
                record.flush_due()  # the last pages of a catch-up, sent under the throttle
                self._closed.wait(POLL_SECONDS)
        finally:
            record.flush()
            log.info("%s stopped following bank %r: %d entr(ies) sent", partner, bank, sent)


def _updates(
    bank: str, store_id: str, items: Sequence[LoggedEntry], read: int, end: int
) -> Iterator[pb.FollowBankResponse]:
    """A page as one or more updates of at most :data:`MAX_UPDATE_BYTES`.

    Items come in the order of their last log row, so an update cut after item ``k`` may carry
    ``k``'s position: every entry with a row up to it was sent, or has a later row and comes
    later. The last update carries the page's end (rows of entries read twice in the page).
    """
    entries: list[pb.SharedEntry] = []
    size = 0
    for number, item in enumerate(items):
        shared = _shared(item)
        entries.append(shared)
        size += shared.ByteSize()
        if size >= MAX_UPDATE_BYTES and number < len(items) - 1:
            yield _message(bank, format_checkpoint(store_id, item.seq), entries, caught_up=False)
            entries, size = [], 0
    yield _message(bank, format_checkpoint(store_id, read), entries, caught_up=read >= end)


def _shared(item: LoggedEntry) -> pb.SharedEntry:
    if item.entry is None:
        return pb.SharedEntry(removed=True, external_id=item.external_id)
    return pb.SharedEntry(entry=entry_to_pb(item.entry), external_id=item.external_id)


def _message(
    bank: str, checkpoint: str, entries: list[pb.SharedEntry], *, caught_up: bool
) -> pb.FollowBankResponse:
    return pb.FollowBankResponse(
        bank=bank,
        checkpoint=checkpoint,
        entries=entries,
        caught_up=caught_up,
        sent_at=timestamp(time.time()),
    )


class _Recorder:
    """Writes the partner's position to the publisher's store, at most every few seconds."""

    def __init__(self, engine: Engine, bank: str, partner: str) -> None:
        self._engine = engine
        self._bank = bank
        self._partner = partner
        self._pending: str | None = None
        self._written = 0.0

    def __call__(self, checkpoint: str, *, force: bool = False) -> None:
        self._pending = checkpoint
        if force:
            self.flush()
        else:
            self.flush_due()

    def flush_due(self) -> None:
        """Write a pending position once :data:`RECORD_SECONDS` have passed since the last
        write: called while the stream idles too, or a catch-up's last pages (sent within
        the throttle) stayed unrecorded until the next live change."""
        if self._pending is not None and time.monotonic() - self._written >= RECORD_SECONDS:
            self.flush()

    def flush(self) -> None:
        if self._pending is None:
            return
        try:
            with self._engine.store.transaction() as writer:
                writer.record_follower(self._bank, self._partner, self._pending)
        except Exception:
            log.exception("could not record %s's position in bank %r", self._partner, self._bank)
        self._pending = None
        self._written = time.monotonic()
