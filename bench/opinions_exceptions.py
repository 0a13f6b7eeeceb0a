"""Lookup throughput with 0 and with 1,000 false-positive exceptions, side by side.

Two copies of one store (100,000 PDQ entries): the second gets 1,000 local false-positive
opinions, each with a content hash 8 bits from its entry, and the 1,000 queries are drawn so
that a quarter of them hit an excepted entry (half of those within the exception: dropped).
Each round times both engines on the same queries, alternating which goes first, and the plain
one once more with the filter taken out of ``Engine.lookup_many`` (``unfiltered``: the cost of
the exception probe itself with no exceptions); the figure is the median of the rounds, the
ratios are taken per round. Both engines are opened and
warmed before timing, so only lookups are measured.

    .venv/bin/python bench/opinions_exceptions.py [--entries 100000] [--rounds 7]
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import hashcore.engine
from hashcore.engine import Engine
from hashcore.opinions import NewOpinion, OpinionKind
from hashcore.opinions.api import LocalOpinions
from hashcore.registry import load_registry
from hashcore.signals import Signal

QUERIES = 1000
EXCEPTIONS = 1000


def flip(value: bytes, bits: list[int]) -> bytes:
    number = int.from_bytes(value, "big")
    for bit in bits:
        number ^= 1 << bit
    return number.to_bytes(len(value), "big")


def build(directory: Path, entries: int, rng: random.Random) -> list[bytes]:
    codes = [rng.randbytes(32) for _ in range(entries)]
    with Engine(directory, load_registry()) as engine:
        engine.create_bank("partner")
        with engine.batch() as writer:
            for number, code in enumerate(codes):
                writer.add_entry("partner", [Signal("pdq", code, quality=100)],
                                 external_id=f"e{number}")  # fmt: skip
    return codes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(17)
    root = Path(tempfile.mkdtemp(prefix="hashcore-bench-"))
    try:
        codes = build(root / "plain", args.entries, rng)
        shutil.copytree(root / "plain", root / "excepted")
        plain = Engine(root / "plain", load_registry())
        excepted = Engine(root / "excepted", load_registry())
        chosen = rng.sample(range(args.entries), EXCEPTIONS)
        fp_hash = {n: flip(codes[n], rng.sample(range(256), 8)) for n in chosen}
        book = LocalOpinions(excepted.store)
        for number in chosen:
            book.record_opinion(
                NewOpinion("partner", f"e{number}", OpinionKind.FALSE_POSITIVE, "bench",
                           hashes=(Signal("pdq", fp_hash[number]),))
            )  # fmt: skip
        queries = []
        for q in range(QUERIES):
            if q % 4 == 0:  # an excepted entry: near its false positive, or near the entry
                number = chosen[q % EXCEPTIONS]
                base = fp_hash[number] if q % 8 == 0 else codes[number]
            else:
                base = codes[rng.randrange(args.entries)]
            queries.append([Signal("pdq", flip(base, rng.sample(range(256), 4)), quality=100)])
        for engine in (plain, excepted):
            engine.lookup_many(queries[:10])  # open the index, load the kernel
        batch: dict[str, list[float]] = {"plain": [], "excepted": [], "unfiltered": []}
        single: dict[str, list[float]] = {"plain": [], "excepted": [], "unfiltered": []}
        engines = {"plain": plain, "excepted": excepted, "unfiltered": plain}
        keep = hashcore.engine.drop_excepted
        matched = {}
        for round_ in range(args.rounds):
            order = ["plain", "excepted", "unfiltered"]
            for name in order if round_ % 2 == 0 else order[::-1]:
                engine = engines[name]
                hashcore.engine.drop_excepted = (  # type: ignore[assignment]
                    (lambda store, registry, queries, matched: (matched, [[] for _ in matched]))
                    if name == "unfiltered" else keep
                )  # fmt: skip
                batch[name].append(timed(lambda e=engine: e.lookup_many(queries)))
                single[name].append(
                    timed(lambda e=engine: [e.lookup_signals(q) for q in queries[:200]]) / 200
                )
                matched[name] = sum(bool(r.matches) for r in engine.lookup_many(queries))
        hashcore.engine.drop_excepted = keep
        report(batch, single, matched)
        plain.close()
        excepted.close()
    finally:
        shutil.rmtree(root)


def timed(work: Callable[[], object]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def report(
    batch: dict[str, list[float]], single: dict[str, list[float]], matched: dict[str, int]
) -> None:
    print("queries matched: " + ", ".join(f"{k} {v}" for k, v in matched.items()))
    for label, times, count in (("batch of 1000", batch, QUERIES), ("one at a time", single, 1)):
        rates = {name: count / statistics.median(values) for name, values in times.items()}

        def ratio(a: str, b: str, times: dict[str, list[float]] = times) -> float:
            return statistics.median(x / y for x, y in zip(times[a], times[b], strict=True))

        print(
            f"{label}: unfiltered {rates['unfiltered']:,.0f} q/s, 0 exceptions "
            f"{rates['plain']:,.0f} q/s, {EXCEPTIONS} exceptions {rates['excepted']:,.0f} q/s; "
            f"time ratios (median of {len(times['plain'])} rounds): 0 exceptions / unfiltered "
            f"{ratio('plain', 'unfiltered'):.3f}, {EXCEPTIONS} / 0 exceptions "
            f"{ratio('excepted', 'plain'):.3f}"
        )


if __name__ == "__main__":
    main()
