"""Signals cross a pipe from every hashing process (``hashcore.hash_pool``): pickled, they
must come back equal, field for field, whatever the protocol."""

from __future__ import annotations

import pickle
from dataclasses import fields
from pathlib import Path

import pytest

from hashcore.content import ContentKind
from hashcore.hashing import FileHashes, HashFailure
from hashcore.signals import Signal

SIGNALS = [
    Signal("pdq", bytes(range(32)), 100, True, "rot90"),
    Signal("pdq", b"\x00" * 32, 0, False, None),
    Signal("md5", b"\xff" * 16),
    Signal("phash", b"\x01" * 8, None, True, "trimmed+flipx"),
    Signal("vpdq", b"", 7, False, "centre90"),
]


@pytest.mark.parametrize("protocol", range(2, pickle.HIGHEST_PROTOCOL + 1))
def test_signals_come_back_equal_field_for_field(protocol: int) -> None:
    for signal in SIGNALS:
        back = pickle.loads(pickle.dumps(signal, protocol=protocol))
        assert type(back) is Signal
        for field in fields(Signal):  # every field, a field added later too
            assert getattr(back, field.name) == getattr(signal, field.name), field.name


def test_a_file_s_hashes_come_back_equal() -> None:
    hashes = FileHashes(
        Path("a.jpg"), ContentKind.IMAGE, list(SIGNALS), [HashFailure("phash", "a.jpg: x")]
    )
    back = pickle.loads(pickle.dumps(("ok", hashes), protocol=pickle.HIGHEST_PROTOCOL))[1]
    assert back == hashes
