"""Freed picture buffers kept for the next picture, not handed back to the kernel.

glibc serves an allocation of 128 KB or more with a fresh ``mmap`` and unmaps it when freed,
raising that threshold only once such a block has been freed. Hashing a 1 MP photo allocates
several 1-4 MB buffers (the decoded picture, its RGB array, the working copy) and frees them, so
the first files of a process kept paying for new pages: the kernel zeroes each one on its first
touch. Over 120 ~1 MP JPEGs in one process (``hashcore hash --jobs 1``) that was ~74,000 page
faults and ~0.2 s of system time in ~1.5 s; with the thresholds below, ~9,000 and 0.05 s.

:func:`keep_freed_memory` raises glibc's mmap threshold to its maximum (32 MB: bigger pictures
still get their own mappings, returned when freed) and lets up to 64 MB of freed memory stay in
the heap. A hashing process therefore keeps about its largest picture's working set, which it
needs again for the next file. Elsewhere (musl, macOS) nothing changes.
"""

from __future__ import annotations

import ctypes
import functools

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
"""``mallopt`` parameters (glibc's ``malloc.h``)."""

MMAP_THRESHOLD = 32 << 20
"""glibc's upper limit for the mmap threshold on 64-bit systems."""
TRIM_THRESHOLD = 64 << 20
"""Freed memory at the top of the heap beyond this goes back to the kernel."""


@functools.cache
def keep_freed_memory() -> bool:
    """Have this process's allocator keep freed picture-sized blocks for reuse (once per
    process; inherited by forked workers). False where the C library has no ``mallopt`` or
    refuses the settings."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )
