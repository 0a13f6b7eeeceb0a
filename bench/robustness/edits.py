"""The edits re-uploads suffer, each a pure function of (picture, seed) -> (picture, format).

Every edit has a *group*: the issue's recall targets are per group (``survive``: the edits a
hash should survive, >= 0.95 fused; ``border``: borders and letterboxing, >= 0.9; ``crop5``: 5%
crops, >= 0.6; ``other``: measured, no target). Deterministic: noise uses a seed derived from
the picture, so two runs write the same files.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageOps

Picture = Image.Image


@dataclass(frozen=True)
class Edit:
    name: str
    group: str
    apply: Callable[[Picture, int], Picture]
    format: str = "JPEG"  # how the edited copy is saved
    quality: int = 90  # JPEG/WebP quality of the saved copy


def encode(image: Picture, edit: Edit) -> bytes:
    """The edited copy's file bytes, as an upload would carry them."""
    buffer = io.BytesIO()
    if edit.format == "PNG":
        image.save(buffer, "PNG", compress_level=1)
    elif edit.format == "WEBP":
        image.save(buffer, "WEBP", quality=edit.quality, method=0)
    else:
        image.convert("RGB").save(buffer, "JPEG", quality=edit.quality)
    return buffer.getvalue()


def identity(image: Picture, seed: int) -> Picture:
    return image


def resize(scale: float) -> Callable[[Picture, int], Picture]:
    def apply(image: Picture, seed: int) -> Picture:
        size = (max(8, round(image.width * scale)), max(8, round(image.height * scale)))
        return image.resize(
            size, Image.Resampling.BILINEAR if scale < 1 else Image.Resampling.BICUBIC
        )

    return apply


def crop(fraction: float, sides: str) -> Callable[[Picture, int], Picture]:
    """Remove ``fraction`` of the width/height: from every side (``all``) or from the right."""

    def apply(image: Picture, seed: int) -> Picture:
        dx, dy = round(image.width * fraction), round(image.height * fraction)
        if sides == "all":
            return image.crop((dx, dy, image.width - dx, image.height - dy))
        return image.crop((0, 0, image.width - dx, image.height))

    return apply


def border(
    fraction: float, colour: tuple[int, int, int], sides: str = "all"
) -> Callable[[Picture, int], Picture]:
    """Pad by ``fraction`` of the size per side: ``all``, ``tb`` (letterbox), ``lr`` (pillarbox)."""

    def apply(image: Picture, seed: int) -> Picture:
        dx = round(image.width * fraction) if sides in ("all", "lr") else 0
        dy = round(image.height * fraction) if sides in ("all", "tb") else 0
        return ImageOps.expand(image, border=(dx, dy, dx, dy), fill=colour)

    return apply


def rotate(degrees: float) -> Callable[[Picture, int], Picture]:
    """Small-angle rotation, same canvas size, black corners (a re-shoot or an editor's rotate)."""

    def apply(image: Picture, seed: int) -> Picture:
        return image.rotate(degrees, resample=Image.Resampling.BILINEAR, fillcolor=(0, 0, 0))

    return apply


def transpose(method: Image.Transpose) -> Callable[[Picture, int], Picture]:
    def apply(image: Picture, seed: int) -> Picture:
        return image.transpose(method)

    return apply


def caption(position: str, fraction: float) -> Callable[[Picture, int], Picture]:
    """A meme-style caption bar drawn over the picture (not added beside it), with text."""

    def apply(image: Picture, seed: int) -> Picture:
        out = image.copy()
        draw = ImageDraw.Draw(out)
        height = max(4, round(image.height * fraction))
        top = 0 if position == "top" else image.height - height
        fill, ink = (
            ((255, 255, 255), (0, 0, 0)) if position == "top" else ((0, 0, 0), (255, 255, 255))
        )
        draw.rectangle((0, top, image.width, top + height), fill=fill)
        text = "WHEN YOU SEE IT 1234" if position == "top" else "shared via example.app"
        draw.text((height // 3, top + height // 3), text, fill=ink, font_size=max(8, height // 2))
        return out

    return apply


def logo(image: Picture, seed: int) -> Picture:
    """A semi-opaque watermark block with a name in the bottom-right corner (~20% of the width)."""
    out = image.convert("RGBA")
    w = max(8, image.width // 5)
    h = max(4, w // 3)
    mark = Image.new("RGBA", (w, h), (230, 40, 40, 190))
    ImageDraw.Draw(mark).text(
        (h // 4, h // 4), "@reposter", fill=(255, 255, 255, 255), font_size=max(6, h // 2)
    )
    margin = max(2, image.width // 40)
    out.alpha_composite(mark, (image.width - w - margin, image.height - h - margin))
    return out.convert("RGB")


def greyscale(image: Picture, seed: int) -> Picture:
    return image.convert("L").convert("RGB")


def enhance(kind: str, factor: float) -> Callable[[Picture, int], Picture]:
    def apply(image: Picture, seed: int) -> Picture:
        enhancer = (
            ImageEnhance.Brightness(image) if kind == "brightness" else ImageEnhance.Contrast(image)
        )
        return enhancer.enhance(factor)

    return apply


def gamma(value: float) -> Callable[[Picture, int], Picture]:
    table = [round(255 * (i / 255) ** value) for i in range(256)] * 3

    def apply(image: Picture, seed: int) -> Picture:
        return image.point(table)

    return apply


def blur(radius: float) -> Callable[[Picture, int], Picture]:
    def apply(image: Picture, seed: int) -> Picture:
        return image.filter(ImageFilter.GaussianBlur(radius))

    return apply


def sharpen(image: Picture, seed: int) -> Picture:
    return image.filter(ImageFilter.UnsharpMask(radius=2, percent=150, threshold=3))


def noise(sigma: float) -> Callable[[Picture, int], Picture]:
    def apply(image: Picture, seed: int) -> Picture:
        pixels = np.asarray(image, dtype=np.float32)
        rng = np.random.default_rng(seed)
        noisy = pixels + rng.normal(0, sigma, pixels.shape)
        return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))

    return apply


def screenshot(image: Picture, seed: int) -> Picture:
    """Screenshot of a viewer: rescaled to 60%, on a grey window with a title bar and margins."""
    small = image.resize(
        (max(8, image.width * 3 // 5), max(8, image.height * 3 // 5)), Image.Resampling.BILINEAR
    )
    bar = max(12, small.height // 12)
    margin = max(6, small.width // 10)
    canvas = Image.new(
        "RGB", (small.width + 2 * margin, small.height + bar + 2 * margin), (40, 40, 44)
    )
    draw = ImageDraw.Draw(canvas)
    draw.rectangle((0, 0, canvas.width, bar), fill=(225, 225, 225))
    draw.text(
        (bar // 2, bar // 5),
        "IMG_2041.jpg - Viewer",
        fill=(0, 0, 0),
        font_size=max(6, bar * 3 // 5),
    )
    canvas.paste(small, (margin, bar + margin))
    return canvas


GREY = (128, 128, 128)
WHITE = (255, 255, 255)
BLACK = (0, 0, 0)
COLOUR = (30, 90, 200)

EDITS: tuple[Edit, ...] = (
    # Same bytes as banked: MD5 and everything else must match (a sanity check of the run).
    Edit("identical file", "identity", identity, "SOURCE"),
    Edit("jpeg q90", "survive", identity, quality=90),
    Edit("jpeg q70", "survive", identity, quality=70),
    Edit("jpeg q50", "survive", identity, quality=50),
    Edit("jpeg q30", "survive", identity, quality=30),
    Edit("format png", "survive", identity, "PNG"),
    Edit("format webp q80", "survive", identity, "WEBP", quality=80),
    Edit("resize 25%", "survive", resize(0.25)),
    Edit("resize 50%", "survive", resize(0.5)),
    Edit("resize 75%", "survive", resize(0.75)),
    Edit("resize 150%", "survive", resize(1.5)),
    Edit("resize 200%", "survive", resize(2.0)),
    Edit(
        "squash to 4:3 (resize x 90%)",
        "survive",
        lambda im, s: im.resize((round(im.width * 0.9), im.height)),
    ),
    Edit("greyscale", "survive", greyscale),
    Edit("brightness +30%", "survive", enhance("brightness", 1.3)),
    Edit("brightness -30%", "survive", enhance("brightness", 0.7)),
    Edit("contrast +30%", "survive", enhance("contrast", 1.3)),
    Edit("contrast -30%", "survive", enhance("contrast", 0.7)),
    Edit("gamma 0.7", "survive", gamma(0.7)),
    Edit("gamma 1.5", "survive", gamma(1.5)),
    Edit("blur r1", "survive", blur(1)),
    Edit("blur r3", "survive", blur(3)),
    Edit("mirror (left-right)", "survive", transpose(Image.Transpose.FLIP_LEFT_RIGHT)),
    Edit("flip (top-bottom)", "survive", transpose(Image.Transpose.FLIP_TOP_BOTTOM)),
    Edit("rotate 90", "survive", transpose(Image.Transpose.ROTATE_90)),
    Edit("rotate 180", "survive", transpose(Image.Transpose.ROTATE_180)),
    Edit("rotate 270", "survive", transpose(Image.Transpose.ROTATE_270)),
    Edit("caption bar top 10%", "survive", caption("top", 0.10)),
    Edit("caption bar bottom 15%", "survive", caption("bottom", 0.15)),
    Edit("border black 5%", "border", border(0.05, BLACK)),
    Edit("border white 10%", "border", border(0.10, WHITE)),
    Edit("border colour 15%", "border", border(0.15, COLOUR)),
    Edit("border grey 25%", "border", border(0.25, GREY)),
    Edit("letterbox black 12% top+bottom", "border", border(0.12, BLACK, "tb")),
    Edit("pillarbox black 20% left+right", "border", border(0.20, BLACK, "lr")),
    Edit("letterbox white 25% top+bottom", "border", border(0.25, WHITE, "tb")),
    Edit("crop 5% all sides", "crop5", crop(0.05, "all")),
    Edit("crop 5% one side", "crop5", crop(0.05, "one")),
    Edit("crop 2% all sides", "other", crop(0.02, "all")),
    Edit("crop 2% one side", "other", crop(0.02, "one")),
    Edit("crop 10% all sides", "other", crop(0.10, "all")),
    Edit("crop 10% one side", "other", crop(0.10, "one")),
    Edit("rotate 2 degrees", "other", rotate(2)),
    Edit("rotate 5 degrees", "other", rotate(5)),
    Edit("logo bottom-right", "other", logo),
    Edit("sharpen", "other", sharpen),
    Edit("noise sigma 8", "other", noise(8)),
    Edit("screenshot (60% + window)", "other", screenshot),
)

GROUPS = {
    "identity": "identical file (sanity check)",
    "survive": "should survive: re-encode, format, resize, greyscale, brightness/contrast/gamma, "
    "blur, mirror/flip, rotations by 90, caption bars",
    "border": "borders and letterboxing (5-25%)",
    "crop5": "5% crops (one side, all sides)",
    "other": "other (no target): 2%/10% crops, small rotations, logo, sharpen, noise, screenshot",
}

TARGETS = {"survive": 0.95, "border": 0.9, "crop5": 0.6}
