"""vPDQ's thresholds in the fused lookup: per bank and per request, on the larger percentage."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hashcore.engine import Engine
from hashcore.registry import load_registry
from hashcore.signals import Signal
from hashcore_vpdq import VpdqFeature


def video(seed: int, frames: int) -> VpdqFeature:
    rng = np.random.default_rng(seed)
    return VpdqFeature(
        rng.integers(0, 256, (frames, 32), dtype=np.uint8),
        np.full(frames, 90, np.uint8),
        np.arange(frames, dtype=np.int64) * 100,
    )


def test_bank_thresholds_apply_to_vpdq(tmp_path: Path) -> None:
    banked = video(1, 50)
    # 9 of the query's 10 frames are banked frames (90% query-matched, 18% banked-matched)
    query = video(2, 10)
    query.hashes[:9] = banked.hashes[20:29]
    with Engine(tmp_path / "store", load_registry()) as engine:
        engine.create_bank("default")
        engine.create_bank("strict", thresholds={"vpdq": 95})
        for bank in ("default", "strict"):
            engine.add_entry(bank, [Signal("vpdq", banked.to_bytes())], external_id=bank)
        signals = [Signal("vpdq", query.to_bytes())]
        [match] = engine.lookup_signals(signals).matches
        assert match.bank == "default"
        [hit] = match.signals
        assert hit.distance == 90.0 and hit.detail is not None
        assert hit.detail["banked_percent"] == 18.0
        assert engine.lookup_signals(signals, thresholds={"vpdq": 91}).matches == []
        # a banked clip inside a longer upload: the banked side is all matched
        longer = video(3, 200)
        longer.hashes[100:150] = banked.hashes
        [inside, _] = engine.lookup_signals([Signal("vpdq", longer.to_bytes())]).matches
        assert inside.signals[0].distance == 100.0
        assert inside.signals[0].detail is not None
        assert inside.signals[0].detail["query_percent"] == 25.0
