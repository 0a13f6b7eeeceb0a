"""A signal type that makes a hashing worker die or hang on cue, for tests/test_hash_pool.py.

Files whose name contains ``die`` end the process hashing them (``os._exit``, as a crashing
decoder would); ``hang`` touches ``<stem>.started`` beside the file, then keeps hashing until
the caller's stop condition holds (checking it as the TMK frame loop does) or the process is
killed. Any other file gets one byte: 2 when the environment has ``HASHCORE_CUE`` (what the
worker's environment is), else 1. ``warm_up`` touches ``warm-<pid>`` in the folder named by
``HASHCORE_TEST_WARM_DIR``, so a test sees which processes warmed up.
"""

from __future__ import annotations

import os
import time
from typing import ClassVar

import hashcore
from hashcore.cancel import check

DIE_STATUS = 3


class CueSignal(hashcore.BitSignalType):
    name: ClassVar[str] = "cue"
    description: ClassVar[str] = "dies or hangs on cue (test plugin)"
    content_kinds: ClassVar[frozenset[hashcore.ContentKind]] = frozenset(hashcore.ContentKind)
    bits: ClassVar[int] = 8
    metric: ClassVar[hashcore.Metric] = hashcore.Metric.EXACT
    default_threshold: ClassVar[float] = 0

    def warm_up(self) -> None:
        folder = os.environ.get("HASHCORE_TEST_WARM_DIR")
        if folder:
            with open(os.path.join(folder, f"warm-{os.getpid()}"), "a") as marker:
                marker.write("warm\n")

    def hash(self, media: hashcore.Media) -> hashcore.Signal:
        if "die" in media.path.name:
            os._exit(DIE_STATUS)
        if "hang" in media.path.name:
            media.path.with_suffix(".started").touch()  # the test knows the worker is held
        while "hang" in media.path.name:
            check()
            time.sleep(0.01)
        return hashcore.Signal(self.name, b"\x02" if os.environ.get("HASHCORE_CUE") else b"\x01")
