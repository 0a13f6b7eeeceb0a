"""A file being hashed, with its decoded image shared by every image algorithm."""

from __future__ import annotations

import os
import warnings
from functools import cached_property
from pathlib import Path

from PIL import Image

from hashcore.content import ContentKind, detect_kind
from hashcore.errors import ContentError

DEFAULT_MAX_IMAGE_PIXELS = 128_000_000
"""Images above this are refused: decoding them could exhaust memory (decompression bombs)."""

MIN_IMAGE_SIDE = 8
"""Below 8 px a side an image carries no perceptual information: its hashes would be noise."""


def max_image_pixels() -> int:
    """The pixel cap, overridable with ``HASHCORE_MAX_IMAGE_PIXELS`` for unusual deployments."""
    value = os.environ.get("HASHCORE_MAX_IMAGE_PIXELS")
    return int(value) if value else DEFAULT_MAX_IMAGE_PIXELS


class Media:
    """One file on disk and its content kind.

    The RGB image is decoded at most once and shared, so PDQ and pHash do not decode twice.
    """

    def __init__(self, path: Path | str, kind: ContentKind | None = None) -> None:
        self.path = Path(path)
        self.kind = kind if kind is not None else detect_kind(self.path)

    def __repr__(self) -> str:
        return f"Media({str(self.path)!r}, {self.kind.value})"

    @cached_property
    def rgb_image(self) -> Image.Image:
        """The image converted to RGB the way python-threatexchange does (``convert("RGB")``)."""
        if self.kind is not ContentKind.IMAGE:
            raise ContentError(f"{self.path.name}: not an image")
        limit = max_image_pixels()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                with Image.open(self.path) as image:
                    width, height = image.size
                    if width * height > limit:
                        raise ContentError(
                            f"{self.path.name}: image is {width}x{height} = {width * height:,} "
                            f"pixels, over the limit of {limit:,} (possible decompression bomb)"
                        )
                    if min(width, height) < MIN_IMAGE_SIDE:
                        raise ContentError(
                            f"{self.path.name}: image is {width}x{height}, too small to hash "
                            f"(minimum {MIN_IMAGE_SIDE}x{MIN_IMAGE_SIDE})"
                        )
                    rgb = image.convert("RGB")
                    rgb.load()
                    return rgb
        except Image.DecompressionBombError as error:
            raise ContentError(
                f"{self.path.name}: {error} (possible decompression bomb)"
            ) from error
        except ContentError:
            raise
        except (OSError, ValueError, SyntaxError, EOFError) as error:
            raise ContentError(f"{self.path.name}: cannot decode image: {error}") from error
