"""Cosine/sine of 2*pi*k/T for every period, shared by hashing and scoring.

Angles are reduced as integers (``(j*t) mod T``) before the lookup, so long videos keep full
precision and no trigonometric function is evaluated per frame.
"""

from __future__ import annotations

from functools import cache

import numpy as np
from numpy.typing import NDArray


@cache
def unit_circle(period: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """``(cos, sin)`` of ``2*pi*k/period`` for k = 0..period-1, float64, read-only."""
    angle = 2.0 * np.pi * np.arange(period, dtype=np.float64) / period
    cos, sin = np.cos(angle), np.sin(angle)
    cos.setflags(write=False)
    sin.setflags(write=False)
    return cos, sin
