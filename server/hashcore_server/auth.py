"""Bearer tokens, grants and bank visibility.

A token (metadata ``authorization: Bearer <token>``) names a partner and grants it banks, each
with a role: ``lookup``, ``follow`` (receive the bank's updates, send opinions back) or ``admin``
(which includes both); ``*`` stands for every bank. Lookup and follow do not include each other.
Tokens are compared by SHA-256 with :func:`hmac.compare_digest` against every configured digest,
so neither the token nor the timing of the comparison reveals anything. Tokens are never logged.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field

import grpc

from hashcore_server.config import ServerConfig, TokenGrant, hash_token, is_loopback
from hashcore_server.errors import PermissionDenied, Unauthenticated

log = logging.getLogger("hashcore.server")

LOOKUP = "lookup"
FOLLOW = "follow"
ADMIN = "admin"
ALL = "*"
IMPLIES = {LOOKUP: {LOOKUP}, FOLLOW: {FOLLOW}, ADMIN: {ADMIN, LOOKUP, FOLLOW}}
"""What each granted role allows: admin everything, lookup and follow only themselves."""


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling, and what they may touch."""

    name: str
    grants: dict[str, str] = field(default_factory=dict)

    def role_for(self, bank: str) -> str | None:
        """The strongest role granted on ``bank`` (a ``*`` grant counts for every bank):
        admin if either grant is admin, else the bank's own grant, else the ``*`` one."""
        roles = [r for r in (self.grants.get(bank), self.grants.get(ALL)) if r is not None]
        return ADMIN if ADMIN in roles else next(iter(roles), None)

    def can(self, bank: str, role: str) -> bool:
        granted = (self.grants.get(bank), self.grants.get(ALL))
        return any(g is not None and role in IMPLIES[g] for g in granted)

    def require(self, bank: str, role: str) -> None:
        """Raise :class:`PermissionDenied` unless ``role`` is granted on ``bank``."""
        if not self.can(bank, role):
            what = "all banks" if bank == ALL else f"bank {bank!r}"
            raise PermissionDenied(f"{self.name!r} may not use {what} as {role}", field="bank")

    @property
    def sees_all(self) -> bool:
        """Whether lookups may search every bank: a ``*`` grant that allows lookups (a ``*``
        follow grant does not)."""
        return self.can(ALL, LOOKUP)

    def visible(self, banks: Iterable[str]) -> list[str]:
        """The banks of ``banks`` this principal may see (any role)."""
        return [bank for bank in banks if self.role_for(bank) is not None]

    def lookup_scope(self, requested: Sequence[str], existing: Collection[str]) -> list[str] | None:
        """The banks a lookup may search: ``None`` means all (only for ``*`` grants).

        Requested banks outside the grant are refused outright rather than silently dropped,
        so a caller learns its filter was wrong; without a filter the grant is the filter.
        """
        for bank in requested:
            self.require(bank, LOOKUP)
        if requested:
            return list(dict.fromkeys(requested))
        if self.sees_all:
            return None
        return [bank for bank in existing if self.can(bank, LOOKUP)]


class Authenticator:
    """Turns call metadata into a :class:`Principal`, or refuses."""

    def __init__(self, tokens: Sequence[TokenGrant], *, anonymous: bool) -> None:
        self._tokens = tuple(tokens)
        self._anonymous = anonymous and not tokens

    @classmethod
    def from_config(cls, config: ServerConfig) -> Authenticator:
        anonymous = not config.tokens and (config.allow_anonymous or is_loopback(config.listen))
        if anonymous:
            log.warning("no API tokens configured: every caller is admin on every bank")
        return cls(config.tokens, anonymous=anonymous)

    def authenticate(self, context: grpc.ServicerContext) -> Principal:
        if self._anonymous:
            return Principal("anonymous", {ALL: ADMIN})
        token = _bearer_token(context.invocation_metadata() or ())
        if token is None:
            raise Unauthenticated("missing authorization metadata (Bearer token)")
        digest = hash_token(token).encode()
        found: TokenGrant | None = None
        for grant in self._tokens:  # no early exit: the time taken does not depend on the match
            if hmac.compare_digest(digest, grant.sha256.encode()):
                found = grant
        if found is None:
            raise Unauthenticated("unknown token")
        return Principal(found.name, dict(found.grants))


def _bearer_token(metadata: Iterable[tuple[str, str | bytes]]) -> str | None:
    for key, value in metadata:
        if key.lower() == "authorization" and isinstance(value, str):
            scheme, _, token = value.partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
    return None
