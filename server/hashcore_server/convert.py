"""Protobuf messages to domain objects and back; validation of what arrives on the wire.

The servicer only converts; the engine decides. Validation here exists to name the offending
field precisely (``signals[3].value``) before the engine sees the request.
"""

from __future__ import annotations

import string
from collections.abc import Iterable, Mapping, Sequence

from hashcore.api.v1 import hashcore_pb2 as pb
from hashcore.errors import InvalidInput
from hashcore.hashing import FileHashes
from hashcore.matching import check_thresholds
from hashcore.model import EntryStatus
from hashcore.registry import SignalRegistry
from hashcore.remote.wire import (
    bank_info_to_pb,
    bank_to_pb,
    entry_to_pb,
    lookup_to_pb,
    match_to_pb,
    signal_to_pb,
    timestamp,
)
from hashcore.signals import Signal


def signal_from_pb(message: pb.Signal, registry: SignalRegistry, where: str) -> Signal:
    """A validated domain signal; ``where`` prefixes the field names of errors."""
    if not message.type:
        raise InvalidInput("signal type is required", field=f"{where}.type")
    try:
        signal_type = registry.get(message.type)
        value = signal_type.validate(_raw_value(message))
    except InvalidInput as error:
        raise InvalidInput(error.message, field=f"{where}.{error.field or 'value'}") from None
    return Signal(
        type=message.type,
        value=value,
        quality=message.quality if message.HasField("quality") else None,
        usable=not message.unusable,
        variant=message.variant or None,
    )


def _raw_value(message: pb.Signal) -> bytes:
    """``value``, or ``hex`` decoded: JSON clients send hashes as the hex they read."""
    if not message.hex:
        return message.value
    if message.value:
        raise InvalidInput("give value or hex, not both", field="hex")
    try:
        return bytes.fromhex(message.hex)
    except ValueError:
        raise InvalidInput(_hex_problem(message.hex), field="hex") from None


def _hex_problem(text: str) -> str:
    """Why ``text`` is not hex: a stray character (``zz``) or an odd number of digits."""
    if any(c not in string.hexdigits for c in text.replace(" ", "")):
        return "hex is not hexadecimal: use the digits 0-9 and a-f"
    return "hex has an odd number of hex digits (two make a byte)"


def signals_from_pb(
    messages: Iterable[pb.Signal], registry: SignalRegistry, where: str = "signals"
) -> list[Signal]:
    signals = [signal_from_pb(m, registry, f"{where}[{i}]") for i, m in enumerate(messages)]
    if not signals:
        raise InvalidInput("at least one signal is required", field=where)
    return signals


def thresholds_from_pb(
    raw: Mapping[str, float], registry: SignalRegistry, where: str = "thresholds"
) -> dict[str, float] | None:
    """Per-request threshold overrides (checked as the engine checks them), or None."""
    if not raw:
        return None
    for family, value in raw.items():
        try:
            check_thresholds(registry, {family: value})
        except InvalidInput as error:
            raise InvalidInput(error.message, field=f"{where}[{family}]") from None
    return dict(raw)


def status_from_pb(raw: str) -> EntryStatus:
    try:
        return EntryStatus(raw)
    except ValueError:
        known = ", ".join(s.value for s in EntryStatus)
        raise InvalidInput(f"unknown status {raw!r} (known: {known})", field="status") from None


def hashes_to_pb(hashes: FileHashes) -> pb.HashResponse:
    return pb.HashResponse(
        kind=hashes.kind.value if hashes.kind else "",
        signals=[signal_to_pb(s) for s in hashes.signals],
        errors=[pb.HashFailure(type=e.type or "", message=e.message) for e in hashes.errors],
    )


def labels_from_pb(raw: Sequence[str], where: str = "labels") -> tuple[str, ...]:
    for i, label in enumerate(raw):
        if not label.strip():
            raise InvalidInput("labels must not be empty", field=f"{where}[{i}]")
    return tuple(raw)


__all__ = [
    "bank_info_to_pb",
    "bank_to_pb",
    "entry_to_pb",
    "hashes_to_pb",
    "labels_from_pb",
    "lookup_to_pb",
    "match_to_pb",
    "signal_from_pb",
    "signal_to_pb",
    "signals_from_pb",
    "status_from_pb",
    "thresholds_from_pb",
    "timestamp",
]
