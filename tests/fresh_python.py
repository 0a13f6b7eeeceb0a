"""A script run in a fresh interpreter: what a new process loads, or how an install without a
module behaves (one made unimportable), cannot be seen from the test process, which has
imported everything already."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping


def run_python(
    script: str, *args: str, env: Mapping[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """``python -c script args...``, its output captured as text, whatever its exit code."""
    return subprocess.run(
        [sys.executable, "-c", script, *args],
        env=dict(env) if env is not None else None,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def python_output(
    script: str, *args: str, env: Mapping[str, str] | None = None, timeout: float = 300
) -> str:
    """What ``script`` prints; the test fails with its stderr when it exits with an error."""
    done = run_python(script, *args, env=env, timeout=timeout)
    assert done.returncode == 0, done.stderr
    return done.stdout


def environment_without(*names: str, **extra: str) -> dict[str, str]:
    """This process's environment without ``names``, with ``extra`` set."""
    env = {key: value for key, value in os.environ.items() if key not in names}
    env.update(extra)
    return env
