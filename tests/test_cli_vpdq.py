"""``hashcore hash --vpdq-dir``: the reference tool's layout, every frame, beside the JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hashcore_vpdq import VpdqFeature

pytestmark = pytest.mark.slow  # hashes every frame of a sample (about 6 s)

STEMS = ["pattern-sd-grey-bar"]


def test_vpdq_dir_writes_the_reference_layout(shared_data: Path, tmp_path: Path) -> None:
    videos = [shared_data / "tmk" / "videos" / f"{stem}.mp4" for stem in STEMS]
    out = tmp_path / "vpdq"
    done = subprocess.run(
        [sys.executable, "-m", "hashcore.cli.main", "hash", "--json", "--vpdq-dir", str(out)]
        + [str(v) for v in videos],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "HASHCORE_DISABLE_PLUGINS": "tmk_pdqf"},  # TMK: test_cli_tmk.py
    )
    assert done.returncode == 0, done.stderr
    rows = {Path(r["path"]).stem: r for r in map(json.loads, done.stdout.splitlines())}
    for stem in STEMS:
        written = out / f"{stem}.txt"
        ours = VpdqFeature.read_reference(written)
        reference = VpdqFeature.read_reference(shared_data / "vpdq" / "reference" / f"{stem}.txt")
        assert np.array_equal(ours.frames, reference.frames)
        assert np.array_equal(ours.ms, reference.ms)
        bits = np.unpackbits(ours.hashes ^ reference.hashes, axis=1).sum(axis=1)
        usable = (ours.quality >= 50) & (reference.quality >= 50)
        assert (bits[usable] <= 31).all()
        # the same frames as the JSON's value, which is pytx's text of them
        signals = {s["type"]: s["value"] for s in rows[stem]["signals"]}
        assert VpdqFeature.from_json(signals["vpdq"]) == ours
        first = written.read_text().splitlines()[0].split(",")
        assert first[0] == "0" and first[3] == "0.000" and len(first[2]) == 64
