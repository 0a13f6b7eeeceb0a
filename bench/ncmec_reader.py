"""The NCMEC reader against the expat-callback reader it replaced, side by side in one process.

    python bench/ncmec_reader.py FEED [ROUNDS]

Feeds ``FEED`` (an NCMEC XML file, e.g. the lifecycle benchmark's cached
``feed-200000.ncmec``) in 64 KB chunks through ``tests/ncmec_expat_reference.py`` (Python
handlers per element, the reader through session 9) and
:class:`~hashcore.formats.ncmec_reader.NcmecReader` (ElementTree's C parser), alternating,
``ROUNDS`` times each; then the whole format (``NcmecFormat.read_columns``: the reader, the
records' checks and the columns) once. Prints each CPU time (the process's: less swayed than
the clock by another job on the cores), the ratio and the load average.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

from hashcore.formats import get_format
from hashcore.formats.ncmec_reader import NcmecReader, RawEntry
from hashcore.formats.xmlsafe import CHUNK
from hashcore.registry import load_registry
from tests.ncmec_expat_reference import ExpatReader


def read_all(make: Callable[[], ExpatReader | NcmecReader], path: Path) -> tuple[float, int]:
    """(CPU seconds, entries) to read the file with a fresh reader."""
    start = time.process_time()
    reader = make()
    entries = 0
    with path.open("rb") as stream:
        while chunk := stream.read(CHUNK):
            reader.feed(chunk)
            entries += sum(type(found) is RawEntry for found in reader.done)
            reader.done.clear()
    reader.close()
    return time.process_time() - start, entries


def main() -> None:
    path = Path(sys.argv[1])
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    for round_ in range(1, rounds + 1):
        old, count = read_all(ExpatReader, path)
        new, same = read_all(NcmecReader, path)
        assert count == same, (count, same)
        print(
            f"round {round_}: {count:,} entries, CPU: expat callbacks {old:.2f} s, "
            f"C parser {new:.2f} s: x{old / new:.2f}; load {load()}"
        )
    fmt = get_format("ncmec", load_registry())
    start = time.process_time()
    with path.open("rb") as stream:
        for _ in fmt.read_columns(stream):
            pass
    print(f"whole format to columns: {time.process_time() - start:.2f} s CPU; load {load()}")


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


if __name__ == "__main__":
    main()
