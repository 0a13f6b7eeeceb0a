"""Engine.lookup_many (behind LookupBatch) answers exactly what lookup_signals answers per query."""

from __future__ import annotations

import random

from server_support import registry

from hashcore.engine import Engine
from hashcore.signals import Signal


def flip(value: bytes, bits: int, rng: random.Random) -> bytes:
    number = int.from_bytes(value, "big")
    for bit in rng.sample(range(len(value) * 8), bits):
        number ^= 1 << bit
    return number.to_bytes(len(value), "big")


def test_batched_lookups_equal_one_by_one(tmp_path):
    rng = random.Random(3)
    with Engine(tmp_path / "store", registry()) as engine:
        engine.create_bank("default")
        engine.create_bank("strict", thresholds={"pdq": 10})
        engine.create_bank("off", enabled=False)
        bases = [rng.randbytes(32) for _ in range(40)]
        with engine.batch() as writer:
            for i, base in enumerate(bases):
                for bank in ("default", "strict", "off"):
                    writer.add_entry(
                        bank,
                        [Signal("pdq", base), Signal("md5", base[:16])],
                        external_id=f"{bank}-{i}",
                    )
        queries = []
        for i, base in enumerate(bases):
            distance = (0, 9, 10, 11, 30, 31, 32, 60)[i % 8]
            query = [Signal("pdq", flip(base, distance, rng), quality=90, variant="original")]
            if i % 3 == 0:
                query.append(Signal("md5", base[:16]))
            if i % 5 == 0:
                query.append(Signal("pdq", rng.randbytes(32), quality=10, usable=False))
            queries.append(query)
        queries.append([Signal("pdq", rng.randbytes(32))])
        for thresholds, banks in ((None, None), ({"pdq": 31}, ["strict"]), (None, ["off"])):
            expected = [
                engine.lookup_signals(q, thresholds=thresholds, banks=banks) for q in queries
            ]
            got = engine.lookup_many(queries, thresholds=thresholds, banks=banks)
            assert got == expected
            matched = sum(bool(result.matches) for result in got)
            assert matched == 0 if banks == ["off"] else 0 < matched < len(queries)
            assert any(result.skipped for result in got)
