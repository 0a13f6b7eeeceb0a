"""Fixed parameters of TMK+PDQF.

They are part of the exchange format: a ``.tmk`` file records them and partners refuse files
whose values differ, so they live in one place shared by hashing, scoring and file I/O.
"""

from typing import Final

import numpy as np
from numpy.typing import NDArray

FPS: Final[int] = 15
"""Frames per second the video is re-timed to before hashing."""

FRAME_SIZE: Final[int] = 64
"""Each frame is scaled to a FRAME_SIZE x FRAME_SIZE square (aspect ratio ignored)."""

FEATURE_DIM: Final[int] = 256
"""Length of one PDQF frame feature (a 16x16 block of DCT coefficients)."""

PERIODS: Final[tuple[int, ...]] = (2731, 4391, 9767, 14653)
"""Periods, in output frames, of the temporal Fourier bases."""

FOURIER_COEFFS: Final[NDArray[np.float32]] = np.array(
    [
        0.0708041893112, 0.13937789309, 0.132897260304, 0.122765735552, 0.109878684888,
        0.09529606433, 0.0800986647852, 0.0652590650356, 0.0515478238322, 0.0394851531195,
        0.0293374252025, 0.0211492623679, 0.0147973073245, 0.0100512818746, 0.0066306408014,
        0.00424947117334, 0.0026467615764, 0.00160270959695, 0.000943882629639,
        0.000540841638603, 0.000301633183798, 0.000163800158855, 8.66454753015e-05,
        4.46626303151e-05, 2.24429442235e-05, 1.09982139799e-05, 5.25823487999e-06,
        2.45358229988e-06, 1.11781474895e-06, 4.97406489221e-07, 2.16265487234e-07,
        9.19087006565e-08,
    ],
    dtype=np.float32,
)  # fmt: skip
"""Weights a_j of the m = 32 Fourier coefficients (float32, as stored in ``.tmk`` files)."""
FOURIER_COEFFS.setflags(write=False)

NUM_PERIODS: Final[int] = len(PERIODS)
NUM_COEFFS: Final[int] = len(FOURIER_COEFFS)
