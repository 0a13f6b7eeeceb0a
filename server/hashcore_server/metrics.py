"""Prometheus metrics, served on their own optional port.

A registry per server (not prometheus_client's global one) keeps test servers independent.
Index sizes are read from the engine at scrape time, so they are never stale and cost nothing
between scrapes.
"""

from __future__ import annotations

import collections
import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from hashcore.engine import Engine
from hashcore.model import LookupResult
from hashcore.signals import Signal

log = logging.getLogger("hashcore.server")

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.rpcs = Counter(
            "hashcore_rpcs",
            "RPCs handled, by method and status code",
            ["method", "code"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "hashcore_rpc_latency_seconds",
            "RPC latency by method",
            ["method"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.lookups = Counter(
            "hashcore_lookups",
            "Query lookups by signal family and result (match, miss, skipped)",
            ["family", "result"],
            registry=self.registry,
        )
        self.imports = Counter(
            "hashcore_import_records",
            "Partner feed records imported, by outcome",
            ["outcome"],
            registry=self.registry,
        )
        self.dropped_events = Counter(
            "hashcore_dropped_match_events",
            "Match events a slow watcher missed",
            registry=self.registry,
        )
        self._http: Any = None
        self._thread: threading.Thread | None = None

    def watch_indexes(self, engine: Callable[[], Engine | None]) -> None:
        """Report index sizes, read from ``engine()`` (once there is one) at scrape time."""
        self.registry.register(_IndexCollector(engine))

    def count_lookups(self, lookups: Iterable[tuple[Iterable[Signal], LookupResult]]) -> None:
        """Count each query once per family it asked, as match, skipped or miss.

        Tallied first and added once per label: a 500-query batch costs a few increments.
        """
        tally: collections.Counter[tuple[str, str]] = collections.Counter()
        for signals, result in lookups:
            matched = {hit.type for match in result.matches for hit in match.signals}
            skipped = {skip.type for skip in result.skipped}
            for family in {signal.type for signal in signals}:
                outcome = (
                    "match" if family in matched else "skipped" if family in skipped else "miss"
                )
                tally[family, outcome] += 1
        for (family, outcome), count in tally.items():
            self.lookups.labels(family, outcome).inc(count)

    def serve(self, listen: str) -> int:
        """Start the HTTP exporter on ``host:port``; return the bound port."""
        host, _, port = listen.rpartition(":")
        self._http, self._thread = start_http_server(
            int(port), addr=host.strip("[]") or "127.0.0.1", registry=self.registry
        )
        bound = int(self._http.server_address[1])
        log.info("metrics on http://%s:%d/metrics", host or "127.0.0.1", bound)
        return bound

    def close(self) -> None:
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None


class _IndexCollector(Collector):
    """Index sizes per family and the number of banks, read when scraped.

    Per-bank entry counts are left out on purpose: counting them means a scan of the store
    (seconds on a 1M-entry bank), too slow for every scrape.
    """

    def __init__(self, engine: Callable[[], Engine | None]) -> None:
        self._engine = engine

    def collect(self) -> Iterator[GaugeMetricFamily]:
        signals = GaugeMetricFamily(
            "hashcore_index_values", "Distinct live hash values per family index", labels=["family"]
        )
        banks = GaugeMetricFamily("hashcore_banks", "Banks in the store")
        engine = self._engine()
        if engine is not None:
            try:
                for family, state in sorted(engine.index_status().items()):
                    signals.add_metric([family], state.values)
                banks.add_metric([], len(engine.bank_names()))
            except Exception:
                log.warning("metrics: could not read index sizes", exc_info=True)
        yield signals
        yield banks
