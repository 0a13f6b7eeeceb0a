"""``RemoteEngine``: the :class:`~hashcore.engine_api.EngineAPI` verbs, answered by a server.

The CLI opens either an Engine or a RemoteEngine and prints the same output from either. A verb
the server does not offer (``batch``, ``iter_entries``...) raises :class:`NotRemote`. Every
call has a timeout; gRPC failures come back as :class:`~hashcore.errors.HashcoreError`
subclasses (the server's field violations included), so callers handle one error hierarchy.
``hash_only`` makes :meth:`lookup_file` hash locally and send only hashes: the content never
leaves the machine.
"""

from __future__ import annotations

import ipaddress
import os
from collections import Counter
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, Unpack

import grpc

from hashcore.api.v1 import hashcore_pb2 as pb
from hashcore.api.v1 import hashcore_pb2_grpc as pb_grpc
from hashcore.engine_api import EngineAPI, IndexStatus, hashes_to_add, lookup_hashed
from hashcore.errors import ContentError, InvalidInput, LimitExceeded
from hashcore.hashing import ensure_content, hash_file
from hashcore.model import Added, Bank, BankInfo, BankSettings, Entry, EntryStatus, LookupResult
from hashcore.registry import SignalRegistry, load_registry
from hashcore.remote import wire
from hashcore.remote.errors import TOKEN_ENV, NotRemote, RemoteError, query_error, translate
from hashcore.signals import Signal

if TYPE_CHECKING:
    from hashcore.check import CheckReport
    from hashcore.engine_api import EntryFields, FileFields, ImportOptions
    from hashcore.formats.importer import ImportSummary
    from hashcore.model import Ticker
    from hashcore.store import StoreWriter

DEFAULT_TIMEOUT = 30.0
CONTENT_TIMEOUT = 300.0
"""Content calls hash on the server: a long video takes a while."""
MAX_MESSAGE_BYTES = 64 * 1024 * 1024
BATCH_SIZE = 500
ALLOW_MASS_DELETE = "allow_mass_delete"
"""An ``ImportUpdates`` option the server takes itself (not the format's): lift the guard."""


class RemoteEngine(EngineAPI):
    """A client for ``hashcore serve``: an :class:`~hashcore.engine_api.EngineAPI`."""

    def __init__(
        self,
        address: str,
        *,
        token: str | None = None,
        ca_cert: Path | None = None,
        client_cert: Path | None = None,
        client_key: Path | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        hash_only: bool = False,
        registry: SignalRegistry | None = None,
        insecure_plaintext: bool = False,
    ) -> None:
        self.address = address
        self.timeout = timeout
        self.hash_only = hash_only
        self._registry = registry
        token = token if token is not None else os.environ.get(TOKEN_ENV) or None
        self._metadata: tuple[tuple[str, str], ...] = (
            (("authorization", f"Bearer {token}"),) if token else ()
        )
        options = [
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ]
        tls = bool(ca_cert or client_cert)
        if token and not tls and not insecure_plaintext and not is_loopback_address(address):
            # Refused before any channel exists: nothing has been sent.
            raise InvalidInput(
                f"refusing to send an API token in plaintext to {address}: it is not a loopback "
                "address. Use TLS (--ca-cert), or --insecure-plaintext if the network is trusted",
                field="token",
            )
        if tls:
            if bool(client_cert) != bool(client_key):
                raise InvalidInput("--client-cert and --client-key go together")
            credentials = grpc.ssl_channel_credentials(
                root_certificates=_read(ca_cert),
                private_key=_read(client_key),
                certificate_chain=_read(client_cert),
            )
            self._channel = grpc.secure_channel(address, credentials, options=options)
        else:
            self._channel = grpc.insecure_channel(address, options=options)
        self._matching = pb_grpc.MatchingStub(self._channel)
        self._banks = pb_grpc.BanksStub(self._channel)
        self._sharing = pb_grpc.SharingStub(self._channel)

    @property
    def registry(self) -> SignalRegistry:
        """The local plugins, for hashing locally (``hash_only``) and formatting hashes."""
        if self._registry is None:
            self._registry = load_registry()
        return self._registry

    def close(self) -> None:
        self._channel.close()

    @property
    def channel(self) -> grpc.Channel:
        """The server's channel, for the services beside the engine's (``Opinions``)."""
        return self._channel

    def call(self, method: Any, request: Any, timeout: float | None = None) -> Any:
        """``method(request)`` with this client's token and timeout, errors translated."""
        return self._call(method, request, timeout)

    def follow_bank(self, request: pb.FollowBankRequest) -> Any:
        """The server's ``FollowBank`` stream (no deadline: it may stay open for days): an
        iterator of ``FollowBankResponse`` with ``cancel()``; gRPC errors come raw, for
        :mod:`hashcore.sharing` to tell a retry from a refusal (see :func:`translate`)."""
        return self._sharing.FollowBank(request, metadata=self._metadata)

    def _call(self, method: Any, request: Any, timeout: float | None = None) -> Any:
        try:
            return method(request, timeout=timeout or self.timeout, metadata=self._metadata)
        except grpc.RpcError as error:
            raise translate(error, self.address) from None

    # Banks

    def create_bank_with(self, name: str, settings: BankSettings) -> Bank:
        request = pb.CreateBankRequest(
            name=name,
            labels=list(settings.labels),
            source=settings.source or "",
            disabled=not settings.enabled,
            thresholds=dict(settings.thresholds),
            priority=settings.priority,
        )
        return wire.bank_from_pb(self._call(self._banks.CreateBank, request))

    def get_bank(self, name: str) -> BankInfo:
        return wire.bank_info_from_pb(self._call(self._banks.GetBank, pb.GetBankRequest(name=name)))

    def list_banks(self) -> list[BankInfo]:
        response = self._call(self._banks.ListBanks, pb.ListBanksRequest())
        return [wire.bank_info_from_pb(info) for info in response.banks]

    def bank_names(self) -> list[str]:
        return [info.bank.name for info in self.list_banks()]

    def set_bank_enabled(self, name: str, enabled: bool) -> Bank:
        request = pb.SetBankEnabledRequest(name=name, enabled=enabled)
        return wire.bank_from_pb(self._call(self._banks.SetBankEnabled, request))

    def set_bank_thresholds(self, name: str, thresholds: Mapping[str, float]) -> Bank:
        request = pb.SetBankThresholdsRequest(name=name, thresholds=dict(thresholds))
        return wire.bank_from_pb(self._call(self._banks.SetBankThresholds, request))

    def set_bank_priority(self, name: str, priority: int | None) -> Bank:
        request = pb.SetBankPriorityRequest(name=name, priority=priority)
        return wire.bank_from_pb(self._call(self._banks.SetBankPriority, request))

    # Entries

    def add_entry(
        self, bank: str, signals: Sequence[Signal], **fields: Unpack[EntryFields]
    ) -> Entry:
        return self._add_signals(bank, signals, fields, upsert=False).entry

    def add_hashes(
        self, bank: str, signals: Sequence[Signal], **fields: Unpack[EntryFields]
    ) -> Added:
        """``Engine.add_hashes`` over AddSignals with ``upsert``: keyed by the file's MD5, so
        adding a file the bank has already updates its entry, and the outcome says which. A
        server from before ``upsert`` refuses such a file with :class:`AlreadyExists`."""
        from hashcore.engine import content_key

        fields["external_id"] = fields.get("external_id") or content_key(signals)
        return self._add_signals(bank, signals, fields, upsert=True)

    def _add_signals(
        self, bank: str, signals: Sequence[Signal], fields: EntryFields, *, upsert: bool
    ) -> Added:
        new = pb.NewEntry(
            signals=[wire.signal_to_pb(s) for s in signals],
            external_id=fields.get("external_id") or "",
            labels=list(fields.get("labels", ())),
            source=fields.get("source") or "",
        )
        request = pb.AddSignalsRequest(bank=bank, entries=[new], upsert=upsert)
        [added] = wire.added_from_pb(self._call(self._banks.AddSignals, request))
        return added

    def add_file(self, bank: str, path: Path, **fields: Unpack[FileFields]) -> Entry:
        """Add a file: sent as content, or (``hash_only``) hashed here and sent as signals;
        keyed by its MD5 either way, as :meth:`Engine.add_file` is."""
        if self.hash_only:
            signals = hashes_to_add(path, self.registry)
            return self.add_hashes(bank, signals, source=str(path), **fields).entry
        request = pb.AddContentRequest(
            bank=bank,
            content=_content(path),
            labels=list(fields.get("labels", ())),
            external_id=fields.get("external_id") or "",
        )
        return wire.entry_from_pb(self._call(self._banks.AddContent, request, CONTENT_TIMEOUT))

    def get_entry(self, bank: str, entry_id: int) -> Entry:
        request = pb.GetEntryRequest(bank=bank, entry_id=entry_id)
        return wire.entry_from_pb(self._call(self._banks.GetEntry, request))

    def iter_entries(self, bank: str) -> Iterator[Entry]:
        """Every entry of ``bank`` over ``ExportEntries``, as the server streams them (no
        deadline: a bank of millions takes as long as it takes; leaving the loop cancels)."""
        request = pb.ExportEntriesRequest(bank=bank)
        stream = self._banks.ExportEntries(request, metadata=self._metadata)
        try:
            for message in stream:
                yield from map(wire.entry_from_pb, message.entries)
        except grpc.RpcError as error:
            raise translate(error, self.address) from None
        finally:
            stream.cancel()

    def set_entry_status(self, bank: str, entry_id: int, status: EntryStatus) -> Entry:
        request = pb.SetEntryStatusRequest(bank=bank, entry_id=entry_id, status=status.value)
        return wire.entry_from_pb(self._call(self._banks.SetEntryStatus, request))

    def remove_entries(self, bank: str, entry_ids: Iterable[int]) -> int:
        request = pb.RemoveEntriesRequest(bank=bank, entry_ids=list(entry_ids))
        return int(self._call(self._banks.RemoveEntries, request).removed)

    def batch(self, *, catch_up: bool = True) -> AbstractContextManager[StoreWriter]:
        _not_remote("batch")

    def catch_up(self) -> None:
        """Nothing to do: the server's indexes catch up on every write it commits."""

    def compact(self, progress: Ticker | None = None) -> None:
        """The server compacts its indexes; it reports no progress, so ``progress`` stays."""
        self._call(self._banks.Compact, pb.CompactRequest(), CONTENT_TIMEOUT)

    def check(self, *, repair: bool = False) -> CheckReport:
        """The server's ``hashcore check`` of its store and loaded indexes (admin on ``*``)."""
        from hashcore.check import report_from_pb

        response = self._call(self._banks.Check, pb.CheckRequest(repair=repair), CONTENT_TIMEOUT)
        return report_from_pb(response)

    def index_status(self) -> dict[str, IndexStatus]:
        """Per family: live values and change-log position, as ``Engine.index_status``."""
        response = self._call(self._banks.IndexStatus, pb.IndexStatusRequest())
        return {
            f.family: IndexStatus(f.family, f.values, f.seq, f.origin) for f in response.families
        }

    def unindexed_families(self) -> dict[str, str]:
        response = self._call(self._banks.IndexStatus, pb.IndexStatusRequest())
        return dict(response.unindexed)

    def import_file_with(
        self, bank: str, path: Path, how: ImportOptions, progress: Ticker | None = None
    ) -> ImportSummary:
        """Send a feed file to be parsed and applied on the server (bank created if missing).

        The summary is the one a local ``import_updates`` returns, so ``hashcore import`` prints
        the same report either way. The server's importer has no strict mode, so ``strict``
        parses the file here first and refuses it, unsent, at its first problem; the server
        chooses its own batches and reports no progress.
        """
        from hashcore.formats.base import get_format
        from hashcore.formats.importer import ImportSummary, refused_whole
        from hashcore.formats.records import Problem

        _check_sendable(path)
        if how.strict:
            fmt = get_format(how.format, self.registry, how.format_options)
            with path.open("rb") as stream:
                first = next((i for i in fmt.read(stream) if isinstance(i, Problem)), None)
            if first is not None:
                raise InvalidInput(f"{path}: {first} (--strict: nothing imported)")
        if how.create is not None:
            fmt = get_format(how.format, self.registry, how.format_options)
            with path.open("rb") as stream:
                refused = refused_whole(fmt.read(stream))
            if refused is not None:  # a file refused whole: no bank, nothing sent
                summary = ImportSummary()
                for problem in refused:
                    summary.note_problem(problem)
                return summary
            self.create_bank_with(bank, how.create)
        sent = {key: str(value) for key, value in how.format_options.items()}
        if how.allow_mass_delete:
            sent[ALLOW_MASS_DELETE] = "true"
        request = pb.ImportUpdatesRequest(
            bank=bank, data=_read(path) or b"", format=how.format, options=sent
        )
        try:
            response = self._call(self._banks.ImportUpdates, request, CONTENT_TIMEOUT)
        except LimitExceeded as error:  # the server's limits speak of "content": name the file
            raise LimitExceeded(f"{path}: {error.message}", field=error.field) from None
        return ImportSummary(
            added=response.added,
            updated=response.updated,
            deleted=response.deleted,
            unchanged=response.unchanged,
            not_held=response.not_held,
            skipped=Counter(dict(response.skipped)),
            problems=[Problem(p.position, p.reason) for p in response.problems],
            problem_count=response.problem_count,
        )

    # Lookups

    def lookup_file(
        self,
        path: Path,
        *,
        thresholds: Mapping[str, float] | None = None,
        banks: Collection[str] | None = None,
    ) -> LookupResult:
        """Look a file up: sent as content, or (``hash_only``) hashed here, hashes sent."""
        if self.hash_only:
            hashes = hash_file(path, self.registry, variants=True)
            return lookup_hashed(self, hashes, thresholds=thresholds, banks=banks)
        try:
            request = pb.LookupRequest(
                content=_content(path), thresholds=dict(thresholds or {}), banks=list(banks or ())
            )
            result = wire.lookup_from_pb(
                self._call(self._matching.Lookup, request, CONTENT_TIMEOUT)
            )
        except (InvalidInput, LimitExceeded) as error:
            if not (isinstance(error, ContentError) or error.field == CONTENT):
                raise  # the call's own problem (a threshold, a bank): every file would fail
            return LookupResult(errors=[_named(error.message, path)], searched=False)
        result.errors = [_named(message, path) for message in result.errors]
        return result

    def lookup_signals(
        self,
        signals: Sequence[Signal],
        *,
        thresholds: Mapping[str, float] | None = None,
        banks: Collection[str] | None = None,
    ) -> LookupResult:
        request = pb.LookupRequest(
            signals=pb.SignalList(signals=[wire.signal_to_pb(s) for s in signals]),
            thresholds=dict(thresholds or {}),
            banks=list(banks or ()),
        )
        return wire.lookup_from_pb(self._call(self._matching.Lookup, request))

    def lookup_many(
        self,
        queries: Sequence[Sequence[Signal]],
        *,
        thresholds: Mapping[str, float] | None = None,
        banks: Collection[str] | None = None,
        batch_size: int = BATCH_SIZE,
    ) -> list[LookupResult]:
        """Many hash lookups through one ``LookupBatch`` stream, ``batch_size`` per message;
        a query the server refuses raises its error, whose field names its place in
        ``queries``."""

        def requests() -> Iterator[pb.LookupBatchRequest]:
            for start in range(0, len(queries), batch_size):
                batch = [
                    pb.Query(
                        query_id=str(number),
                        signals=pb.SignalList(signals=[wire.signal_to_pb(s) for s in signals]),
                    )
                    for number, signals in enumerate(queries[start : start + batch_size], start)
                ]
                yield self._batch_request(batch, thresholds, banks)

        results: list[LookupResult | None] = [None] * len(queries)
        stream = self._matching.LookupBatch(
            requests(), timeout=CONTENT_TIMEOUT, metadata=self._metadata
        )
        try:
            for response in stream:
                for answer in response.results:
                    if answer.HasField("error"):
                        refused = query_error(answer.error)
                        if refused.field and refused.field.startswith("queries["):
                            # The server counts within its message; name the caller's query.
                            rest = refused.field.partition("]")[2]
                            refused.field = f"queries[{answer.query_id}]{rest}"
                        raise refused
                    results[int(answer.query_id)] = wire.lookup_from_pb(answer.result)
        except grpc.RpcError as error:
            raise translate(error, self.address) from None
        finally:
            stream.cancel()
        answered = [result for result in results if result is not None]
        if len(answered) != len(queries):
            raise RemoteError(
                f"{self.address} answered {len(answered)} of {len(queries)} queries",
                code="INTERNAL",
            )
        return answered

    @staticmethod
    def _batch_request(
        batch: list[pb.Query],
        thresholds: Mapping[str, float] | None,
        banks: Collection[str] | None,
    ) -> pb.LookupBatchRequest:
        return pb.LookupBatchRequest(
            queries=batch, thresholds=dict(thresholds or {}), banks=list(banks or ())
        )


def _not_remote(verb: str) -> NoReturn:
    """A verb a server does not offer: the CLI prints this and exits 2."""
    raise NotRemote(
        f"{verb}() is not available with --server: run this verb on the server's machine",
        code="UNIMPLEMENTED",
    )


def is_loopback_address(address: str) -> bool:
    """Whether a ``host:port`` target (``dns:``/``ipv4:``/``ipv6:`` prefixes allowed) names this
    machine: ``localhost``, ``127.0.0.0/8``, ``::1`` or a unix socket."""
    if address.startswith(("unix:", "unix-abstract:")):
        return True
    for scheme in ("dns:///", "dns:", "ipv4:", "ipv6:"):
        if address.startswith(scheme):
            address = address[len(scheme) :]
            break
    host = address
    if host.startswith("["):
        host = host[1:].partition("]")[0]
    elif host.count(":") == 1:
        host = host.partition(":")[0]
    if host.lower() in ("localhost", "localhost.", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


IMPORT_FILE_BYTES = MAX_MESSAGE_BYTES - (1 << 20)
"""The largest feed file ``bank import --server`` sends: it travels in one message, which
also carries the bank, format and options."""


def _check_sendable(path: Path) -> None:
    """Refuse, before anything is sent or created, a feed file too large for one message."""
    try:
        size = path.stat().st_size
    except OSError:
        return  # reading it says why, in the same words as a local import
    if size > IMPORT_FILE_BYTES:
        raise LimitExceeded(
            f"{path} is {size / 2**20:,.0f} MiB: an import through a server sends the file in "
            f"one message of at most {IMPORT_FILE_BYTES / 2**20:,.0f} MiB; split the file, or "
            "import it on the server's machine (`hashcore bank import --store DIR`)"
        )


def _read(path: Path | None) -> bytes | None:
    if path is None:
        return None
    try:
        return path.read_bytes()
    except OSError as error:
        raise InvalidInput(f"cannot read {path}: {error.strerror or error}") from None


CONTENT = "content"
"""What the server calls uploaded content in messages (and the request field it is in)."""


def _content(path: Path) -> bytes:
    ensure_content(path)
    size = path.stat().st_size
    if size > MAX_MESSAGE_BYTES - 1024:
        raise LimitExceeded(
            f"{path}: {size:,} bytes is too large to send; try --hash-only", field=CONTENT
        )
    return path.read_bytes()


def _named(message: str, path: Path) -> str:
    """A message about uploaded content as a local lookup words it: naming the file."""
    if message.startswith(f"{CONTENT}: "):
        return f"{path}: {message.removeprefix(f'{CONTENT}: ')}"
    return message if message.startswith(str(path)) else f"{path}: {message}"
