"""``hashcore hash --vpdq-dir``: the reference tool's layout, every frame, beside the JSON."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from hashcore.cli.hash_cmd import VPDQ_SECONDS_ENV
from hashcore.cli.main import main
from hashcore_vpdq import VpdqFeature

pytestmark = pytest.mark.slow  # hashes every frame of a sample (about 6 s)

STEM = "pattern-sd-grey-bar"
REFERENCE = Path(__file__).resolve().parents[1] / "plugins" / "vpdq" / "tests" / "data"


def test_vpdq_dir_writes_the_reference_layout(
    shared_data: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv(VPDQ_SECONDS_ENV, "0.1")  # put back after the verb sets it to 0
    monkeypatch.setenv("HASHCORE_DISABLE_PLUGINS", "tmk_pdqf")  # TMK's dir: test_cli_tmk.py
    video = shared_data / "tmk" / "videos" / f"{STEM}.mp4"
    out = tmp_path / "vpdq"
    assert main(["hash", "--json", "--jobs", "1", "--vpdq-dir", str(out), str(video)]) == 0
    [row] = map(json.loads, capsys.readouterr().out.splitlines())
    written = out / f"{STEM}.txt"
    ours = VpdqFeature.read_reference(written)
    reference = VpdqFeature.read_reference(shared_data / "vpdq" / "reference" / f"{STEM}.txt")
    assert np.array_equal(ours.frames, reference.frames)
    assert np.array_equal(ours.ms, reference.ms)
    bits = np.unpackbits(ours.hashes ^ reference.hashes, axis=1).sum(axis=1)
    usable = (ours.quality >= 50) & (reference.quality >= 50)
    assert (bits[usable] <= 31).all()
    # the same frames as the JSON's value, which is pytx's text of them
    signals = {s["type"]: s["value"] for s in row["signals"]}
    assert "tmk_pdqf" not in signals
    assert VpdqFeature.from_json(signals["vpdq"]) == ours
    first = written.read_text().splitlines()[0].split(",")
    assert first[0] == "0" and first[3] == "0.000" and len(first[2]) == 64


def test_lookup_shows_the_vpdq_detail(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``lookup --hash vpdq=JSON``: both percentages, frames and segments, JSON and text."""
    whole = VpdqFeature.read_reference(REFERENCE / "doorknob-hd-no-bar.txt")
    rows = slice(0, 30, 3)
    clip = VpdqFeature(whole.hashes[rows], whole.quality[rows], whole.ms[rows])
    store = str(tmp_path / "store")
    assert main(["bank", "create", "--store", store, "videos"]) == 0
    banked = tmp_path / "banked.txt"
    banked.write_text(f"vpdq {whole.to_json()}\n")
    assert (
        main(["bank", "import", "--store", store, "videos", "--format", "pytx-local", str(banked)])
        == 0
    )
    capsys.readouterr()
    query = ["lookup", "--store", store, "--hash", f"vpdq={clip.to_json()}"]
    assert main([*query, "--json"]) == 0
    [row] = map(json.loads, capsys.readouterr().out.splitlines()[:1])
    [hit] = row["matches"][0]["signals"]
    assert hit["type"] == "vpdq" and hit["score"] == 100
    assert hit["detail"]["query_percent"] == 100 and hit["detail"]["query_frames"] == 10
    assert hit["detail"]["banked_frames"] == 60 and hit["detail"]["banked_start"] == 0
    assert main(query) == 0
    text = capsys.readouterr().out
    assert "vpdq 100 (query 100% of 10 frames 0-0.9 s, banked 37% of 60 frames 0-0.9 s)" in text


def test_lookup_signals_takes_a_plain_vpdq_line_as_pytx_writes_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``vpdq ["hash,quality,seconds", ...]`` with pytx's spaces after the commas, then
    another pair: the JSON value runs to its end, not to the first space."""
    whole = VpdqFeature.read_reference(REFERENCE / "doorknob-hd-no-bar.txt")
    store = str(tmp_path / "store")
    assert main(["bank", "create", "--store", store, "videos"]) == 0
    banked = tmp_path / "banked.txt"
    banked.write_text(f"vpdq {whole.to_json()}\n")
    assert main(["bank", "import", "--store", store, "videos", "--format", "pytx-local",
                 str(banked)]) == 0  # fmt: skip
    spaced = json.dumps(json.loads(whole.to_json()))  # separators ", " as pytx's json.dumps
    assert ", " in spaced
    lines = tmp_path / "signals.txt"
    lines.write_text(f'vpdq {spaced}\nvpdq {spaced}  md5 {"0" * 32}\nvpdq ["cut\n')
    capsys.readouterr()
    code = main(["lookup", "--store", store, "--signals", str(lines)])
    out = capsys.readouterr().out.splitlines()
    assert code == 2  # the third line is broken JSON
    assert out[0] == "<line 1>: 1 match" and "<line 2>: 1 match" in out
    assert "<line 3>: not looked up" in out
    assert any("line 3: vpdq: not JSON" in line for line in out)
