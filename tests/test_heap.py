"""Hashing processes keep freed picture buffers (hashcore.heap): measured by the page faults a
fresh interpreter takes to hash the same 1.6 MP photo again and again."""

from __future__ import annotations

import platform
from pathlib import Path

import pytest

from tests.fresh_python import python_output

PHOTO = Path(__file__).parent / "data" / "pdq" / "dih" / "bridge-1-original.jpg"

FAULTS_OF_HASHING_AGAIN = """
import resource, sys
from hashcore import hash_file, load_registry
from hashcore.heap import keep_freed_memory
kept = keep_freed_memory() if sys.argv[1] == "keep" else None
registry = load_registry()
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(2):  # lazy imports and first allocations
    hash_file(sys.argv[2], registry)
before = faults()
for _ in range(10):
    hash_file(sys.argv[2], registry)
print(kept, faults() - before)
"""

glibc_only = pytest.mark.skipif(
    platform.libc_ver()[0] != "glibc", reason="mallopt's thresholds are glibc's"
)


@glibc_only
def test_freed_picture_buffers_are_reused_not_faulted_in_again() -> None:
    kept, faults = python_output(FAULTS_OF_HASHING_AGAIN, "keep", str(PHOTO)).split()
    assert kept == "True"
    assert int(faults) < 1000  # measured: 2 (27,000 without)


@glibc_only
def test_without_it_each_picture_costs_fresh_pages() -> None:
    """The control: with glibc's defaults the same ten hashes fault pages in again, so the
    check above can fail."""
    kept, faults = python_output(FAULTS_OF_HASHING_AGAIN, "default", str(PHOTO)).split()
    assert kept == "None"
    assert int(faults) > 10 * 1000


def test_hashing_a_folder_keeps_freed_memory() -> None:
    """``hash_files`` (the CLI's ``hash``, ``bank add`` and ``lookup`` of files) sets it up."""
    output = python_output(
        "from hashcore import heap, load_registry; from hashcore.hash_pool import hash_files; "
        "assert heap.keep_freed_memory.cache_info().currsize == 0; "
        "list(hash_files([], load_registry(), jobs=1)); "
        "print(heap.keep_freed_memory.cache_info().currsize)"
    )
    assert output == "1\n"
