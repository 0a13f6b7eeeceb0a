"""Process-wide defaults hashcore sets for its native libraries, each only where the user has not.

Both libraries read their settings when they are loaded, so this module runs before anything
imports numpy or faiss: first in ``hashcore/__init__.py``.
"""

from __future__ import annotations

import os

OPENMP_WAIT_ENV = "OMP_WAIT_POLICY"
os.environ.setdefault(OPENMP_WAIT_ENV, "PASSIVE")
"""FAISS's OpenMP threads sleep as soon as a search ends instead of spinning for the next one.

libgomp's default keeps them busy-waiting a few milliseconds after every parallel search: in a
server whose content lookups arrive every 10-20 ms they never stopped, taking a core from the
hashing workers (perf of ``hashcore serve --workers 1`` over 120 content lookups: 19% of the
server's samples in libgomp's wait loop; its CPU 5.8-14.3 ms a call, 4.0-4.5 with PASSIVE)."""

OPENBLAS_TIMEOUT_ENV = "OPENBLAS_THREAD_TIMEOUT"
os.environ.setdefault(OPENBLAS_TIMEOUT_ENV, "4")
"""numpy's OpenBLAS threads sleep after 2^4 cycles idle instead of OpenBLAS's default 2^28.

OpenBLAS starts its threads when numpy is imported, and they spin for ~0.1 s of CPU before they
sleep, in every process, with no work to wait for: hashcore's matrices are small enough for
OpenBLAS's one-thread kernels. In ``hashcore hash --jobs 2`` that spin ran beside the two hashing
workers on a 2-core machine (perf: 5% of the command's samples; ``python -c "import numpy"``
0.22 s of user time, 0.12 s with this)."""
