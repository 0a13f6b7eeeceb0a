"""``hashcore hash --tmk-dir`` on every sample video, checked against the reference files."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hashcore_tmk import level1, level2, read_tmk


@pytest.mark.slow
def test_tmk_dir_matches_reference_for_every_video(shared_data: Path, tmp_path: Path) -> None:
    videos = sorted((shared_data / "tmk" / "videos").glob("*.mp4"))
    assert len(videos) == 10
    out = tmp_path / "tmk"
    done = subprocess.run(
        [sys.executable, "-m", "hashcore.cli.main", "hash", "--json", "--tmk-dir", str(out)]
        + [str(v) for v in videos],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "HASHCORE_DISABLE_PLUGINS": "vpdq"},  # TMK's test: vPDQ has its own
    )
    assert done.returncode == 0, done.stderr
    rows = {Path(r["path"]).stem: r for r in map(json.loads, done.stdout.splitlines())}
    for video in videos:
        ours = read_tmk(out / f"{video.stem}.tmk")
        reference = read_tmk(shared_data / "tmk" / "reference" / f"{video.stem}.tmk")
        assert ours.frame_count == reference.frame_count, video.stem
        assert level1(ours, reference) >= 0.999, video.stem
        assert level2(ours, reference) >= 0.999, video.stem
        row = rows[video.stem]
        assert row["kind"] == "video"
        signals = {s["type"]: s["value"] for s in row["signals"]}
        assert set(signals) == {"md5", "tmk_pdqf"}
        assert base64.b64decode(signals["tmk_pdqf"]) == (out / f"{video.stem}.tmk").read_bytes()
