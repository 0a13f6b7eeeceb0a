"""The ``Banks`` service: bank and entry administration, gated by the admin role."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Iterator, Sequence

from hashcore.api.v1 import hashcore_pb2 as pb
from hashcore.api.v1 import hashcore_pb2_grpc as pb_grpc
from hashcore.check import check_engine, report_to_pb
from hashcore.errors import ContentError, InvalidInput, LimitExceeded
from hashcore.model import Added, BankInfo
from hashcore.store.writer import check_bank_name
from hashcore_server import convert
from hashcore_server.auth import ADMIN, ALL, Principal
from hashcore_server.calls import Call, State, rpc, rpc_stream
from hashcore_server.importing import import_feed

log = logging.getLogger("hashcore.server")

MAX_ENTRIES_PER_CALL = 10_000
EXPORT_PAGE_ENTRIES = 1000
EXPORT_PAGE_BYTES = 1 << 20
"""An export message's size: far under gRPC's 4 MB default, few enough messages that their
per-message cost does not dominate (one entry a message ran at ~2.5x the local export's time)."""


def export_pages(entries: Iterable[pb.Entry]) -> Iterator[list[pb.Entry]]:
    """``entries`` in pages of up to ``EXPORT_PAGE_ENTRIES`` or about ``EXPORT_PAGE_BYTES``
    (a video's TMK feature is ~100 KB: a page of those holds a few)."""
    page: list[pb.Entry] = []
    size = 0
    for entry in entries:
        page.append(entry)
        size += entry.ByteSize()
        if len(page) >= EXPORT_PAGE_ENTRIES or size >= EXPORT_PAGE_BYTES:
            yield page
            page, size = [], 0
    if page:
        yield page


def _shown_to(info: BankInfo, principal: Principal) -> BankInfo:
    """``info`` as ``principal`` may read it: followers (partners' names and how far each has
    read) are for the bank's admins only, in ListBanks as in GetBank."""
    if principal.can(info.bank.name, ADMIN):
        return info
    return dataclasses.replace(info, followers=())


def _refuse_repeated_ids(external_ids: Sequence[str | None]) -> None:
    """An external id twice in one request is the request's mistake (INVALID_ARGUMENT), said
    as such: the store said the bank "already has" it, the request's own first copy, which the
    rolled-back batch never kept."""
    first: dict[str, int] = {}
    for index, external_id in enumerate(external_ids):
        if external_id is None:
            continue
        if external_id in first:
            earlier = first[external_id]
            raise InvalidInput(
                f"the request names external id {external_id!r} twice (entries[{earlier}] and "
                f"entries[{index}]); nothing was added",
                field=f"entries[{index}].external_id",
            )
        first[external_id] = index


class BanksServicer(pb_grpc.BanksServicer):  # type: ignore[misc]
    def __init__(self, state: State) -> None:
        self.state = state

    @rpc
    def CreateBank(self, request: pb.CreateBankRequest, call: Call) -> pb.Bank:
        try:  # the store checks it too, naming its own field ("bank")
            check_bank_name(request.name)
        except InvalidInput as error:
            raise InvalidInput(error.message, field="name") from None
        call.principal.require(request.name, ADMIN)
        thresholds = convert.thresholds_from_pb(request.thresholds, self.state.registry)
        bank = self.state.require_engine().create_bank(
            request.name,
            labels=convert.labels_from_pb(request.labels),
            source=request.source or None,
            enabled=not request.disabled,
            thresholds=thresholds,
            priority=request.priority if request.HasField("priority") else None,
        )
        log.info("bank %r created by %s", bank.name, call.principal.name)
        return convert.bank_to_pb(bank)

    @rpc
    def ListBanks(self, request: pb.ListBanksRequest, call: Call) -> pb.ListBanksResponse:
        infos = self.state.require_engine().list_banks()
        visible = set(call.principal.visible(i.bank.name for i in infos))
        return pb.ListBanksResponse(
            banks=[
                convert.bank_info_to_pb(_shown_to(i, call.principal))
                for i in infos
                if i.bank.name in visible
            ]
        )

    @rpc
    def GetBank(self, request: pb.GetBankRequest, call: Call) -> pb.BankInfo:
        self._require_visible(call, request.name)
        info = self.state.require_engine().get_bank(request.name)
        return convert.bank_info_to_pb(_shown_to(info, call.principal))

    @rpc
    def SetBankEnabled(self, request: pb.SetBankEnabledRequest, call: Call) -> pb.Bank:
        call.principal.require(request.name, ADMIN)
        bank = self.state.require_engine().set_bank_enabled(request.name, request.enabled)
        log.info(
            "bank %r %s by %s",
            bank.name,
            "enabled" if bank.enabled else "disabled",
            call.principal.name,
        )
        return convert.bank_to_pb(bank)

    @rpc
    def SetBankPriority(self, request: pb.SetBankPriorityRequest, call: Call) -> pb.Bank:
        call.principal.require(request.name, ADMIN)
        priority = request.priority if request.HasField("priority") else None
        bank = self.state.require_engine().set_bank_priority(request.name, priority)
        log.info("bank %r priority %s by %s", bank.name, bank.priority, call.principal.name)
        return convert.bank_to_pb(bank)

    @rpc
    def SetBankThresholds(self, request: pb.SetBankThresholdsRequest, call: Call) -> pb.Bank:
        call.principal.require(request.name, ADMIN)
        thresholds = convert.thresholds_from_pb(request.thresholds, self.state.registry)
        bank = self.state.require_engine().set_bank_thresholds(request.name, thresholds or {})
        log.info(
            "bank %r thresholds %s by %s", bank.name, dict(bank.thresholds), call.principal.name
        )
        return convert.bank_to_pb(bank)

    @rpc
    def AddContent(self, request: pb.AddContentRequest, call: Call) -> pb.Entry:
        call.principal.require(request.bank, ADMIN)
        self.state.check_content(request.content, "content")
        labels = convert.labels_from_pb(request.labels)
        engine = self.state.require_engine()
        # Hashed here rather than with engine.add_file, which would record the temporary
        # file's path as the entry's source.
        with self.state.cpu_slot(call):
            hashes = self.state.hash_content(request.content, variants=False)
            if not any(signal.usable for signal in hashes.signals):
                reasons = "; ".join(hashes.messages()) or "no usable hash"
                raise ContentError(f"nothing to add: {reasons}", field="content")
            if request.external_id:
                entry = engine.add_entry(
                    request.bank, hashes.signals, labels=labels, external_id=request.external_id
                )
            else:  # keyed by the content's MD5: sending the same file again updates its entry
                entry = engine.add_hashes(request.bank, hashes.signals, labels=labels).entry
        return convert.entry_to_pb(entry)

    @rpc
    def AddSignals(self, request: pb.AddSignalsRequest, call: Call) -> pb.AddSignalsResponse:
        call.principal.require(request.bank, ADMIN)
        if len(request.entries) > MAX_ENTRIES_PER_CALL:
            raise LimitExceeded(
                f"{len(request.entries)} entries in one call; the limit is {MAX_ENTRIES_PER_CALL}",
                field="entries",
            )
        registry = self.state.registry
        new = [
            (
                convert.signals_from_pb(e.signals, registry, f"entries[{i}].signals"),
                e.external_id or None,
                convert.labels_from_pb(e.labels, f"entries[{i}].labels"),
                e.source or None,
            )
            for i, e in enumerate(request.entries)
        ]
        if not request.upsert:
            _refuse_repeated_ids([external_id for _, external_id, _, _ in new])
        engine = self.state.require_engine()
        added: list[Added] = []
        with self.state.cpu_slot(call), engine.batch() as writer:  # one transaction
            for signals, external_id, labels, source in new:
                if request.upsert and external_id is not None:
                    add = writer.add_file(
                        request.bank, external_id, signals, labels=labels, source=source
                    )
                else:
                    add = Added(
                        writer.add_entry(
                            request.bank,
                            signals,
                            external_id=external_id,
                            labels=labels,
                            source=source,
                        )
                    )
                added.append(add)
        return pb.AddSignalsResponse(
            entries=[convert.entry_to_pb(a.entry) for a in added],
            outcomes=[a.outcome.value for a in added] if request.upsert else [],
        )

    @rpc
    def GetEntry(self, request: pb.GetEntryRequest, call: Call) -> pb.Entry:
        # Admin only: entries carry hashes, and a lookup partner should not be able to page
        # through a bank's hashes one id at a time.
        call.principal.require(request.bank, ADMIN)
        entry = self.state.require_engine().get_entry(request.bank, request.entry_id)
        return convert.entry_to_pb(entry)

    @rpc_stream
    def ExportEntries(
        self, request: pb.ExportEntriesRequest, call: Call
    ) -> Iterator[pb.ExportEntriesResponse]:
        # Admin only, as GetEntry: a lookup partner must not read a bank's hashes out.
        call.principal.require(request.bank, ADMIN)
        engine = self.state.require_engine()
        engine.get_bank(request.bank)  # an unknown bank fails before the stream's first entry
        count = 0
        for page in export_pages(convert.entry_to_pb(e) for e in engine.iter_entries(request.bank)):
            yield pb.ExportEntriesResponse(entries=page)
            count += len(page)
        log.info("bank %r exported (%d entries) by %s", request.bank, count, call.principal.name)

    @rpc
    def SetEntryStatus(self, request: pb.SetEntryStatusRequest, call: Call) -> pb.Entry:
        call.principal.require(request.bank, ADMIN)
        status = convert.status_from_pb(request.status)
        entry = self.state.require_engine().set_entry_status(request.bank, request.entry_id, status)
        return convert.entry_to_pb(entry)

    @rpc
    def RemoveEntries(
        self, request: pb.RemoveEntriesRequest, call: Call
    ) -> pb.RemoveEntriesResponse:
        call.principal.require(request.bank, ADMIN)
        removed = self.state.require_engine().remove_entries(request.bank, list(request.entry_ids))
        log.info("%d entries removed from %r by %s", removed, request.bank, call.principal.name)
        return pb.RemoveEntriesResponse(removed=removed)

    @rpc
    def Compact(self, request: pb.CompactRequest, call: Call) -> pb.CompactResponse:
        call.principal.require(ALL, ADMIN)
        with self.state.cpu_slot(call):
            self.state.require_engine().compact()
        return pb.CompactResponse()

    @rpc
    def Check(self, request: pb.CheckRequest, call: Call) -> pb.CheckResponse:
        call.principal.require(ALL, ADMIN)
        with self.state.cpu_slot(call):
            report = check_engine(self.state.require_engine(), repair=request.repair)
        log.info(
            "check%s by %s: %s",
            " --repair" if request.repair else "",
            call.principal.name,
            "consistent" if report.ok else "INCONSISTENT",
        )
        response: pb.CheckResponse = report_to_pb(report)
        return response

    @rpc
    def IndexStatus(self, request: pb.IndexStatusRequest, call: Call) -> pb.IndexStatusResponse:
        call.principal.require(ALL, ADMIN)
        engine = self.state.require_engine()
        return pb.IndexStatusResponse(
            families=[
                pb.FamilyIndex(
                    family=family, values=state.values, seq=state.seq, origin=state.origin
                )
                for family, state in sorted(engine.index_status().items())
            ],
            unindexed=engine.unindexed_families(),
        )

    @rpc
    def ImportUpdates(
        self, request: pb.ImportUpdatesRequest, call: Call
    ) -> pb.ImportUpdatesResponse:
        call.principal.require(request.bank, ADMIN)
        self.state.check_content(request.data, "data")
        with self.state.cpu_slot(call):
            return import_feed(self.state, request)

    def _require_visible(self, call: Call, bank: str) -> None:
        if not bank:
            raise InvalidInput("a bank name is required", field="name")
        if call.principal.role_for(bank) is None:
            call.principal.require(bank, "lookup")
