"""Shared helpers of the engine tests: a registry loaded once, synthetic hashes."""

from __future__ import annotations

import functools
import random

from hashcore.registry import SignalRegistry, load_registry
from hashcore.signals import Signal


@functools.cache
def registry() -> SignalRegistry:
    return load_registry()


def random_pdq(seed: int) -> bytes:
    return random.Random(seed).randbytes(32)


def flip_bits(value: bytes, count: int) -> bytes:
    """``value`` with its first ``count`` bits inverted: exactly ``count`` away."""
    number = int.from_bytes(value, "big") ^ (((1 << count) - 1) << (len(value) * 8 - count))
    return number.to_bytes(len(value), "big")


def pdq(value: bytes, variant: str | None = None) -> Signal:
    return Signal("pdq", value, quality=100, variant=variant)
