"""FAISS's OpenMP threads sleep between searches (hashcore.index sets OMP_WAIT_POLICY=PASSIVE
unless the user chose): measured as the CPU time a fresh interpreter burns while idle right
after some parallel searches."""

from __future__ import annotations

import os

import pytest

from tests.fresh_python import environment_without, python_output

IDLE_CPU_AFTER_SEARCHES = """
import os, resource, time
import numpy as np
import hashcore.index.hamming  # imports faiss, after hashcore.index
import faiss
rng = np.random.default_rng(1)
index = faiss.IndexBinaryFlat(256)
index.add(rng.integers(0, 256, (20000, 32), dtype=np.uint8))
queries = rng.integers(0, 256, (64, 32), dtype=np.uint8)
for _ in range(3):
    index.range_search(queries, 90)
def cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
before = cpu()
time.sleep(0.3)
print(os.environ.get("OMP_WAIT_POLICY", "unset"), cpu() - before)
"""

several_cpus = pytest.mark.skipif(
    len(os.sched_getaffinity(0)) < 2, reason="one CPU: OpenMP starts no thread to spin"
)


def test_faiss_threads_sleep_once_a_search_ends() -> None:
    env = environment_without("OMP_WAIT_POLICY")
    policy, idle_cpu = python_output(IDLE_CPU_AFTER_SEARCHES, env=env).split()
    assert float(idle_cpu) < 0.003  # measured: 0.0001 s (0.009 with libgomp's default spin)
    assert policy == "PASSIVE"


@several_cpus
def test_a_policy_the_user_set_wins() -> None:
    """The control: ACTIVE spins through the whole idle time, so the check above can fail."""
    env = environment_without("OMP_WAIT_POLICY", OMP_WAIT_POLICY="ACTIVE")
    policy, idle_cpu = python_output(IDLE_CPU_AFTER_SEARCHES, env=env).split()
    assert policy == "ACTIVE"
    assert float(idle_cpu) > 0.15  # measured: 0.300 s
