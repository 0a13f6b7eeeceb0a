"""The three forms of a vPDQ feature: stored bytes, pytx JSON, the reference layout."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from conftest import DATA
from hashcore_vpdq import VpdqError, VpdqFeature

REFERENCE = DATA / "doorknob-hd-no-bar.txt"
PYTX_LINE = "e271017837246aaccddea259648fb7d62f435c89d9e99b2497763e216c8d055c,100,0.033"


def test_reference_file_round_trips(tmp_path: Path) -> None:
    feature = VpdqFeature.read_reference(REFERENCE)
    assert len(feature) == 120 and feature.frames.tolist() == list(range(120))
    feature.write_reference(tmp_path / "out.txt")
    assert (tmp_path / "out.txt").read_text() == REFERENCE.read_text()


def test_bytes_round_trip() -> None:
    feature = VpdqFeature.read_reference(REFERENCE)
    raw = feature.to_bytes()
    assert len(raw) == 5 + 37 * 120
    assert VpdqFeature.from_bytes(raw) == feature


def test_pytx_json_both_ways() -> None:
    """pytx's ``vpdq_to_json``: a JSON list of 'hex,quality,seconds' strings."""
    feature = VpdqFeature.from_json(json.dumps([PYTX_LINE, PYTX_LINE.replace(",0.033", ",12.5")]))
    assert feature.quality.tolist() == [100, 100] and feature.ms.tolist() == [33, 12500]
    assert json.loads(feature.to_json()) == [PYTX_LINE, PYTX_LINE.replace(",0.033", ",12.500")]
    assert VpdqFeature.from_json(feature.to_json()) == feature
    reference = VpdqFeature.read_reference(REFERENCE)
    assert VpdqFeature.from_json(reference.to_json()) == reference


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("[]", "no frames"),
        ("{}", "no frames"),
        ("3", "JSON list"),
        ('{"x": {}}', "frame numbers"),
        ('{"0": 5}', "expected an object"),
        ("not json", "not JSON"),
        (json.dumps([PYTX_LINE[:-6]]), "expected 'hex,quality,seconds'"),
        (json.dumps([PYTX_LINE.replace(",100,", ",101,")]), "not within 0-100"),
        (json.dumps([PYTX_LINE.replace(",100,", ",x,")]), "not an integer"),
        (json.dumps([PYTX_LINE.replace(",0.033", ",-1")]), "out of range"),
        (json.dumps([PYTX_LINE.replace(",0.033", ",nan")]), "out of range"),
        (json.dumps(["zz" * 32 + ",100,0.0"]), "not hex"),
        (json.dumps(["ab,100,0.0"]), "64 hex digits"),
    ],
)
def test_malformed_json_is_refused(text: str, reason: str) -> None:
    with pytest.raises(VpdqError, match=reason):
        VpdqFeature.from_json(text)


def test_malformed_bytes_are_refused() -> None:
    raw = VpdqFeature.read_reference(REFERENCE).to_bytes()
    for bad, reason in [
        (b"", "bad header"),
        (raw[:-1], "whole frames"),
        (raw[:5], "no frames"),
        (b"XPDQ\x01" + raw[5:], "bad header"),
    ]:
        with pytest.raises(VpdqError, match=reason):
            VpdqFeature.from_bytes(bad)
    records = bytearray(raw)
    records[5 + 32] = 101  # the first frame's quality
    with pytest.raises(VpdqError, match="quality"):
        VpdqFeature.from_bytes(bytes(records))


def test_equality_ignores_frame_numbers() -> None:
    feature = VpdqFeature.read_reference(REFERENCE)
    renumbered = VpdqFeature(feature.hashes, feature.quality, feature.ms, feature.frames * 2)
    assert renumbered == feature
    assert not np.array_equal(renumbered.frames, feature.frames)
