"""TMK+PDQF video hashing compatible with ThreatExchange ``.tmk`` files.

The public surface is small: ``compute_tmk`` turns a video into a ``TmkFeature``, ``read_tmk`` /
``write_tmk`` move features in and out of the partner exchange format, and ``level1`` /
``level2`` score a pair (``level2_many`` reranks many candidates at once).
"""

from hashcore_tmk.errors import TmkError
from hashcore_tmk.feature import TmkFeature, compute_tmk, read_tmk, write_tmk
from hashcore_tmk.score import level1, level1_many, level2, level2_many, normalized_average

__all__ = [
    "TmkError",
    "TmkFeature",
    "compute_tmk",
    "level1",
    "level1_many",
    "level2",
    "level2_many",
    "normalized_average",
    "read_tmk",
    "write_tmk",
]
