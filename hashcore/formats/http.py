"""A small HTTP GET client for partner APIs: stdlib urllib, timeouts, retries with backoff.

Transient failures (5xx, 429, dropped or refused connections, timeouts) are retried with
exponential backoff; after the last attempt the caller gets :class:`NotReady` and the import
resumes from its last committed checkpoint next time. Credentials go only to the origin they
were given for, so a partner's ``next`` link pointing elsewhere cannot harvest them, and URLs
are reported without their query string (which may hold tokens or cursors).
"""

from __future__ import annotations

import http.client
import json
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
    """``scheme://host/path`` only: queries carry tokens and cursors, never logged."""
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}{parts.path}"


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
    retries: int = 4
    backoff: float = 1.0
    max_bytes: int = 256 << 20
    sleep: Callable[[float], None] = time.sleep
    requests: int = 0

    def get(self, url: str, *, accept: str | None = None) -> bytes:
        """The body of ``url``; raise after ``retries`` failed retries or at once on a 4xx."""
        scheme = urllib.parse.urlsplit(url).scheme
        if scheme not in ("http", "https"):
            raise InvalidInput(f"only http(s) URLs can be fetched, not {scheme!r}", field="url")
        attempt = 0
        while True:
            attempt += 1
            try:
                return self._get_once(url, accept)
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

    def _get_once(self, url: str, accept: str | None) -> bytes:
        headers = {"User-Agent": USER_AGENT}
        if accept:
            headers["Accept"] = accept
        if self.auth_origin is not None and origin(url) == self.auth_origin:
            headers.update(self.headers)
        request = urllib.request.Request(url, headers=headers, method="GET")  # noqa: S310
        self.requests += 1
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                body: bytes = response.read(self.max_bytes + 1)
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
            reason = getattr(error, "reason", None) or type(error).__name__
            raise _Transient(f"connection failed: {reason}") from None
        if len(body) > self.max_bytes:
            raise LimitExceeded(f"{redact_url(url)}: response over {self.max_bytes} bytes")
        return body


class _Transient(Exception):
    """A failure worth retrying; never escapes :class:`HttpClient`."""
