"""Server settings: a TOML file, then ``HASHCORE_*`` environment variables, then CLI flags.

Tokens are configured by their SHA-256 (``sha256 = "..."``) so a leaked config file does not
leak credentials; a plain ``token = "..."`` is accepted for development and hashed on load.
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
import os
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from hashcore.backends import BACKEND_ENV, backend_table, check_table
from hashcore.cli.common import DEFAULT_STORE
from hashcore.errors import HashcoreError, InvalidInput

MIB = 1024 * 1024
ROLES = ("lookup", "follow", "admin")


class ConfigError(HashcoreError):
    """The server configuration is unusable; the server refuses to start."""


@dataclass(frozen=True, slots=True)
class TokenGrant:
    """One partner's token (by hash) and the banks it may use, each with a role."""

    name: str
    sha256: str
    grants: Mapping[str, str]
    """Bank name (or ``*`` for every bank) to role: ``lookup``, ``follow``, or ``admin`` (implies
    both); several roles are joined with ``+`` (``lookup+follow``)."""


@dataclass(frozen=True, slots=True)
class Limits:
    max_message_bytes: int = 64 * MIB
    max_content_bytes: int = 48 * MIB
    max_batch_queries: int = 1000
    workers: int = 4
    """Concurrent CPU-bound calls (hashing, lookups); the rest wait their turn."""
    hash_processes: int | None = None
    """Worker processes that hash uploaded content (Hash, content Lookup and LookupBatch
    queries, AddContent), so content calls use every core instead of one; default
    ``workers``; 0 hashes in the calling thread. Hash-only lookups never use them."""
    max_streams: int = 32
    """Long-lived streams (WatchMatches, LookupBatch) held open at once; each holds a thread."""
    max_streams_per_principal: int | None = None
    """Of those, how many one token may hold, so one partner cannot take every slot; default
    half of ``max_streams`` (at least 1). Not applied without tokens (everyone is the same)."""

    @property
    def hashing_processes(self) -> int:
        """``hash_processes``, or ``workers`` when unset."""
        return self.workers if self.hash_processes is None else self.hash_processes

    @property
    def streams_per_principal(self) -> int:
        if self.max_streams_per_principal is not None:
            return self.max_streams_per_principal
        return max(1, self.max_streams // 2)


DEFAULT_ADMIN_THRESHOLD_BOUNDS: Mapping[str, float] = {"pdq": 63, "phash": 12, "tmk_pdqf": 0.5}
"""How far an admin's per-request threshold may loosen a family (a score is a floor).

Lookup-only callers may never loosen a bank's threshold; admins may, up to these bounds, to
investigate near misses. A family not named here cannot be loosened past its default."""


@dataclass(frozen=True, slots=True)
class TlsConfig:
    cert: Path
    key: Path
    client_ca: Path | None = None
    """When set, clients must present a certificate signed by this CA (mutual TLS)."""


@dataclass(frozen=True, slots=True)
class FollowTable:
    """One ``[[follow]]`` table: keep the local bank a copy of a partner server's bank."""

    local_bank: str
    address: str
    """``host:port`` of the partner's hashcore server (the table's ``from``)."""
    remote_bank: str
    token_file: Path
    name: str
    """How the partner is named in provenance and logs; default ``from``."""
    ca_cert: Path | None = None
    insecure_plaintext: bool = False


FOLLOW_KEYS = frozenset(
    {"local_bank", "from", "remote_bank", "token_file", "name", "ca_cert", "insecure_plaintext"}
)


@dataclass(frozen=True, slots=True)
class ServerConfig:
    listen: str = "127.0.0.1:50051"
    store: Path = DEFAULT_STORE
    tls: TlsConfig | None = None
    tokens: tuple[TokenGrant, ...] = ()
    allow_anonymous: bool = False
    """Serve without tokens on a non-loopback address. Without tokens on loopback it is implied."""
    allow_plaintext_tokens: bool = False
    """Accept bearer tokens without TLS on a non-loopback address (anyone on the path can read
    them): only behind a TLS-terminating proxy or on a trusted network."""
    limits: Limits = field(default_factory=Limits)
    metrics_listen: str | None = None
    """``host:port`` for Prometheus metrics; off when unset."""
    grace_seconds: float = 10.0
    """How long in-flight calls may run on after SIGTERM before they are cancelled."""
    spool_dir: Path | None = None
    """Where content is spooled while it is hashed (deleted right after). Default: none, content
    waits in an anonymous memory file, never on disk (Linux; elsewhere the system temporary
    directory): see hashcore_server/spool.py."""
    compact_interval: float = 600.0
    """Seconds between background index compactions (0: never; ``Compact`` still works)."""
    admin_threshold_bounds: Mapping[str, float] = field(
        default_factory=lambda: dict(DEFAULT_ADMIN_THRESHOLD_BOUNDS)
    )
    """Per family, the loosest threshold an admin's lookup may ask for (see docs/server.md)."""
    index_backend: Mapping[str, Any] = field(default_factory=lambda: {"kind": "embedded"})
    """Where the indexes live: ``[index_backend]`` (see docs/scale-out.md); embedded default."""
    follow: tuple[FollowTable, ...] = ()
    """Partner banks this server keeps following while it serves (docs/sharing.md)."""

    def validate(self) -> ServerConfig:
        """Refuse configurations that would expose an open server or make no sense."""
        check_address("listen", self.listen)
        check_unique_tokens(self.tokens)
        if self.metrics_listen is not None:
            check_address("metrics_listen", self.metrics_listen)
        if not self.tokens and not self.allow_anonymous and not is_loopback(self.listen):
            raise ConfigError(
                f"no API tokens configured and {self.listen} is not a loopback address: "
                "configure tokens (tokens_file) or set allow_anonymous = true"
            )
        if (
            self.tokens
            and self.tls is None
            and not self.allow_plaintext_tokens
            and not is_loopback(self.listen)
        ):
            raise ConfigError(
                f"API tokens configured but {self.listen} is not a loopback address and TLS is "
                "off: tokens would cross the network in plaintext. Configure [tls] (cert, key), "
                "or set allow_plaintext_tokens = true (e.g. behind a TLS-terminating proxy)"
            )
        limits = self.limits
        for name in (
            "max_message_bytes",
            "max_content_bytes",
            "max_batch_queries",
            "workers",
            "max_streams",
            "max_streams_per_principal",
        ):
            value = getattr(limits, name)
            if value is not None and value < 1:
                raise ConfigError(f"limits.{name} must be at least 1")
        if limits.hash_processes is not None and limits.hash_processes < 0:
            raise ConfigError("limits.hash_processes must be 0 (hash in threads) or more")
        if limits.max_content_bytes > limits.max_message_bytes:
            raise ConfigError("limits.max_content_bytes cannot exceed limits.max_message_bytes")
        try:
            check_table(self.index_backend)
        except InvalidInput as error:
            raise ConfigError(error.message) from None
        return self


def check_unique_tokens(tokens: Sequence[TokenGrant]) -> None:
    """Refuse two ``[[tokens]]`` with one token, or one name with different grants, whichever
    file each came from.

    The same token twice let the later table's grants win silently (a copy-paste slip made a
    lookup token admin). A name is the caller in logs, the audit table, follower positions and
    stream quotas: two tables may share it only as one caller's old and new token while it is
    rotated, with the same grants; with different ones, which rights a row had is unknowable."""
    by_digest: dict[str, str] = {}
    by_name: dict[str, Mapping[str, str]] = {}
    for token in tokens:
        if token.sha256 in by_digest:
            raise ConfigError(
                f"tokens {by_digest[token.sha256]!r} and {token.name!r} are the same token "
                "(same sha256): each [[tokens]] table needs its own token"
            )
        if token.name in by_name and dict(by_name[token.name]) != dict(token.grants):
            raise ConfigError(
                f"two [[tokens]] tables are named {token.name!r} with different grants: a name "
                "is one caller in logs, the audit table and follower positions (a token being "
                "rotated keeps its name and its grants)"
            )
        by_digest[token.sha256] = token.name
        by_name[token.name] = token.grants


def check_address(name: str, address: str) -> None:
    """``HOST:PORT`` with a port gRPC can bind (0: any free one); gRPC itself took port 99999
    as 34463, so a typo served elsewhere than asked. ``unix:PATH`` sockets pass as they are."""
    if address.startswith("unix:"):
        return
    host, sep, port = address.rpartition(":")
    if not sep or not host.strip("[]") or not port.isdigit() or int(port) > 65535:
        raise ConfigError(f"{name} {address!r} is not HOST:PORT with a port from 0 to 65535")


def hash_token(token: str) -> str:
    """The form in which tokens are stored and compared."""
    return hashlib.sha256(token.encode()).hexdigest()


def is_loopback(listen: str) -> bool:
    host = split_host(listen)
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def split_host(listen: str) -> str:
    host = listen.rsplit(":", 1)[0] if ":" in listen else listen
    return host.strip("[]")


def load_config(
    path: Path | None = None,
    *,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> ServerConfig:
    """Defaults, overlaid by the TOML file, then the environment, then ``overrides`` (CLI)."""
    env = os.environ if env is None else env
    data: dict[str, Any] = {}
    if path is not None:
        data = _read_toml(path)
    config = _from_mapping(data, base_dir=path.parent if path else Path.cwd())
    config = _apply_env(config, env)
    for key, value in (overrides or {}).items():
        if value is not None:
            config = replace(config, **{key: value})
    return config.validate()


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except OSError as error:
        raise ConfigError(f"cannot read config {path}: {error.strerror or error}") from error
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: invalid TOML: {error}") from error


def _from_mapping(data: Mapping[str, Any], *, base_dir: Path) -> ServerConfig:
    known = {
        "listen",
        "store",
        "tls",
        "tokens",
        "tokens_file",
        "allow_anonymous",
        "allow_plaintext_tokens",
        "limits",
        "metrics_listen",
        "grace_seconds",
        "compact_interval",
        "spool_dir",
        "admin_threshold_bounds",
        "index_backend",
        "follow",
    }
    unknown = set(data) - known
    if unknown:
        raise ConfigError(f"unknown config keys: {', '.join(sorted(unknown))}")
    config = ServerConfig()
    if "listen" in data:
        config = replace(config, listen=str(data["listen"]))
    if "store" in data:
        config = replace(config, store=base_dir / str(data["store"]))
    if "tls" in data:
        config = replace(config, tls=_tls(data["tls"], base_dir))
    tokens = list(_tokens(data.get("tokens", [])))
    if "tokens_file" in data:
        tokens.extend(load_tokens_file(base_dir / str(data["tokens_file"])))
    config = replace(config, tokens=tuple(tokens))
    if "allow_anonymous" in data:
        config = replace(config, allow_anonymous=bool(data["allow_anonymous"]))
    if "allow_plaintext_tokens" in data:
        config = replace(config, allow_plaintext_tokens=data["allow_plaintext_tokens"] is True)
    if "limits" in data:
        config = replace(config, limits=_limits(data["limits"]))
    if "metrics_listen" in data:
        config = replace(config, metrics_listen=str(data["metrics_listen"]))
    if "grace_seconds" in data:
        config = replace(config, grace_seconds=float(data["grace_seconds"]))
    if "spool_dir" in data:
        config = replace(config, spool_dir=base_dir / str(data["spool_dir"]))
    if "compact_interval" in data:
        config = replace(config, compact_interval=float(data["compact_interval"]))
    if "admin_threshold_bounds" in data:
        config = replace(config, admin_threshold_bounds=_bounds(data["admin_threshold_bounds"]))
    if "index_backend" in data:
        if not isinstance(data["index_backend"], Mapping):
            raise ConfigError("[index_backend] must be a table")
        config = replace(config, index_backend=dict(data["index_backend"]))
    if "follow" in data:
        config = replace(config, follow=_follow_tables(data["follow"], base_dir))
    return config


def _follow_tables(raw: Any, base_dir: Path) -> tuple[FollowTable, ...]:
    """``[[follow]]`` tables, each checked here so a typo stops the server at start."""
    from hashcore.store.writer import check_bank_name

    if not isinstance(raw, list):
        raise ConfigError("follow must be an array of tables ([[follow]])")
    tables: list[FollowTable] = []
    for number, item in enumerate(raw, 1):
        where = f"[[follow]] #{number}"
        if not isinstance(item, Mapping):
            raise ConfigError(f"{where} must be a table")
        unknown = sorted(set(item) - FOLLOW_KEYS)
        if unknown:
            raise ConfigError(f"{where}: unknown keys {', '.join(unknown)}")
        missing = sorted({"local_bank", "from", "remote_bank", "token_file"} - set(item))
        if missing:
            raise ConfigError(f"{where} needs {', '.join(missing)}")
        for key in ("local_bank", "from", "remote_bank", "token_file", "name", "ca_cert"):
            if key in item and (not isinstance(item[key], str) or not item[key].strip()):
                raise ConfigError(f"{where}: {key} must be a non-empty string")
        for key in ("local_bank", "remote_bank"):
            try:
                check_bank_name(item[key])
            except InvalidInput as error:
                raise ConfigError(f"{where}: {key}: {error.message}") from None
        address = str(item["from"])
        host, sep, port = address.rpartition(":")
        if not sep or not host or not port.isdigit():
            raise ConfigError(f"{where}: from must be host:port, got {address!r}")
        token_file = base_dir / str(item["token_file"])
        if not token_file.is_file():
            raise ConfigError(f"{where}: token_file {token_file} does not exist")
        table = FollowTable(
            local_bank=str(item["local_bank"]),
            address=address,
            remote_bank=str(item["remote_bank"]),
            token_file=token_file,
            name=str(item.get("name") or address),
            ca_cert=base_dir / str(item["ca_cert"]) if item.get("ca_cert") else None,
            insecure_plaintext=item.get("insecure_plaintext") is True,
        )
        for other in tables:
            if (other.local_bank, other.address, other.remote_bank) == (
                table.local_bank,
                table.address,
                table.remote_bank,
            ):
                raise ConfigError(f"{where} repeats an earlier [[follow]] table")
        tables.append(table)
    return tuple(tables)


def _bounds(raw: Any) -> dict[str, float]:
    """``admin_threshold_bounds``: family to a finite number; the defaults fill the rest."""
    if not isinstance(raw, Mapping):
        raise ConfigError("admin_threshold_bounds must be a table of family = number")
    bounds = dict(DEFAULT_ADMIN_THRESHOLD_BOUNDS)
    for family, value in raw.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"admin_threshold_bounds.{family} must be a number")
        if not math.isfinite(value):
            raise ConfigError(f"admin_threshold_bounds.{family} must be finite")
        bounds[str(family)] = float(value)
    return bounds


def _tls(raw: Any, base_dir: Path) -> TlsConfig:
    if not isinstance(raw, Mapping) or "cert" not in raw or "key" not in raw:
        raise ConfigError("[tls] needs cert and key")
    client_ca = raw.get("client_ca")
    return TlsConfig(
        cert=base_dir / str(raw["cert"]),
        key=base_dir / str(raw["key"]),
        client_ca=base_dir / str(client_ca) if client_ca else None,
    )


def _limits(raw: Any) -> Limits:
    if not isinstance(raw, Mapping):
        raise ConfigError("[limits] must be a table")
    fields = set(Limits.__dataclass_fields__)
    unknown = set(raw) - fields
    if unknown:
        raise ConfigError(f"unknown [limits] keys: {', '.join(sorted(unknown))}")
    try:
        return Limits(**{key: int(value) for key, value in raw.items()})
    except (TypeError, ValueError) as error:
        raise ConfigError(f"[limits]: {error}") from error


def load_tokens_file(path: Path) -> list[TokenGrant]:
    """A TOML file of ``[[tokens]]`` tables: name, sha256 (or token), grants."""
    return list(_tokens(_read_toml(path).get("tokens", [])))


def _tokens(raw: Any) -> list[TokenGrant]:
    if not isinstance(raw, list):
        raise ConfigError("tokens must be an array of tables ([[tokens]])")
    grants = []
    for item in raw:
        if not isinstance(item, Mapping) or "name" not in item:
            raise ConfigError("each [[tokens]] needs a name")
        name = str(item["name"])
        if "sha256" in item:
            digest = str(item["sha256"]).lower()
            if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
                raise ConfigError(f"token {name!r}: sha256 must be 64 hex characters")
        elif "token" in item:
            digest = hash_token(str(item["token"]))
        else:
            raise ConfigError(f"token {name!r} needs sha256 (or token)")
        bank_roles = item.get("grants", {})
        if not isinstance(bank_roles, Mapping) or not bank_roles:
            raise ConfigError(f"token {name!r}: grants must map banks to roles")
        roles = {str(bank): _grant(name, str(bank), role) for bank, role in bank_roles.items()}
        grants.append(TokenGrant(name, digest, roles))
    return grants


def _grant(token: str, bank: str, raw: Any) -> str:
    """A bank's role(s): a role name, ``"lookup+follow"``, or a list of role names."""
    parts = raw if isinstance(raw, list) else str(raw).split("+") if isinstance(raw, str) else [raw]
    if not parts or any(part not in ROLES for part in parts):
        raise ConfigError(
            f"token {token!r}: role of {bank!r} must be one of {ROLES} (or several joined by +)"
        )
    return "+".join(sorted(set(parts)))


def _apply_env(config: ServerConfig, env: Mapping[str, str]) -> ServerConfig:
    if env.get("HASHCORE_LISTEN"):
        config = replace(config, listen=env["HASHCORE_LISTEN"])
    if env.get("HASHCORE_STORE"):
        config = replace(config, store=Path(env["HASHCORE_STORE"]))
    if env.get("HASHCORE_TLS_CERT") or env.get("HASHCORE_TLS_KEY"):
        if not (env.get("HASHCORE_TLS_CERT") and env.get("HASHCORE_TLS_KEY")):
            raise ConfigError("HASHCORE_TLS_CERT and HASHCORE_TLS_KEY go together")
        ca = env.get("HASHCORE_TLS_CLIENT_CA")
        config = replace(
            config,
            tls=TlsConfig(
                Path(env["HASHCORE_TLS_CERT"]),
                Path(env["HASHCORE_TLS_KEY"]),
                Path(ca) if ca else None,
            ),
        )
    elif env.get("HASHCORE_TLS_CLIENT_CA") and config.tls is not None:
        config = replace(
            config, tls=replace(config.tls, client_ca=Path(env["HASHCORE_TLS_CLIENT_CA"]))
        )
    if env.get("HASHCORE_TOKENS_FILE"):
        config = replace(
            config,
            tokens=config.tokens + tuple(load_tokens_file(Path(env["HASHCORE_TOKENS_FILE"]))),
        )
    if env.get("HASHCORE_ALLOW_ANONYMOUS"):
        config = replace(config, allow_anonymous=env["HASHCORE_ALLOW_ANONYMOUS"] in ("1", "true"))
    if env.get("HASHCORE_ALLOW_PLAINTEXT_TOKENS"):
        config = replace(
            config, allow_plaintext_tokens=env["HASHCORE_ALLOW_PLAINTEXT_TOKENS"] in ("1", "true")
        )
    if env.get(BACKEND_ENV):
        try:
            config = replace(config, index_backend=backend_table(env[BACKEND_ENV]))
        except InvalidInput as error:
            raise ConfigError(f"{BACKEND_ENV}: {error.message}") from None
    if env.get("HASHCORE_METRICS_LISTEN"):
        config = replace(config, metrics_listen=env["HASHCORE_METRICS_LISTEN"])
    for name, limit in (
        ("HASHCORE_WORKERS", "workers"),
        ("HASHCORE_HASH_PROCESSES", "hash_processes"),
    ):
        if env.get(name):
            try:
                value = int(env[name])
            except ValueError as error:
                raise ConfigError(f"{name} must be an integer") from error
            config = replace(config, limits=replace(config.limits, **{limit: value}))
    return config
