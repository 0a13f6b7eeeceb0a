"""A small HTTP GET client for partner APIs: stdlib urllib, timeouts, retries with backoff.

Transient failures (5xx, 429, dropped or refused connections, timeouts) are retried with
exponential backoff; after the last attempt the caller gets :class:`NotReady` and the import
resumes from its last committed checkpoint next time. Credentials go only to the origin they
were given for, so a partner's ``next`` link pointing elsewhere cannot harvest them, and URLs
are reported without their query string (which may hold tokens or cursors).
"""

from __future__ import annotations

import contextlib
import functools
import http.client
import json
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hashcore.errors import InvalidInput, LimitExceeded, NotFound, NotReady

USER_AGENT = "hashcore-bank-fetch/1"
RETRY_STATUS = frozenset({429, 500, 502, 503, 504})


def origin(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def redact_url(url: str) -> str:
    """``scheme://host:port/path`` only: queries carry tokens and cursors and a URL's
    ``user:password@`` credentials, never logged; the port stays (it tells two services on
    one host apart)."""
    parts = urllib.parse.urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return f"{parts.scheme}://{host}{parts.path}"


def join_url(base: str, link: str) -> str:
    """Resolve a partner's root-relative link against the API root inside ``base``.

    NCMEC and the Graph API hand out links relative to their API root, which may sit under a
    path (``https://host/npo``, ``/v18.0``); a plain ``urljoin`` would drop that prefix. When
    ``base`` is itself the endpoint the link points at, its path is the link's path, so the
    root is what precedes it.
    """
    if link.startswith(("http://", "https://")):
        return link
    if not link.startswith("/"):
        return urllib.parse.urljoin(base, link)
    parts = urllib.parse.urlsplit(base)
    root = parts.path.rstrip("/")
    link_path = urllib.parse.urlsplit(link).path.rstrip("/")
    if link_path and root.endswith(link_path):
        root = root[: -len(link_path)]
    elif link_path and root and link.startswith(root + "/"):
        root = ""
    return f"{parts.scheme}://{parts.netloc}{root}{link}"


def with_query(url: str, params: Mapping[str, object]) -> str:
    """``url`` with ``params`` added (values ``None`` left out)."""
    query = urllib.parse.urlencode({k: str(v) for k, v in params.items() if v is not None})
    if not query:
        return url
    return f"{url}{'&' if '?' in url else '?'}{query}"


@dataclass
class HttpClient:
    """GET with retries. ``sleep`` is injectable so tests do not wait for the backoff."""

    headers: Mapping[str, str] = field(default_factory=dict)
    """Sent with every request to ``auth_origin`` only (credentials)."""
    auth_origin: str | None = None
    timeout: float = 30.0
    """Seconds one request (connecting, headers and the whole body) may take in all: a server
    trickling a byte now and then cannot hold an import forever."""
    retries: int = 4
    backoff: float = 1.0
    max_bytes: int = 256 << 20
    sleep: Callable[[float], None] = time.sleep
    requests: int = 0

    def get(self, url: str, *, accept: str | None = None) -> bytes:
        """The body of ``url``; raise after ``retries`` failed retries or at once on a 4xx."""
        return self.send("GET", url, accept=accept)

    def send(
        self,
        method: str,
        url: str,
        body: bytes | None = None,
        *,
        content_type: str | None = None,
        accept: str | None = None,
    ) -> bytes:
        """``method`` on ``url`` with ``body`` (feedback to a partner: PUT, POST), retried and
        refused like :meth:`get`; the response's body."""
        scheme = urllib.parse.urlsplit(url).scheme
        if scheme not in ("http", "https"):
            raise InvalidInput(f"only http(s) URLs can be fetched, not {scheme!r}", field="url")
        attempt = 0
        while True:
            attempt += 1
            try:
                return self._get_once(url, accept, method, body, content_type)
            except _Transient as error:
                if attempt > self.retries:
                    raise NotReady(
                        f"{redact_url(url)}: {error} (gave up after {attempt} attempts)"
                    ) from None
                self.sleep(self.backoff * 2 ** (attempt - 1))

    def get_json(self, url: str) -> Any:
        body = self.get(url, accept="application/json")
        try:
            return json.loads(body)
        except ValueError as error:
            raise InvalidInput(f"{redact_url(url)}: response is not JSON: {error}") from None
        except RecursionError:
            raise InvalidInput(f"{redact_url(url)}: response JSON nested too deeply") from None

    def _get_once(
        self,
        url: str,
        accept: str | None,
        method: str = "GET",
        body: bytes | None = None,
        content_type: str | None = None,
    ) -> bytes:
        headers = {"User-Agent": USER_AGENT}
        if accept:
            headers["Accept"] = accept
        if content_type:
            headers["Content-Type"] = content_type
        if self.auth_origin is not None and origin(url) == self.auth_origin:
            headers.update(self.headers)
        request = urllib.request.Request(url, body, headers=headers, method=method)  # noqa: S310
        self.requests += 1
        watchdog = _Watchdog(self.timeout)
        opener = urllib.request.build_opener(
            _HttpHandler(watchdog=watchdog), _HttpsHandler(watchdog=watchdog)
        )
        try:
            with opener.open(request, timeout=self.timeout) as response:
                answer: bytes = response.read(self.max_bytes + 1)
            if watchdog.expired:  # the read may have ended at the shutdown, short
                raise _Transient(f"no complete response within {self.timeout:g} s")
        except urllib.error.HTTPError as error:
            error.close()
            if error.code in RETRY_STATUS:
                raise _Transient(f"HTTP {error.code}") from None
            if error.code in (401, 403):
                raise InvalidInput(
                    f"{redact_url(url)}: HTTP {error.code}: credentials rejected",
                    field="credentials",
                ) from None
            if error.code == 404:
                raise NotFound(f"{redact_url(url)}: HTTP 404") from None
            raise InvalidInput(f"{redact_url(url)}: HTTP {error.code}") from None
        except (urllib.error.URLError, http.client.HTTPException, OSError) as error:
            if watchdog.expired:
                raise _Transient(f"no complete response within {self.timeout:g} s") from None
            reason = getattr(error, "reason", None) or type(error).__name__
            raise _Transient(f"connection failed: {reason}") from None
        finally:
            watchdog.cancel()
        if len(answer) > self.max_bytes:
            raise LimitExceeded(f"{redact_url(url)}: response over {self.max_bytes} bytes")
        return answer


class _Watchdog:
    """Shuts down every socket of one request once its total time is up.

    urllib's ``timeout`` bounds each socket operation, not the request: a server sending a
    byte every few seconds never trips it. Shutting the socket down wakes the blocked read.
    """

    def __init__(self, seconds: float) -> None:
        self.expired = False
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True
        self._timer.start()

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)
            expired = self.expired
        if expired:
            _shutdown(sock)

    def cancel(self) -> None:
        self._timer.cancel()

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            sockets = list(self._sockets)
        for sock in sockets:
            _shutdown(sock)


def _shutdown(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


class _WithWatchdog:
    """Mixed into urllib's connection and handler classes: they take the request's watchdog."""

    def __init__(self, *args: Any, watchdog: _Watchdog, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._watchdog = watchdog


class _WatchedConnection(_WithWatchdog):
    """The watchdog gets each socket the connection opens, and shuts it down at the request's
    deadline, so a slow body cannot outlive it."""

    def connect(self) -> None:
        super().connect()  # type: ignore[misc]  # the connection class this is mixed into
        self._watchdog.watch(self.sock)  # type: ignore[attr-defined]


class _WatchedHTTPConnection(_WatchedConnection, http.client.HTTPConnection):
    pass


class _WatchedHTTPSConnection(_WatchedConnection, http.client.HTTPSConnection):
    pass


class _HttpHandler(_WithWatchdog, urllib.request.HTTPHandler):
    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        connection = functools.partial(_WatchedHTTPConnection, watchdog=self._watchdog)
        return self.do_open(connection, req)  # type: ignore[arg-type]


class _HttpsHandler(_WithWatchdog, urllib.request.HTTPSHandler):
    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        connection = functools.partial(_WatchedHTTPSConnection, watchdog=self._watchdog)
        return self.do_open(connection, req)  # type: ignore[arg-type]


class _Transient(Exception):
    """A failure worth retrying; never escapes :class:`HttpClient`."""
