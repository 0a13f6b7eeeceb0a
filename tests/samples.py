"""Generate small test media in every format hashcore promises to read.

Made from a public sample image at test time, so the repository carries no binary zoo.
"""

from __future__ import annotations

import struct
from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image

IMAGE_FORMATS = {
    "jpeg": ("jpg", "JPEG"),
    "png": ("png", "PNG"),
    "gif": ("gif", "GIF"),
    "tiff": ("tif", "TIFF"),
    "bmp": ("bmp", "BMP"),
    "ico": ("ico", "ICO"),
    "tga": ("tga", "TGA"),
    "pcx": ("pcx", "PCX"),
    "webp": ("webp", "WEBP"),
}
VIDEO_CONTAINERS = {
    # name: (suffix, container format, codec, pixel format)
    "mp4": ("mp4", "mp4", "libx264", "yuv420p"),
    "mov": ("mov", "mov", "libx264", "yuv420p"),
    "avi": ("avi", "avi", "mpeg4", "yuv420p"),
    "wmv": ("wmv", "asf", "wmv2", "yuv420p"),
    "mkv": ("mkv", "matroska", "ffv1", "yuv420p"),
    "webm": ("webm", "webm", "libvpx", "yuv420p"),
    "ts": ("ts", "mpegts", "libx264", "yuv420p"),
}


def write_image(source: Path, directory: Path, name: str) -> Path:
    """Save ``source`` as format ``name`` (or a flattened PSD)."""
    image = Image.open(source).convert("RGB").resize((96, 64))
    if name == "psd":
        return write_flat_psd(np.asarray(image), directory / "sample.psd")
    suffix, pil_format = IMAGE_FORMATS[name]
    path = directory / f"sample.{suffix}"
    image.save(path, format=pil_format)
    return path


def write_flat_psd(rgb: np.ndarray, path: Path) -> Path:
    """A minimal Photoshop file: header, empty sections, raw planar RGB composite image."""
    height, width, _ = rgb.shape
    header = b"8BPS" + struct.pack(">H6xHIIHH", 1, 3, height, width, 8, 3)
    empty_sections = struct.pack(">III", 0, 0, 0)  # colour mode, resources, layers
    planes = b"".join(np.ascontiguousarray(rgb[:, :, c]).tobytes() for c in range(3))
    path.write_bytes(header + empty_sections + struct.pack(">H", 0) + planes)
    return path


def write_video(directory: Path, name: str, frames: int = 20, fps: int = 15) -> Path:
    """A short moving-gradient clip in container ``name``."""
    import av

    suffix, container_format, codec, pix_fmt = VIDEO_CONTAINERS[name]
    path = directory / f"sample.{suffix}"
    with av.open(str(path), mode="w", format=container_format) as container:
        stream = container.add_stream(codec, rate=Fraction(fps))
        stream.width, stream.height, stream.pix_fmt = 64, 48, pix_fmt
        y, x = np.mgrid[0:48, 0:64]
        for index in range(frames):
            pixels = np.stack(
                [(x * 4 + index * 8) % 256, (y * 5) % 256, (x + y + index * 3) % 256], axis=-1
            ).astype(np.uint8)
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path
