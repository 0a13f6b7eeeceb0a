"""vPDQ video hashing: PDQ on a video's frames, compatible with Meta's reference and pytx.

``compute_vpdq`` hashes a video into a ``VpdqFeature`` (one PDQ hash, quality and timestamp per
kept frame); ``VpdqFeature.to_json`` / ``from_json`` move features in and out of
python-threatexchange's serialisation; ``match_features`` applies pytx's matching rule to a pair.
"""

from typing import TYPE_CHECKING, Any

from hashcore_vpdq.errors import VpdqError
from hashcore_vpdq.feature import VpdqFeature
from hashcore_vpdq.matching import VpdqMatch, match_features

if TYPE_CHECKING:
    from hashcore_vpdq.frames import compute_vpdq

__all__ = ["VpdqError", "VpdqFeature", "VpdqMatch", "compute_vpdq", "match_features"]


def __getattr__(name: str) -> Any:
    """``compute_vpdq`` on first use: its module loads PyAV (~0.1 s), which a process that
    only hashes pictures (every ``hashcore`` command loads this plugin) never needs."""
    if name == "compute_vpdq":
        from hashcore_vpdq.frames import compute_vpdq

        return compute_vpdq
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
