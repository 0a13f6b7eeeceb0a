"""Progress of the CLI's long jobs, on stderr: a bar for a person, a plain line for a log.

On a terminal, a tqdm bar with the count, the total, the rate and the time left. Anywhere else
(a log file, a CI job, a pipe), one plain line every ``HASHCORE_PROGRESS_SECONDS`` (default 10)
so a 100k-record import is not silent for minutes. stdout is never touched: ``--json`` output
stays pure, and result lines go through :meth:`Progress.write` so they never mangle the bar.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from tqdm import tqdm

PROGRESS_SECONDS_ENV = "HASHCORE_PROGRESS_SECONDS"
DEFAULT_LOG_EVERY = 10.0


class Progress:
    """Counts work done; ``total`` may be ``None`` (a feed of unknown length)."""

    def __init__(
        self,
        total: int | None,
        label: str,
        *,
        stream: TextIO | None = None,
        enabled: bool | None = None,
        log_every: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total = total
        self.label = label
        self.done = 0
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.log_every = log_every if log_every is not None else _log_every()
        self._clock = clock
        self._start = self._last_log = clock()
        self._bar: tqdm[None] | None = None
        if self.enabled:
            from tqdm import tqdm  # ~25 ms to import: paid on a terminal only, not in scripts

            self._bar = tqdm(
                total=total,
                desc=label,
                file=self.stream,
                unit=" items",
                unit_scale=False,
                dynamic_ncols=True,
                leave=True,
            )

    def advance(self, count: int = 1) -> None:
        self.done += count
        if self._bar is not None:
            self._bar.update(count)
        elif self.log_every > 0 and self._clock() - self._last_log >= self.log_every:
            self._log()

    def write(self, line: str, *, file: TextIO | None = None) -> None:
        """Print a result line (stdout by default) above the bar, not through it."""
        out = file if file is not None else sys.stdout
        if self._bar is not None:
            self._bar.clear()
            print(line, file=out, flush=True)
            self._bar.refresh()
        else:
            print(line, file=out, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        elif self.done and self._clock() - self._start >= self.log_every > 0:
            self._log(final=True)  # a long job's log ends with its total

    def _log(self, *, final: bool = False) -> None:
        now = self._clock()
        self._last_log = now
        elapsed = now - self._start
        rate = self.done / elapsed if elapsed > 0 else 0.0
        parts = [f"{self.label}: {self.done:,}"]
        if self.total:
            parts[0] += f"/{self.total:,} ({100 * self.done / self.total:.0f}%)"
        parts.append(f"{rate:,.1f}/s")
        parts.append(f"{elapsed:,.0f} s")
        if self.total and rate > 0 and not final:
            parts.append(f"about {(self.total - self.done) / rate:,.0f} s left")
        if final:
            parts.append("done")
        print(", ".join(parts), file=self.stream, flush=True)


def _log_every() -> float:
    raw = os.environ.get(PROGRESS_SECONDS_ENV)
    try:
        return float(raw) if raw else DEFAULT_LOG_EVERY
    except ValueError:
        return DEFAULT_LOG_EVERY
