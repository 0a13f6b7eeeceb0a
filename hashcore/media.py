"""A file being hashed, with its decoded image (and its border-trimmed form and standard crops)
shared by every image algorithm."""

from __future__ import annotations

import os
import warnings
from functools import cached_property
from pathlib import Path

import numpy as np
from PIL import Image

from hashcore.borders import Box, content_boxes
from hashcore.content import ContentKind, detect_kind
from hashcore.crops import CROPS, crop_box, working_copy
from hashcore.decode import decode_rgb
from hashcore.errors import ContentError, InvalidInput
from hashcore.resample import rgb_pixels

DEFAULT_MAX_IMAGE_PIXELS = 128_000_000
"""Images above this are refused: decoding them could exhaust memory (decompression bombs)."""

TRIMMED = "trimmed"
"""The variant name of a picture with its borders cut off."""
TRIMMED_STRICT = "trimmed-flat"
"""The variant name of a picture with only its flat bars cut off, when that differs from
``trimmed`` (:data:`hashcore.borders.STRICT_MEAN_DEVIATION`)."""

MIN_IMAGE_SIDE = 8
"""Below 8 px a side an image carries no perceptual information: its hashes would be noise."""


MAX_PIXELS_ENV = "HASHCORE_MAX_IMAGE_PIXELS"


def max_image_pixels() -> int:
    """The pixel cap, overridable with ``HASHCORE_MAX_IMAGE_PIXELS`` for unusual deployments;
    :class:`InvalidInput` for a value that is not a whole number above 0 (the CLI and the
    server check it before any file, so it is one error, not every file's)."""
    value = os.environ.get(MAX_PIXELS_ENV)
    if not value:
        return DEFAULT_MAX_IMAGE_PIXELS
    try:
        pixels = int(value)
    except ValueError:
        pixels = 0
    if pixels < 1:
        raise InvalidInput(
            f"{MAX_PIXELS_ENV} must be a whole number of pixels above 0, got {value!r}"
        )
    return pixels


class Media:
    """One file on disk and its content kind.

    The RGB image is decoded at most once and shared, so PDQ and pHash do not decode twice;
    likewise its borders are looked for once (:attr:`content_box`, :attr:`trimmed`).
    """

    def __init__(self, path: Path | str, kind: ContentKind | None = None) -> None:
        self.path = Path(path)
        self.kind = kind if kind is not None else detect_kind(self.path)
        self.variant: str | None = None
        """What picture this is when derived from the file (``trimmed``, ``centre90``); None for
        the file."""
        self._crops: dict[str, Media | None] = {}
        self._pixels: np.ndarray | None = None  # a derived picture's pixels (derived_pixels)

    @classmethod
    def derived(cls, path: Path | str, image: Image.Image, variant: str) -> Media:
        """A picture made from the file at ``path`` (its trimmed form): algorithms that read
        :attr:`rgb_image` hash ``image`` instead of decoding the file."""
        media = cls(path, ContentKind.IMAGE)
        media.variant = variant
        media.__dict__["rgb_image"] = image  # the cached_property's slot
        media.__dict__["content_boxes"] = []  # a derived picture is not trimmed again
        return media

    @classmethod
    def derived_pixels(cls, path: Path | str, pixels: np.ndarray, variant: str) -> Media:
        """As :meth:`derived`, from an RGB array (a standard crop: a view of the working copy,
        not copied): :attr:`rgb_array` is ``pixels``, and :attr:`rgb_image` is made from it
        only for an algorithm that asks for it."""
        media = cls(path, ContentKind.IMAGE)
        media.variant = variant
        media._pixels = pixels
        media.__dict__["content_boxes"] = []  # a derived picture is not trimmed again
        return media

    @cached_property
    def working_pixels(self) -> np.ndarray:
        """:attr:`rgb_image` scaled down to at most ``crops.WORKING_SIDE`` a side, as an RGB
        array: what the standard crops are cut from (:meth:`cropped`). Raises as
        :attr:`rgb_image` does."""
        return working_copy(self.rgb_image, self.rgb_array)

    def cropped(self, name: str) -> Media | None:
        """The standard crop ``name`` (:data:`hashcore.crops.CROPS`) of the file's picture, as a
        derived :class:`Media` with that variant, cut from :attr:`working_pixels` once for every
        family; None for a derived picture (crops are of the file as it is) or when the crop
        would be under ``MIN_IMAGE_SIDE`` a side. ``KeyError`` for an unknown name."""
        crop = CROPS[name]
        if self.variant is not None:
            return None
        if name not in self._crops:
            pixels = self.working_pixels
            box = crop_box((pixels.shape[1], pixels.shape[0]), crop)
            self._crops[name] = (
                Media.derived_pixels(
                    self.path, pixels[box.top : box.bottom, box.left : box.right], name
                )
                if min(box.width, box.height) >= MIN_IMAGE_SIDE
                else None
            )
        return self._crops[name]

    def __repr__(self) -> str:
        return f"Media({str(self.path)!r}, {self.kind.value})"

    @cached_property
    def rgb_image(self) -> Image.Image:
        """The image converted to RGB the way python-threatexchange does (``convert("RGB")``)."""
        if self._pixels is not None:
            return Image.fromarray(np.ascontiguousarray(self._pixels), "RGB")
        if self.kind is not ContentKind.IMAGE:
            raise ContentError(f"{self.path.name}: not an image")
        limit = max_image_pixels()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                with self.path.open("rb") as handle:  # closing it leaves the image whole
                    image = Image.open(handle)
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
                    return decode_rgb(image, self.path.name)  # within the memory budget
        except Image.DecompressionBombError as error:
            raise ContentError(
                f"{self.path.name}: {error} (possible decompression bomb)"
            ) from error
        except ContentError:
            raise
        except (OSError, ValueError, SyntaxError, EOFError) as error:
            raise ContentError(f"{self.path.name}: cannot decode image: {error}") from error

    @cached_property
    def rgb_array(self) -> np.ndarray:
        """:attr:`rgb_image` as a read-only height x width x 3 ``uint8`` array, made once for
        every reader (PDQ, the border scan): each conversion copies the whole picture. A
        derived picture made from pixels (:meth:`derived_pixels`) gives them as they are."""
        if self._pixels is not None:
            return self._pixels
        return rgb_pixels(self.rgb_image)

    @cached_property
    def content_boxes(self) -> list[Box]:
        """The picture inside uniform borders, read tolerantly and strictly
        (:func:`hashcore.borders.content_boxes`): empty when there is no border worth
        trimming. Raises as :attr:`rgb_image` does."""
        return content_boxes(self.rgb_image, self.rgb_array)

    @property
    def content_box(self) -> Box | None:
        """The first of :attr:`content_boxes` (the tolerant reading), or None."""
        boxes = self.content_boxes
        return boxes[0] if boxes else None

    @cached_property
    def trimmed_pictures(self) -> list[Media]:
        """The picture with its borders cut off, once per distinct box, as derived
        :class:`Media` (variants ``trimmed``, ``trimmed-flat``); computed once for every image
        family."""
        names = (TRIMMED, TRIMMED_STRICT)
        return [
            Media.derived(self.path, self.rgb_image.crop(box), name)
            for box, name in zip(self.content_boxes, names, strict=False)
        ]

    @property
    def trimmed(self) -> Media | None:
        """The first of :attr:`trimmed_pictures` (variant ``trimmed``), or None."""
        pictures = self.trimmed_pictures
        return pictures[0] if pictures else None
