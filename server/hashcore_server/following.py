"""The ``[[follow]]`` tables: one background follower per table while the server serves.

Each follower applies its partner's updates through the server's own engine (lookups see them
at once), reconnects with backoff on failure (and keeps retrying slowly when refused: the
partner may fix its grant), is reported in the health service as ``hashcore.follow/<local
bank>`` (SERVING while its stream is up), and is stopped before the engine closes.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence

from hashcore.cli.credentials import read_private
from hashcore.engine import Engine
from hashcore.errors import HashcoreError
from hashcore.sharing import Follower, FollowSource
from hashcore_server.config import FollowTable

log = logging.getLogger("hashcore.server")

HEALTH_PREFIX = "hashcore.follow/"
REPORT_SECONDS = 1.0


class Followers:
    """The running followers of a server; :meth:`stop` ends and joins them."""

    def __init__(self, tables: Sequence[FollowTable], report: Callable[[str, bool], None]) -> None:
        self._tables = tuple(tables)
        self._report = report
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.followers: list[Follower] = []

    def start(self, engine: Engine) -> None:
        for table in self._tables:
            try:
                token = read_private(table.token_file, "token file").strip()
            except HashcoreError as error:  # reported, not fatal: the other tables still run
                log.error("[[follow]] %s: %s", table.local_bank, error.message)
                self._report(table.local_bank, False)
                continue
            source = FollowSource(
                table.address,
                table.remote_bank,
                token,
                table.name,
                table.ca_cert,
                table.insecure_plaintext,
            )
            follower = Follower(engine, table.local_bank, source)
            self.followers.append(follower)
            self._report(table.local_bank, False)
            thread = threading.Thread(
                target=follower.run,
                args=(self._stop,),
                name=f"hashcore-follow-{table.local_bank}",
                daemon=True,
            )
            thread.start()
            self._threads.append(thread)
            log.info(
                "following %s/%s into bank %r",
                source.name,
                table.remote_bank,
                table.local_bank,
            )
        if self.followers:
            threading.Thread(target=self._watch, name="hashcore-follow-health", daemon=True).start()

    def _watch(self) -> None:
        while not self._stop.wait(REPORT_SECONDS):
            for follower in self.followers:
                self._report(follower.local_bank, follower.healthy)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()
        for follower in self.followers:
            self._report(follower.local_bank, False)
