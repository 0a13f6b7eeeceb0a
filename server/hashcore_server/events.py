"""Fan-out of match events to ``WatchMatches`` subscribers.

Each subscriber gets a bounded queue: a slow watcher loses events (counted) rather than slowing
lookups down or growing memory without limit. Closing the hub ends every stream cleanly, which is
how a graceful shutdown finishes long-lived watches.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Sequence

from hashcore.api.v1 import hashcore_pb2 as pb

_CLOSED = object()


class Subscription:
    def __init__(self, accepts: Callable[[str], bool], size: int) -> None:
        self.accepts = accepts
        self.dropped = 0
        self._queue: queue.Queue[object] = queue.Queue(maxsize=size)
        self.closed = False

    def offer(self, event: pb.MatchEvent) -> None:
        try:
            self._queue.put_nowait(event)
        except queue.Full:
            self.dropped += 1

    def close(self) -> None:
        self.closed = True
        with contextlib.suppress(queue.Full):  # the reader checks ``closed`` on its next poll
            self._queue.put_nowait(_CLOSED)

    def get(self, timeout: float) -> pb.MatchEvent | None:
        """The next event, or None after ``timeout`` or once closed."""
        try:
            item = self._queue.get(timeout=timeout)
        except queue.Empty:
            return None
        if item is _CLOSED:
            self.closed = True
            return None
        assert isinstance(item, pb.MatchEvent)
        return item


class EventHub:
    def __init__(self, queue_size: int = 1000) -> None:
        self._lock = threading.Lock()
        self._subscribers: set[Subscription] = set()
        self._queue_size = queue_size
        self._closed = False

    def subscribe(self, accepts: Callable[[str], bool]) -> Subscription:
        """A subscription receiving events whose bank ``accepts`` approves."""
        subscription = Subscription(accepts, self._queue_size)
        with self._lock:
            if self._closed:
                subscription.close()
            else:
                self._subscribers.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        with self._lock:
            self._subscribers.discard(subscription)
        subscription.close()

    def publish(self, events: Sequence[pb.MatchEvent]) -> None:
        if not events:
            return
        with self._lock:
            subscribers = list(self._subscribers)
        for subscription in subscribers:
            for event in events:
                if subscription.accepts(event.bank):
                    subscription.offer(event)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            subscribers = list(self._subscribers)
            self._subscribers.clear()
        for subscription in subscribers:
            subscription.close()

    def __len__(self) -> int:
        with self._lock:
            return len(self._subscribers)
