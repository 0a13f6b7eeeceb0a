import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Signal(_message.Message):
    __slots__ = ("type", "value", "quality", "unusable", "variant", "hex")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    QUALITY_FIELD_NUMBER: _ClassVar[int]
    UNUSABLE_FIELD_NUMBER: _ClassVar[int]
    VARIANT_FIELD_NUMBER: _ClassVar[int]
    HEX_FIELD_NUMBER: _ClassVar[int]
    type: str
    value: bytes
    quality: int
    unusable: bool
    variant: str
    hex: str
    def __init__(self, type: _Optional[str] = ..., value: _Optional[bytes] = ..., quality: _Optional[int] = ..., unusable: _Optional[bool] = ..., variant: _Optional[str] = ..., hex: _Optional[str] = ...) -> None: ...

class HashFailure(_message.Message):
    __slots__ = ("type", "message")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    type: str
    message: str
    def __init__(self, type: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class HashRequest(_message.Message):
    __slots__ = ("content", "variants")
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    VARIANTS_FIELD_NUMBER: _ClassVar[int]
    content: bytes
    variants: bool
    def __init__(self, content: _Optional[bytes] = ..., variants: _Optional[bool] = ...) -> None: ...

class HashResponse(_message.Message):
    __slots__ = ("kind", "signals", "errors")
    KIND_FIELD_NUMBER: _ClassVar[int]
    SIGNALS_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    kind: str
    signals: _containers.RepeatedCompositeFieldContainer[Signal]
    errors: _containers.RepeatedCompositeFieldContainer[HashFailure]
    def __init__(self, kind: _Optional[str] = ..., signals: _Optional[_Iterable[_Union[Signal, _Mapping]]] = ..., errors: _Optional[_Iterable[_Union[HashFailure, _Mapping]]] = ...) -> None: ...

class SignalList(_message.Message):
    __slots__ = ("signals",)
    SIGNALS_FIELD_NUMBER: _ClassVar[int]
    signals: _containers.RepeatedCompositeFieldContainer[Signal]
    def __init__(self, signals: _Optional[_Iterable[_Union[Signal, _Mapping]]] = ...) -> None: ...

class LookupRequest(_message.Message):
    __slots__ = ("content", "signals", "thresholds", "banks")
    class ThresholdsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    SIGNALS_FIELD_NUMBER: _ClassVar[int]
    THRESHOLDS_FIELD_NUMBER: _ClassVar[int]
    BANKS_FIELD_NUMBER: _ClassVar[int]
    content: bytes
    signals: SignalList
    thresholds: _containers.ScalarMap[str, float]
    banks: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, content: _Optional[bytes] = ..., signals: _Optional[_Union[SignalList, _Mapping]] = ..., thresholds: _Optional[_Mapping[str, float]] = ..., banks: _Optional[_Iterable[str]] = ...) -> None: ...

class SignalHit(_message.Message):
    __slots__ = ("type", "distance", "variant", "stored_variant", "weak", "detail")
    class DetailEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    TYPE_FIELD_NUMBER: _ClassVar[int]
    DISTANCE_FIELD_NUMBER: _ClassVar[int]
    VARIANT_FIELD_NUMBER: _ClassVar[int]
    STORED_VARIANT_FIELD_NUMBER: _ClassVar[int]
    WEAK_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    type: str
    distance: float
    variant: str
    stored_variant: str
    weak: bool
    detail: _containers.ScalarMap[str, float]
    def __init__(self, type: _Optional[str] = ..., distance: _Optional[float] = ..., variant: _Optional[str] = ..., stored_variant: _Optional[str] = ..., weak: _Optional[bool] = ..., detail: _Optional[_Mapping[str, float]] = ...) -> None: ...

class Match(_message.Message):
    __slots__ = ("bank", "entry_id", "external_id", "labels", "signals", "confidence", "origin")
    BANK_FIELD_NUMBER: _ClassVar[int]
    ENTRY_ID_FIELD_NUMBER: _ClassVar[int]
    EXTERNAL_ID_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    SIGNALS_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    ORIGIN_FIELD_NUMBER: _ClassVar[int]
    bank: str
    entry_id: int
    external_id: str
    labels: _containers.RepeatedScalarFieldContainer[str]
    signals: _containers.RepeatedCompositeFieldContainer[SignalHit]
    confidence: float
    origin: EntryOrigin
    def __init__(self, bank: _Optional[str] = ..., entry_id: _Optional[int] = ..., external_id: _Optional[str] = ..., labels: _Optional[_Iterable[str]] = ..., signals: _Optional[_Iterable[_Union[SignalHit, _Mapping]]] = ..., confidence: _Optional[float] = ..., origin: _Optional[_Union[EntryOrigin, _Mapping]] = ...) -> None: ...

class Skipped(_message.Message):
    __slots__ = ("type", "reason")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    type: str
    reason: str
    def __init__(self, type: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class SetAside(_message.Message):
    __slots__ = ("bank", "entry_id", "external_id")
    BANK_FIELD_NUMBER: _ClassVar[int]
    ENTRY_ID_FIELD_NUMBER: _ClassVar[int]
    EXTERNAL_ID_FIELD_NUMBER: _ClassVar[int]
    bank: str
    entry_id: int
    external_id: str
    def __init__(self, bank: _Optional[str] = ..., entry_id: _Optional[int] = ..., external_id: _Optional[str] = ...) -> None: ...

class LookupResponse(_message.Message):
    __slots__ = ("matches", "skipped", "errors", "set_aside")
    MATCHES_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    SET_ASIDE_FIELD_NUMBER: _ClassVar[int]
    matches: _containers.RepeatedCompositeFieldContainer[Match]
    skipped: _containers.RepeatedCompositeFieldContainer[Skipped]
    errors: _containers.RepeatedScalarFieldContainer[str]
    set_aside: _containers.RepeatedCompositeFieldContainer[SetAside]
    def __init__(self, matches: _Optional[_Iterable[_Union[Match, _Mapping]]] = ..., skipped: _Optional[_Iterable[_Union[Skipped, _Mapping]]] = ..., errors: _Optional[_Iterable[str]] = ..., set_aside: _Optional[_Iterable[_Union[SetAside, _Mapping]]] = ...) -> None: ...

class Query(_message.Message):
    __slots__ = ("query_id", "content", "signals")
    QUERY_ID_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    SIGNALS_FIELD_NUMBER: _ClassVar[int]
    query_id: str
    content: bytes
    signals: SignalList
    def __init__(self, query_id: _Optional[str] = ..., content: _Optional[bytes] = ..., signals: _Optional[_Union[SignalList, _Mapping]] = ...) -> None: ...

class LookupBatchRequest(_message.Message):
    __slots__ = ("queries", "thresholds", "banks")
    class ThresholdsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    QUERIES_FIELD_NUMBER: _ClassVar[int]
    THRESHOLDS_FIELD_NUMBER: _ClassVar[int]
    BANKS_FIELD_NUMBER: _ClassVar[int]
    queries: _containers.RepeatedCompositeFieldContainer[Query]
    thresholds: _containers.ScalarMap[str, float]
    banks: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, queries: _Optional[_Iterable[_Union[Query, _Mapping]]] = ..., thresholds: _Optional[_Mapping[str, float]] = ..., banks: _Optional[_Iterable[str]] = ...) -> None: ...

class QueryError(_message.Message):
    __slots__ = ("code", "message", "field")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    code: str
    message: str
    field: str
    def __init__(self, code: _Optional[str] = ..., message: _Optional[str] = ..., field: _Optional[str] = ...) -> None: ...

class QueryResult(_message.Message):
    __slots__ = ("query_id", "result", "error")
    QUERY_ID_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    query_id: str
    result: LookupResponse
    error: QueryError
    def __init__(self, query_id: _Optional[str] = ..., result: _Optional[_Union[LookupResponse, _Mapping]] = ..., error: _Optional[_Union[QueryError, _Mapping]] = ...) -> None: ...

class LookupBatchResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[QueryResult]
    def __init__(self, results: _Optional[_Iterable[_Union[QueryResult, _Mapping]]] = ...) -> None: ...

class WatchMatchesRequest(_message.Message):
    __slots__ = ("banks",)
    BANKS_FIELD_NUMBER: _ClassVar[int]
    banks: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, banks: _Optional[_Iterable[str]] = ...) -> None: ...

class MatchEvent(_message.Message):
    __slots__ = ("time", "bank", "entry_id", "external_id", "labels", "families", "signals", "caller", "request_id", "confidence")
    TIME_FIELD_NUMBER: _ClassVar[int]
    BANK_FIELD_NUMBER: _ClassVar[int]
    ENTRY_ID_FIELD_NUMBER: _ClassVar[int]
    EXTERNAL_ID_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    FAMILIES_FIELD_NUMBER: _ClassVar[int]
    SIGNALS_FIELD_NUMBER: _ClassVar[int]
    CALLER_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    time: _timestamp_pb2.Timestamp
    bank: str
    entry_id: int
    external_id: str
    labels: _containers.RepeatedScalarFieldContainer[str]
    families: _containers.RepeatedScalarFieldContainer[str]
    signals: _containers.RepeatedCompositeFieldContainer[SignalHit]
    caller: str
    request_id: str
    confidence: float
    def __init__(self, time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., bank: _Optional[str] = ..., entry_id: _Optional[int] = ..., external_id: _Optional[str] = ..., labels: _Optional[_Iterable[str]] = ..., families: _Optional[_Iterable[str]] = ..., signals: _Optional[_Iterable[_Union[SignalHit, _Mapping]]] = ..., caller: _Optional[str] = ..., request_id: _Optional[str] = ..., confidence: _Optional[float] = ...) -> None: ...

class Bank(_message.Message):
    __slots__ = ("name", "labels", "source", "enabled", "thresholds", "created_at", "priority")
    class ThresholdsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    THRESHOLDS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    name: str
    labels: _containers.RepeatedScalarFieldContainer[str]
    source: str
    enabled: bool
    thresholds: _containers.ScalarMap[str, float]
    created_at: _timestamp_pb2.Timestamp
    priority: int
    def __init__(self, name: _Optional[str] = ..., labels: _Optional[_Iterable[str]] = ..., source: _Optional[str] = ..., enabled: _Optional[bool] = ..., thresholds: _Optional[_Mapping[str, float]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., priority: _Optional[int] = ...) -> None: ...

class BankInfo(_message.Message):
    __slots__ = ("bank", "entries", "signals_per_family", "followers")
    class SignalsPerFamilyEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    BANK_FIELD_NUMBER: _ClassVar[int]
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    SIGNALS_PER_FAMILY_FIELD_NUMBER: _ClassVar[int]
    FOLLOWERS_FIELD_NUMBER: _ClassVar[int]
    bank: Bank
    entries: int
    signals_per_family: _containers.ScalarMap[str, int]
    followers: _containers.RepeatedCompositeFieldContainer[FollowerPosition]
    def __init__(self, bank: _Optional[_Union[Bank, _Mapping]] = ..., entries: _Optional[int] = ..., signals_per_family: _Optional[_Mapping[str, int]] = ..., followers: _Optional[_Iterable[_Union[FollowerPosition, _Mapping]]] = ...) -> None: ...

class CreateBankRequest(_message.Message):
    __slots__ = ("name", "labels", "source", "disabled", "thresholds", "priority")
    class ThresholdsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    DISABLED_FIELD_NUMBER: _ClassVar[int]
    THRESHOLDS_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    name: str
    labels: _containers.RepeatedScalarFieldContainer[str]
    source: str
    disabled: bool
    thresholds: _containers.ScalarMap[str, float]
    priority: int
    def __init__(self, name: _Optional[str] = ..., labels: _Optional[_Iterable[str]] = ..., source: _Optional[str] = ..., disabled: _Optional[bool] = ..., thresholds: _Optional[_Mapping[str, float]] = ..., priority: _Optional[int] = ...) -> None: ...

class ListBanksRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListBanksResponse(_message.Message):
    __slots__ = ("banks",)
    BANKS_FIELD_NUMBER: _ClassVar[int]
    banks: _containers.RepeatedCompositeFieldContainer[BankInfo]
    def __init__(self, banks: _Optional[_Iterable[_Union[BankInfo, _Mapping]]] = ...) -> None: ...

class GetBankRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class SetBankEnabledRequest(_message.Message):
    __slots__ = ("name", "enabled")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    name: str
    enabled: bool
    def __init__(self, name: _Optional[str] = ..., enabled: _Optional[bool] = ...) -> None: ...

class SetBankPriorityRequest(_message.Message):
    __slots__ = ("name", "priority")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    name: str
    priority: int
    def __init__(self, name: _Optional[str] = ..., priority: _Optional[int] = ...) -> None: ...

class SetBankThresholdsRequest(_message.Message):
    __slots__ = ("name", "thresholds")
    class ThresholdsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    THRESHOLDS_FIELD_NUMBER: _ClassVar[int]
    name: str
    thresholds: _containers.ScalarMap[str, float]
    def __init__(self, name: _Optional[str] = ..., thresholds: _Optional[_Mapping[str, float]] = ...) -> None: ...

class Entry(_message.Message):
    __slots__ = ("id", "bank", "external_id", "labels", "source", "status", "created_at", "updated_at", "signals")
    ID_FIELD_NUMBER: _ClassVar[int]
    BANK_FIELD_NUMBER: _ClassVar[int]
    EXTERNAL_ID_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    SIGNALS_FIELD_NUMBER: _ClassVar[int]
    id: int
    bank: str
    external_id: str
    labels: _containers.RepeatedScalarFieldContainer[str]
    source: str
    status: str
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    signals: _containers.RepeatedCompositeFieldContainer[Signal]
    def __init__(self, id: _Optional[int] = ..., bank: _Optional[str] = ..., external_id: _Optional[str] = ..., labels: _Optional[_Iterable[str]] = ..., source: _Optional[str] = ..., status: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., signals: _Optional[_Iterable[_Union[Signal, _Mapping]]] = ...) -> None: ...

class AddContentRequest(_message.Message):
    __slots__ = ("bank", "content", "labels", "external_id")
    BANK_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    EXTERNAL_ID_FIELD_NUMBER: _ClassVar[int]
    bank: str
    content: bytes
    labels: _containers.RepeatedScalarFieldContainer[str]
    external_id: str
    def __init__(self, bank: _Optional[str] = ..., content: _Optional[bytes] = ..., labels: _Optional[_Iterable[str]] = ..., external_id: _Optional[str] = ...) -> None: ...

class NewEntry(_message.Message):
    __slots__ = ("signals", "external_id", "labels", "source")
    SIGNALS_FIELD_NUMBER: _ClassVar[int]
    EXTERNAL_ID_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    signals: _containers.RepeatedCompositeFieldContainer[Signal]
    external_id: str
    labels: _containers.RepeatedScalarFieldContainer[str]
    source: str
    def __init__(self, signals: _Optional[_Iterable[_Union[Signal, _Mapping]]] = ..., external_id: _Optional[str] = ..., labels: _Optional[_Iterable[str]] = ..., source: _Optional[str] = ...) -> None: ...

class AddSignalsRequest(_message.Message):
    __slots__ = ("bank", "entries", "upsert")
    BANK_FIELD_NUMBER: _ClassVar[int]
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    UPSERT_FIELD_NUMBER: _ClassVar[int]
    bank: str
    entries: _containers.RepeatedCompositeFieldContainer[NewEntry]
    upsert: bool
    def __init__(self, bank: _Optional[str] = ..., entries: _Optional[_Iterable[_Union[NewEntry, _Mapping]]] = ..., upsert: _Optional[bool] = ...) -> None: ...

class AddSignalsResponse(_message.Message):
    __slots__ = ("entries", "outcomes")
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    OUTCOMES_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[Entry]
    outcomes: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, entries: _Optional[_Iterable[_Union[Entry, _Mapping]]] = ..., outcomes: _Optional[_Iterable[str]] = ...) -> None: ...

class GetEntryRequest(_message.Message):
    __slots__ = ("bank", "entry_id")
    BANK_FIELD_NUMBER: _ClassVar[int]
    ENTRY_ID_FIELD_NUMBER: _ClassVar[int]
    bank: str
    entry_id: int
    def __init__(self, bank: _Optional[str] = ..., entry_id: _Optional[int] = ...) -> None: ...

class ExportEntriesRequest(_message.Message):
    __slots__ = ("bank",)
    BANK_FIELD_NUMBER: _ClassVar[int]
    bank: str
    def __init__(self, bank: _Optional[str] = ...) -> None: ...

class ExportEntriesResponse(_message.Message):
    __slots__ = ("entries",)
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[Entry]
    def __init__(self, entries: _Optional[_Iterable[_Union[Entry, _Mapping]]] = ...) -> None: ...

class SetEntryStatusRequest(_message.Message):
    __slots__ = ("bank", "entry_id", "status")
    BANK_FIELD_NUMBER: _ClassVar[int]
    ENTRY_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    bank: str
    entry_id: int
    status: str
    def __init__(self, bank: _Optional[str] = ..., entry_id: _Optional[int] = ..., status: _Optional[str] = ...) -> None: ...

class RemoveEntriesRequest(_message.Message):
    __slots__ = ("bank", "entry_ids")
    BANK_FIELD_NUMBER: _ClassVar[int]
    ENTRY_IDS_FIELD_NUMBER: _ClassVar[int]
    bank: str
    entry_ids: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, bank: _Optional[str] = ..., entry_ids: _Optional[_Iterable[int]] = ...) -> None: ...

class RemoveEntriesResponse(_message.Message):
    __slots__ = ("removed",)
    REMOVED_FIELD_NUMBER: _ClassVar[int]
    removed: int
    def __init__(self, removed: _Optional[int] = ...) -> None: ...

class CompactRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class CompactResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class IndexStatusRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class FamilyIndex(_message.Message):
    __slots__ = ("family", "values", "seq", "origin")
    FAMILY_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    ORIGIN_FIELD_NUMBER: _ClassVar[int]
    family: str
    values: int
    seq: int
    origin: str
    def __init__(self, family: _Optional[str] = ..., values: _Optional[int] = ..., seq: _Optional[int] = ..., origin: _Optional[str] = ...) -> None: ...

class IndexStatusResponse(_message.Message):
    __slots__ = ("families", "unindexed")
    class UnindexedEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    FAMILIES_FIELD_NUMBER: _ClassVar[int]
    UNINDEXED_FIELD_NUMBER: _ClassVar[int]
    families: _containers.RepeatedCompositeFieldContainer[FamilyIndex]
    unindexed: _containers.ScalarMap[str, str]
    def __init__(self, families: _Optional[_Iterable[_Union[FamilyIndex, _Mapping]]] = ..., unindexed: _Optional[_Mapping[str, str]] = ...) -> None: ...

class ImportUpdatesRequest(_message.Message):
    __slots__ = ("bank", "data", "format", "options")
    class OptionsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    BANK_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    bank: str
    data: bytes
    format: str
    options: _containers.ScalarMap[str, str]
    def __init__(self, bank: _Optional[str] = ..., data: _Optional[bytes] = ..., format: _Optional[str] = ..., options: _Optional[_Mapping[str, str]] = ...) -> None: ...

class ImportUpdatesResponse(_message.Message):
    __slots__ = ("added", "updated", "deleted", "unchanged", "skipped", "problems", "problem_count", "not_held")
    class SkippedEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    ADDED_FIELD_NUMBER: _ClassVar[int]
    UPDATED_FIELD_NUMBER: _ClassVar[int]
    DELETED_FIELD_NUMBER: _ClassVar[int]
    UNCHANGED_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_FIELD_NUMBER: _ClassVar[int]
    PROBLEMS_FIELD_NUMBER: _ClassVar[int]
    PROBLEM_COUNT_FIELD_NUMBER: _ClassVar[int]
    NOT_HELD_FIELD_NUMBER: _ClassVar[int]
    added: int
    updated: int
    deleted: int
    unchanged: int
    skipped: _containers.ScalarMap[str, int]
    problems: _containers.RepeatedCompositeFieldContainer[ImportProblem]
    problem_count: int
    not_held: int
    def __init__(self, added: _Optional[int] = ..., updated: _Optional[int] = ..., deleted: _Optional[int] = ..., unchanged: _Optional[int] = ..., skipped: _Optional[_Mapping[str, int]] = ..., problems: _Optional[_Iterable[_Union[ImportProblem, _Mapping]]] = ..., problem_count: _Optional[int] = ..., not_held: _Optional[int] = ...) -> None: ...

class ImportProblem(_message.Message):
    __slots__ = ("position", "reason")
    POSITION_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    position: str
    reason: str
    def __init__(self, position: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class CheckRequest(_message.Message):
    __slots__ = ("repair",)
    REPAIR_FIELD_NUMBER: _ClassVar[int]
    repair: bool
    def __init__(self, repair: _Optional[bool] = ...) -> None: ...

class CheckResult(_message.Message):
    __slots__ = ("name", "problems", "examples", "detail")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PROBLEMS_FIELD_NUMBER: _ClassVar[int]
    EXAMPLES_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    name: str
    problems: int
    examples: _containers.RepeatedScalarFieldContainer[str]
    detail: str
    def __init__(self, name: _Optional[str] = ..., problems: _Optional[int] = ..., examples: _Optional[_Iterable[str]] = ..., detail: _Optional[str] = ...) -> None: ...

class CheckResponse(_message.Message):
    __slots__ = ("ok", "results", "before_repair", "repaired", "seconds", "repair")
    OK_FIELD_NUMBER: _ClassVar[int]
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    BEFORE_REPAIR_FIELD_NUMBER: _ClassVar[int]
    REPAIRED_FIELD_NUMBER: _ClassVar[int]
    SECONDS_FIELD_NUMBER: _ClassVar[int]
    REPAIR_FIELD_NUMBER: _ClassVar[int]
    ok: bool
    results: _containers.RepeatedCompositeFieldContainer[CheckResult]
    before_repair: _containers.RepeatedCompositeFieldContainer[CheckResult]
    repaired: _containers.RepeatedScalarFieldContainer[str]
    seconds: float
    repair: bool
    def __init__(self, ok: _Optional[bool] = ..., results: _Optional[_Iterable[_Union[CheckResult, _Mapping]]] = ..., before_repair: _Optional[_Iterable[_Union[CheckResult, _Mapping]]] = ..., repaired: _Optional[_Iterable[str]] = ..., seconds: _Optional[float] = ..., repair: _Optional[bool] = ...) -> None: ...

class OpinionItem(_message.Message):
    __slots__ = ("bank", "external_id", "kind", "note", "author", "created_at", "hashes", "uid")
    BANK_FIELD_NUMBER: _ClassVar[int]
    EXTERNAL_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    AUTHOR_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    HASHES_FIELD_NUMBER: _ClassVar[int]
    UID_FIELD_NUMBER: _ClassVar[int]
    bank: str
    external_id: str
    kind: str
    note: str
    author: str
    created_at: float
    hashes: _containers.RepeatedCompositeFieldContainer[Signal]
    uid: str
    def __init__(self, bank: _Optional[str] = ..., external_id: _Optional[str] = ..., kind: _Optional[str] = ..., note: _Optional[str] = ..., author: _Optional[str] = ..., created_at: _Optional[float] = ..., hashes: _Optional[_Iterable[_Union[Signal, _Mapping]]] = ..., uid: _Optional[str] = ...) -> None: ...

class RecordOpinionRequest(_message.Message):
    __slots__ = ("opinion",)
    OPINION_FIELD_NUMBER: _ClassVar[int]
    opinion: OpinionItem
    def __init__(self, opinion: _Optional[_Union[OpinionItem, _Mapping]] = ...) -> None: ...

class OpinionRecord(_message.Message):
    __slots__ = ("opinion", "id", "origin", "duplicate")
    OPINION_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    ORIGIN_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    opinion: OpinionItem
    id: int
    origin: str
    duplicate: bool
    def __init__(self, opinion: _Optional[_Union[OpinionItem, _Mapping]] = ..., id: _Optional[int] = ..., origin: _Optional[str] = ..., duplicate: _Optional[bool] = ...) -> None: ...

class ListOpinionsRequest(_message.Message):
    __slots__ = ("bank", "external_id")
    BANK_FIELD_NUMBER: _ClassVar[int]
    EXTERNAL_ID_FIELD_NUMBER: _ClassVar[int]
    bank: str
    external_id: str
    def __init__(self, bank: _Optional[str] = ..., external_id: _Optional[str] = ...) -> None: ...

class ListOpinionsResponse(_message.Message):
    __slots__ = ("opinions",)
    OPINIONS_FIELD_NUMBER: _ClassVar[int]
    opinions: _containers.RepeatedCompositeFieldContainer[OpinionRecord]
    def __init__(self, opinions: _Optional[_Iterable[_Union[OpinionRecord, _Mapping]]] = ...) -> None: ...

class SubmitOpinionsRequest(_message.Message):
    __slots__ = ("opinions",)
    OPINIONS_FIELD_NUMBER: _ClassVar[int]
    opinions: _containers.RepeatedCompositeFieldContainer[OpinionItem]
    def __init__(self, opinions: _Optional[_Iterable[_Union[OpinionItem, _Mapping]]] = ...) -> None: ...

class OpinionRejected(_message.Message):
    __slots__ = ("index", "reason")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    index: int
    reason: str
    def __init__(self, index: _Optional[int] = ..., reason: _Optional[str] = ...) -> None: ...

class SubmitOpinionsResponse(_message.Message):
    __slots__ = ("stored", "duplicates", "rejected")
    STORED_FIELD_NUMBER: _ClassVar[int]
    DUPLICATES_FIELD_NUMBER: _ClassVar[int]
    REJECTED_FIELD_NUMBER: _ClassVar[int]
    stored: int
    duplicates: int
    rejected: _containers.RepeatedCompositeFieldContainer[OpinionRejected]
    def __init__(self, stored: _Optional[int] = ..., duplicates: _Optional[int] = ..., rejected: _Optional[_Iterable[_Union[OpinionRejected, _Mapping]]] = ...) -> None: ...

class FollowBankRequest(_message.Message):
    __slots__ = ("bank", "after", "until_caught_up", "heartbeat_seconds")
    BANK_FIELD_NUMBER: _ClassVar[int]
    AFTER_FIELD_NUMBER: _ClassVar[int]
    UNTIL_CAUGHT_UP_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_SECONDS_FIELD_NUMBER: _ClassVar[int]
    bank: str
    after: str
    until_caught_up: bool
    heartbeat_seconds: float
    def __init__(self, bank: _Optional[str] = ..., after: _Optional[str] = ..., until_caught_up: _Optional[bool] = ..., heartbeat_seconds: _Optional[float] = ...) -> None: ...

class SharedEntry(_message.Message):
    __slots__ = ("entry", "removed", "external_id")
    ENTRY_FIELD_NUMBER: _ClassVar[int]
    REMOVED_FIELD_NUMBER: _ClassVar[int]
    EXTERNAL_ID_FIELD_NUMBER: _ClassVar[int]
    entry: Entry
    removed: bool
    external_id: str
    def __init__(self, entry: _Optional[_Union[Entry, _Mapping]] = ..., removed: _Optional[bool] = ..., external_id: _Optional[str] = ...) -> None: ...

class FollowBankResponse(_message.Message):
    __slots__ = ("bank", "checkpoint", "entries", "caught_up", "sent_at")
    BANK_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    CAUGHT_UP_FIELD_NUMBER: _ClassVar[int]
    SENT_AT_FIELD_NUMBER: _ClassVar[int]
    bank: str
    checkpoint: str
    entries: _containers.RepeatedCompositeFieldContainer[SharedEntry]
    caught_up: bool
    sent_at: _timestamp_pb2.Timestamp
    def __init__(self, bank: _Optional[str] = ..., checkpoint: _Optional[str] = ..., entries: _Optional[_Iterable[_Union[SharedEntry, _Mapping]]] = ..., caught_up: _Optional[bool] = ..., sent_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class EntryOrigin(_message.Message):
    __slots__ = ("partner", "remote_bank", "checkpoint", "received_at")
    PARTNER_FIELD_NUMBER: _ClassVar[int]
    REMOTE_BANK_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    RECEIVED_AT_FIELD_NUMBER: _ClassVar[int]
    partner: str
    remote_bank: str
    checkpoint: str
    received_at: _timestamp_pb2.Timestamp
    def __init__(self, partner: _Optional[str] = ..., remote_bank: _Optional[str] = ..., checkpoint: _Optional[str] = ..., received_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class FollowerPosition(_message.Message):
    __slots__ = ("partner", "checkpoint", "updated_at")
    PARTNER_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    partner: str
    checkpoint: str
    updated_at: _timestamp_pb2.Timestamp
    def __init__(self, partner: _Optional[str] = ..., checkpoint: _Optional[str] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
