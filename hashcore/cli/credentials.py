"""Where the CLI finds a server's API token without it ever being typed into argv.

A token on the command line is visible to every user of the machine (``ps``) and stays in the
shell history, so the CLI reads it, in this order, from ``--token-file``, ``$HASHCORE_TOKEN`` or
the client profile ``$XDG_CONFIG_HOME/hashcore/client.toml`` (``~/.config/hashcore/client.toml``).
The profile also names a default server and CA. Like ssh with its keys, the CLI refuses a
profile or token file that other users can read: a leaked partner token is a leaked bank.
``--token`` still works, with a warning.
"""

from __future__ import annotations

import argparse
import os
import stat
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

from hashcore.errors import InvalidInput

TOKEN_ENV = "HASHCORE_TOKEN"  # noqa: S105 - a variable name, not a secret
PROFILE_ENV = "HASHCORE_PROFILE"
PROFILE_KEYS = frozenset({"server", "token", "ca_cert"})


@dataclass(frozen=True)
class Profile:
    """The client profile's settings; every field optional."""

    server: str | None = None
    token: str | None = None
    ca_cert: Path | None = None


def profile_path() -> Path:
    """``$HASHCORE_PROFILE``, else ``$XDG_CONFIG_HOME/hashcore/client.toml``."""
    chosen = os.environ.get(PROFILE_ENV)
    if chosen:
        return Path(chosen)
    config = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config) / "hashcore" / "client.toml"


def load_profile(path: Path | None = None) -> Profile:
    """The profile at ``path`` (default :func:`profile_path`); an empty one if there is none."""
    path = path if path is not None else profile_path()
    if not path.is_file():
        return Profile()
    text = read_private(path, "client profile")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise InvalidInput(f"{path}: not valid TOML: {error}") from None
    unknown = sorted(set(data) - PROFILE_KEYS)
    if unknown:
        known = ", ".join(sorted(PROFILE_KEYS))
        raise InvalidInput(f"{path}: unknown setting(s) {', '.join(unknown)}; known: {known}")
    for key, value in data.items():
        if not isinstance(value, str) or not value.strip():
            raise InvalidInput(f"{path}: {key} must be a non-empty string")
    ca_cert = data.get("ca_cert")
    return Profile(
        server=data.get("server"),
        token=data.get("token"),
        ca_cert=Path(ca_cert).expanduser() if ca_cert else None,
    )


def read_private(path: Path, what: str) -> str:
    """A secret file's text; :class:`InvalidInput` if group or others may read or write it."""
    try:
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise InvalidInput(
                f"{path}: {what} is readable by other users (mode {stat.S_IMODE(mode):o}); "
                f"run: chmod 600 {path}"
            )
        return path.read_text(encoding="utf-8")
    except OSError as error:
        raise InvalidInput(f"{path}: cannot read {what}: {error.strerror}") from None


def resolve_token(args: argparse.Namespace, profile: Profile) -> str | None:
    """The token for the server: ``--token-file``, ``--token`` (warned), the environment,
    then the profile; ``None`` when none is set."""
    token_file: Path | None = getattr(args, "token_file", None)
    if token_file is not None:
        token = read_private(token_file, "token file").strip()
        if not token:
            raise InvalidInput(f"{token_file}: the token file is empty", field="token")
        return token
    typed: str | None = getattr(args, "token", None)
    if typed:
        print(
            "hashcore: warning: --token is visible to other users (ps, shell history); "
            f"use --token-file, ${TOKEN_ENV} or {profile_path()}",
            file=sys.stderr,
        )
        return typed
    return os.environ.get(TOKEN_ENV) or profile.token
