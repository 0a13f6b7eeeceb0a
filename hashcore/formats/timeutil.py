"""Partner timestamps (ISO-8601 text or unix seconds) to unix seconds, and back."""

from __future__ import annotations

from datetime import UTC, datetime

from hashcore.errors import InvalidInput


def to_unix(value: object) -> float:
    """Unix seconds from ``2026-03-02T10:00:00Z``, ``...+0000``, or a number (s or ms)."""
    if isinstance(value, bool):
        raise InvalidInput("timestamp is a boolean", field="timestamp")
    if isinstance(value, int | float):
        number = float(value)
        return number / 1000.0 if number > 1e11 else number  # milliseconds
    if isinstance(value, str):
        text = value.strip()
        if text.replace(".", "", 1).isdigit():
            return to_unix(float(text))
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise InvalidInput(f"not a timestamp: {text[:40]!r}", field="timestamp") from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.timestamp()
    raise InvalidInput(f"not a timestamp: {type(value).__name__}", field="timestamp")


def to_iso(seconds: float) -> str:
    """``2026-03-02T10:00:00Z`` (millisecond precision when needed), as NCMEC wants it."""
    moment = datetime.fromtimestamp(seconds, UTC)
    if moment.microsecond:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
