"""Bearer tokens, grants and bank visibility.

A token (metadata ``authorization: Bearer <token>``) names a partner and grants it banks, each
with a role: ``lookup``, ``follow`` (receive the bank's changes: docs/sharing.md) or ``admin``
(which includes both); ``*`` stands for every bank. ``lookup`` and ``follow`` are independent: a
partner that follows a bank need not search it, nor may a searcher copy it. A bank may be given
several roles at once (``lookup+follow``).
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
_RANK = {LOOKUP: 1, FOLLOW: 1, ADMIN: 2}
_IMPLIES = {LOOKUP: {LOOKUP}, FOLLOW: {FOLLOW}, ADMIN: {ADMIN, LOOKUP, FOLLOW}}


def roles_of(grant: str) -> set[str]:
    """Every role a grant gives: ``admin`` gives all three, ``lookup+follow`` both."""
    return {implied for role in grant.split("+") for implied in _IMPLIES[role]}


def _rank(grant: str) -> int:
    return max(_RANK[role] for role in grant.split("+"))


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling, and what they may touch."""

    name: str
    grants: dict[str, str] = field(default_factory=dict)

    def role_for(self, bank: str) -> str | None:
        """The strongest role granted on ``bank`` (a ``*`` grant counts for every bank)."""
        roles = [r for r in (self.grants.get(bank), self.grants.get(ALL)) if r is not None]
        return max(roles, key=_rank) if roles else None

    def can(self, bank: str, role: str) -> bool:
        return any(
            role in roles_of(grant)
            for grant in (self.grants.get(bank), self.grants.get(ALL))
            if grant is not None
        )

    def require(self, bank: str, role: str) -> None:
        """Raise :class:`PermissionDenied` unless ``role`` is granted on ``bank``."""
        if not self.can(bank, role):
            what = "all banks" if bank == ALL else f"bank {bank!r}"
            raise PermissionDenied(f"{self.name!r} may not use {what} as {role}", field="bank")

    @property
    def sees_all(self) -> bool:
        """May look up in every bank (a ``*`` grant that includes lookup)."""
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
