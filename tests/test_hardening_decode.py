"""Issue 11, finding 4: decoding a picture stays within a memory budget."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hashcore.decode import HASH_BYTES_PER_PIXEL, max_decode_bytes, reduce_factor
from hashcore.errors import ContentError
from hashcore.hashing import hash_file
from hashcore.media import Media


def textured(size: int) -> Image.Image:
    rng = np.random.default_rng(7)
    small = (rng.random((64, 64, 3)) * 255).astype("uint8")
    return Image.fromarray(small).resize((size, size), Image.Resampling.BILINEAR)


def pdq_distance(a: bytes, b: bytes) -> int:
    return sum(bin(x ^ y).count("1") for x, y in zip(a, b, strict=True))


def plain_pdq(hashes) -> bytes:  # type: ignore[no-untyped-def]
    return next(s.value for s in hashes.signals if s.type == "pdq" and s.variant in (None, "orig"))


def test_budget_and_factor(monkeypatch):
    monkeypatch.delenv("HASHCORE_MAX_DECODE_MB", raising=False)
    assert max_decode_bytes() == 1024 << 20
    monkeypatch.setenv("HASHCORE_MAX_DECODE_MB", "8")
    assert max_decode_bytes() == 8 << 20
    assert reduce_factor(1000 * 1000, 64 << 20) == 1
    assert reduce_factor(11_000 * 11_000, 1024 << 20) == 2
    assert reduce_factor(4, 1) == math_ceil_sqrt(4 * HASH_BYTES_PER_PIXEL)


def math_ceil_sqrt(value: int) -> int:
    import math

    return math.ceil(math.sqrt(value))


def test_within_budget_decodes_exactly_as_before(tmp_path, registry, monkeypatch):
    path = tmp_path / "p.png"
    textured(600).save(path)
    monkeypatch.setenv("HASHCORE_MAX_DECODE_MB", "64")
    media = Media(path)
    assert media.rgb_image.size == (600, 600)
    with Image.open(path) as image:
        assert media.rgb_image.tobytes() == image.convert("RGB").tobytes()


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".gif"])
def test_over_budget_is_reduced_while_decoding(tmp_path, registry, monkeypatch, suffix):
    path = tmp_path / f"p{suffix}"
    textured(1200).save(path)
    full = hash_file(path, registry)
    monkeypatch.setenv("HASHCORE_MAX_DECODE_MB", "16")  # 1200x1200 needs ~44 MB to hash
    media = Media(path)
    width, height = media.rgb_image.size
    assert width * height * HASH_BYTES_PER_PIXEL <= 16 << 20
    assert width >= 1200 // 4
    reduced = hash_file(path, registry)
    assert not reduced.errors
    # PDQ works on a 64x64 summary of the picture: a reduced decode keeps it close.
    assert pdq_distance(plain_pdq(full), plain_pdq(reduced)) <= 16


def test_too_large_to_decode_even_once_is_a_clear_content_error(tmp_path, monkeypatch):
    path = tmp_path / "p.png"
    textured(1200).save(path)
    monkeypatch.setenv("HASHCORE_MAX_DECODE_MB", "2")  # the full decode alone is ~5.5 MB
    with pytest.raises(ContentError) as info:
        _ = Media(path).rgb_image
    message = info.value.message
    assert "too large to decode within the memory budget: 1200x1200 px needs ~" in message
    assert "raise HASHCORE_MAX_DECODE_MB" in message


PEAK = """
import resource, sys
from hashcore.hashing import hash_file
from hashcore.registry import load_registry
registry = load_registry()
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
result = hash_file(sys.argv[1], registry)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print({"base_kb": base, "peak_kb": peak, "errors": [e.message for e in result.errors]})
"""


def test_big_png_under_the_pixel_cap_stays_within_the_budget(tmp_path):
    """The finding: an 11000x11000 PNG (121 MP, under the 128 MP cap) peaked at 3.9 GB."""
    path = tmp_path / "big.png"
    buffer = io.BytesIO()
    Image.new("RGB", (11_000, 11_000), (200, 30, 30)).save(buffer, format="PNG")
    path.write_bytes(buffer.getvalue())
    run = subprocess.run(
        [sys.executable, "-c", PEAK, str(path)],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
        env={"HASHCORE_MAX_DECODE_MB": "1024", "PATH": "/usr/bin:/bin"},
    )
    figures = json.loads(run.stdout.strip().splitlines()[-1].replace("'", '"'))
    assert figures["errors"] == []
    grown_mb = (figures["peak_kb"] - figures["base_kb"]) / 1024
    assert grown_mb < 1200, f"hashing grew the process by {grown_mb:.0f} MB"


def test_hash_cli_reports_the_budget_error(tmp_path, monkeypatch, capsys):
    from hashcore.cli.main import main

    path = tmp_path / "p.png"
    textured(1200).save(path)
    monkeypatch.setenv("HASHCORE_MAX_DECODE_MB", "2")
    main(["hash", str(path)])
    out = capsys.readouterr()
    assert "memory budget" in out.out + out.err
    assert "content: content:" not in out.out + out.err
    assert str(Path(path)) in out.out + out.err
