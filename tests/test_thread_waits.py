"""Native threads sleep once their work ends (hashcore.process_defaults, unless the user chose):
FAISS's OpenMP threads after a search (``OMP_WAIT_POLICY=PASSIVE``) and numpy's OpenBLAS threads
after a product (``OPENBLAS_THREAD_TIMEOUT=4``). Each is measured as the CPU time a fresh
interpreter burns while idle right after the work; each has a control where the spin is back,
so the checks can fail."""

from __future__ import annotations

import os

import pytest

from tests.fresh_python import environment_without, python_output

IDLE_CPU_AFTER_SEARCHES = """
import os, resource, sys, time
import numpy as np
import hashcore.index.hamming  # imports faiss, after hashcore.index
import faiss
rng = np.random.default_rng(1)
index = faiss.IndexBinaryFlat(256)
index.add(rng.integers(0, 256, (20000, 32), dtype=np.uint8))
queries = rng.integers(0, 256, (64, 32), dtype=np.uint8)
for _ in range(3):
    index.range_search(queries, 90)
"""

IDLE = """
def cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
before = cpu()
time.sleep(0.3)
print(os.environ.get(sys.argv[1], "unset"), cpu() - before)
"""
"""What a script above then does: sleeps, and prints the setting and the CPU time it took."""


def idle_after(work: str, variable: str, env: dict[str, str]) -> tuple[str, float]:
    """``variable``'s value in a fresh interpreter that ran ``work``, and its idle CPU time."""
    value, idle_cpu = python_output(work + IDLE, variable, env=env).split()
    return value, float(idle_cpu)


several_cpus = pytest.mark.skipif(
    len(os.sched_getaffinity(0)) < 2, reason="one CPU: OpenMP starts no thread to spin"
)


def test_faiss_threads_sleep_once_a_search_ends() -> None:
    env = environment_without("OMP_WAIT_POLICY")
    policy, idle_cpu = idle_after(IDLE_CPU_AFTER_SEARCHES, "OMP_WAIT_POLICY", env)
    assert idle_cpu < 0.003  # measured: 0.0001 s (0.009 with libgomp's default spin)
    assert policy == "PASSIVE"


@several_cpus
def test_a_policy_the_user_set_wins() -> None:
    """The control: ACTIVE spins through the whole idle time, so the check above can fail."""
    env = environment_without("OMP_WAIT_POLICY", OMP_WAIT_POLICY="ACTIVE")
    policy, idle_cpu = idle_after(IDLE_CPU_AFTER_SEARCHES, "OMP_WAIT_POLICY", env)
    assert policy == "ACTIVE"
    assert idle_cpu > 0.15  # measured: 0.300 s


IDLE_CPU_AFTER_PRODUCTS = """
import os, resource, sys, time
import hashcore  # before numpy, as any hashcore command or server
import numpy as np
a = np.random.default_rng(1).random((512, 512))
for _ in range(3):
    a @ a  # large enough for OpenBLAS to use its threads
"""


def test_openblas_threads_sleep_once_a_product_ends() -> None:
    env = environment_without("OPENBLAS_THREAD_TIMEOUT", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")
    timeout, idle_cpu = idle_after(IDLE_CPU_AFTER_PRODUCTS, "OPENBLAS_THREAD_TIMEOUT", env)
    assert timeout == "4"
    assert idle_cpu < 0.01  # measured: 0.0001 s (0.13 s with OpenBLAS's default)


@several_cpus
def test_an_openblas_timeout_the_user_set_wins() -> None:
    """The control: OpenBLAS's own default (2^28 cycles) spins ~0.13 s after the products."""
    env = environment_without(
        "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", OPENBLAS_THREAD_TIMEOUT="28"
    )
    timeout, idle_cpu = idle_after(IDLE_CPU_AFTER_PRODUCTS, "OPENBLAS_THREAD_TIMEOUT", env)
    assert timeout == "28"
    assert idle_cpu > 0.05  # measured: 0.13 s
