"""Follow a bank published by another hashcore server (docs/sharing.md).

Each update from the publisher is applied to the local bank through the engine (so indexes
catch up and lookups see it) in **one store transaction** with the publisher's checkpoint and
the entries' origins: after a crash or a restart the follower asks for what comes after the
checkpoint it committed, so nothing is replayed or lost. Entries keep the source's external id,
labels, status and timestamps; a removal at the source becomes a deletion here (the entry stops
matching, its row stays for audit).

Opinions travel the other way on the same connection: after each message (an update or a
heartbeat) the analysts' opinions on the local bank's entries not yet sent go to the source's
``SubmitOpinions`` under the source's external ids (:mod:`hashcore.opinions.upstream`), and are
marked sent once the source has answered; a resend after a crash is stored once there.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc

from hashcore.api.v1 import hashcore_pb2 as pb
from hashcore.engine import Engine
from hashcore.errors import HashcoreError, InvalidInput, NotFound
from hashcore.model import EntryOrigin, EntryStatus
from hashcore.opinions.upstream import mark_sent, pending, send_opinions
from hashcore.remote.client import RemoteEngine
from hashcore.remote.errors import ServerUnavailable, translate
from hashcore.remote.wire import entry_from_pb
from hashcore.store.writer import Upsert

log = logging.getLogger("hashcore.sharing")

RETRY_CODES = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.CANCELLED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNKNOWN,
    }
)
"""Failures worth reconnecting after; the others (token, grant, unknown bank, bad checkpoint)
need a person."""
SILENCE_HEARTBEATS = 3
"""Reconnect after this many heartbeat periods without a message (a half-open connection)."""


@dataclass(frozen=True, slots=True)
class FollowSource:
    """A bank on another hashcore server, and how to reach it."""

    address: str
    remote_bank: str
    token: str | None = None
    partner: str = ""
    """How provenance names the source; default ``address``."""
    ca_cert: Path | None = None
    insecure_plaintext: bool = False

    @property
    def name(self) -> str:
        return self.partner or self.address

    @property
    def checkpoint_key(self) -> str:
        """The local ``checkpoints.source`` of this follow (one per server and remote bank)."""
        return f"follow:{self.address}/{self.remote_bank}"


@dataclass(slots=True)
class FollowReport:
    """What one stream (or a ``--once`` pull) did."""

    updates: int = 0
    """Updates that carried entries, each applied in one transaction."""
    entries: int = 0
    rejected: int = 0
    """Entries this store could not take (a family it lacks): counted, logged, skipped."""
    checkpoint: str | None = None
    caught_up: bool = False
    opinions_sent: int = 0
    """This store's opinions the source now holds (stored, or already held from a resend)."""
    problems: list[str] = field(default_factory=list)


class FollowRefused(HashcoreError):
    """The publisher refused for a reason a retry cannot fix (token, grant, bank, checkpoint)."""


class Follower:
    """Keeps ``local_bank`` of ``engine`` a copy of ``source``'s bank."""

    def __init__(
        self,
        engine: Engine,
        local_bank: str,
        source: FollowSource,
        *,
        heartbeat: float = 10.0,
        max_backoff: float = 30.0,
    ) -> None:
        self.engine = engine
        self.local_bank = local_bank
        self.source = source
        self.heartbeat = heartbeat
        self.max_backoff = max_backoff
        self.status = "starting"
        """What the follower is doing, for health reports and logs."""
        self.healthy = False
        self.total = FollowReport()

    def checkpoint(self) -> str | None:
        """The publisher's checkpoint committed with the last update applied here."""
        return self.engine.store.get_checkpoint(self.local_bank, self.source.checkpoint_key)

    def check_local_bank(self) -> None:
        try:
            self.engine.get_bank(self.local_bank)
        except NotFound:
            raise NotFound(
                f"no local bank named {self.local_bank!r}: create it first "
                f"(hashcore bank create {self.local_bank})",
                field="bank",
            ) from None

    def pull(self, stop: threading.Event | None = None) -> FollowReport:
        """Everything new at the source, then return (``--once``)."""
        self.check_local_bank()
        return self._stream(stop or threading.Event(), until_caught_up=True)

    def run(self, stop: threading.Event, *, give_up: bool = False) -> None:
        """Follow until ``stop`` is set, reconnecting with backoff. ``give_up``: raise
        :class:`FollowRefused` at once when the publisher refuses (the CLI); otherwise keep
        retrying slowly (a server, whose partner may fix the grant)."""
        delay = 1.0
        while not stop.is_set():
            try:
                self.check_local_bank()
                self._stream(stop, until_caught_up=False)
                delay = 1.0
            except FollowRefused as error:
                self._failed(str(error.message))
                if give_up:
                    raise
                delay = self.max_backoff
            except HashcoreError as error:
                self._failed(error.message)
            except Exception as error:  # a follower thread must not die silently
                log.exception("following %s/%s failed", self.source.name, self.source.remote_bank)
                self._failed(f"{type(error).__name__}: {error}")
            if stop.wait(delay):
                break
            delay = min(delay * 2, self.max_backoff)
        self.status, self.healthy = "stopped", False

    def _failed(self, message: str) -> None:
        self.status, self.healthy = f"retrying: {message}", False
        log.warning(
            "following %s/%s into %r: %s",
            self.source.name,
            self.source.remote_bank,
            self.local_bank,
            message,
        )

    def _stream(self, stop: threading.Event, *, until_caught_up: bool) -> FollowReport:
        report = FollowReport(checkpoint=self.checkpoint())
        request = pb.FollowBankRequest(
            bank=self.source.remote_bank,
            after=report.checkpoint or "",
            until_caught_up=until_caught_up,
            heartbeat_seconds=self.heartbeat,
        )
        try:
            remote = RemoteEngine(
                self.source.address,
                token=self.source.token,
                ca_cert=self.source.ca_cert,
                insecure_plaintext=self.source.insecure_plaintext,
            )
        except InvalidInput as error:  # a token refused in plaintext: retrying cannot help
            raise FollowRefused(error.message, field=error.field) from None
        call = remote.follow_bank(request)
        watch = _Watchdog(call, stop, self.heartbeat * SILENCE_HEARTBEATS)
        try:
            for message in call:
                watch.heard()
                self._apply(message, report)
                self._send_opinions(remote, report)
                self.status, self.healthy = (
                    "caught up" if message.caught_up else "catching up",
                    True,
                )
        except grpc.RpcError as error:
            if stop.is_set() and error.code() is grpc.StatusCode.CANCELLED:
                return report
            if watch.fired:
                raise ServerUnavailable(
                    f"no message nor heartbeat from {self.source.address} for "
                    f"{self.heartbeat * SILENCE_HEARTBEATS:g} s",
                    code="SILENT",
                ) from None
            translated = translate(error, self.source.address)
            if error.code() in RETRY_CODES:
                raise translated from None
            raise FollowRefused(translated.message, field=translated.field) from None
        finally:
            watch.close()
            remote.close()
        return report

    def _send_opinions(self, remote: RemoteEngine, report: FollowReport) -> None:
        """The local bank's opinions not yet sent, to the source's bank; what the source
        refuses (an entry it no longer has) is reported and not sent again."""
        items = pending(self.engine.store, self.local_bank)
        if not items:
            return
        result = send_opinions(remote, None, self.source.remote_bank, items)
        mark_sent(self.engine.store, [o.id for o in items], self.source.checkpoint_key)
        report.opinions_sent += result.stored + result.duplicates
        self.total.opinions_sent += result.stored + result.duplicates
        for opinion, reason in result.rejected:
            report.problems.append(f"opinion on {opinion.external_id}: {reason}")
            log.warning("the source refused the opinion on %r: %s", opinion.external_id, reason)

    def _apply(self, message: Any, report: FollowReport) -> None:
        """One update: its entries, their origins and its checkpoint in one transaction."""
        checkpoint = str(message.checkpoint)
        report.caught_up = bool(message.caught_up)
        if not message.entries and checkpoint == report.checkpoint:
            return  # a heartbeat
        received = time.time()
        origin = EntryOrigin(self.source.name, self.source.remote_bank, checkpoint, received)
        updates = [_upsert(shared) for shared in message.entries]
        with self.engine.batch() as writer:
            results = writer.upsert_entries(self.local_bank, updates)
            taken = {
                update.external_id: origin
                for update, result in zip(updates, results, strict=True)
                if not isinstance(result, InvalidInput)
            }
            writer.set_origins(self.local_bank, taken)
            writer.set_checkpoint(self.local_bank, self.source.checkpoint_key, checkpoint)
        for update, result in zip(updates, results, strict=True):
            if isinstance(result, InvalidInput):
                report.rejected += 1
                report.problems.append(f"{update.external_id}: {result.message}")
                log.warning("entry %r not taken: %s", update.external_id, result.message)
        report.checkpoint = checkpoint
        if updates:
            report.updates += 1
            report.entries += len(updates)
            self.total.updates += 1
            self.total.entries += len(updates)
        self.total.checkpoint = checkpoint


def _upsert(shared: Any) -> Upsert:
    """The source's state of one entry as a record for the local bank."""
    if shared.removed:  # the row is gone at the source: it stops matching here
        return Upsert(shared.external_id, status=EntryStatus.DELETED)
    entry = entry_from_pb(shared.entry)
    return Upsert(
        entry.external_id,
        entry.signals,
        entry.labels,
        entry.source,
        entry.status,
        entry.updated_at,
        entry.created_at,
    )


class _Watchdog:
    """Cancels the stream when ``stop`` is set or nothing arrived for ``silence`` seconds."""

    def __init__(self, call: Any, stop: threading.Event, silence: float) -> None:
        self.fired = False
        self._call = call
        self._stop = stop
        self._silence = silence
        self._last = time.monotonic()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="hashcore-follow", daemon=True)
        self._thread.start()

    def heard(self) -> None:
        self._last = time.monotonic()

    def _watch(self) -> None:
        while not self._done.wait(0.1):
            silent = time.monotonic() - self._last > self._silence
            if self._stop.is_set() or silent:
                self.fired = silent and not self._stop.is_set()
                self._call.cancel()
                return

    def close(self) -> None:
        self._done.set()
        self._thread.join()
