"""The contract of a bank format plugin, and finding the installed ones.

A format is a class with a stable short name that turns a partner file (``read``) or a partner
API (``fetch``) into an ordered stream of :mod:`hashcore.formats.records` items. Plugins return
the class from the ``hashcore_bank_formats`` hook, exactly like signal types.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import IO, ClassVar

import pluggy

from hashcore.errors import InvalidInput, NotFound
from hashcore.formats.columns import UpdateColumns, in_columns
from hashcore.formats.families import FamilyResolver
from hashcore.formats.http import HttpClient
from hashcore.formats.records import Checkpoint, Item
from hashcore.model import BankSettings
from hashcore.plugin_classes import classes_by_name
from hashcore.registry import SignalRegistry


class BankFormat:
    """Subclass, set ``name``/``description``, implement ``read`` and/or ``fetch``.

    ``options`` are free-form ``key=value`` settings from the CLI (``--option``) or a mapping
    file; each format documents the ones it takes and rejects the rest, so a typo is loud.
    """

    name: ClassVar[str]
    """Stable short name used on the command line (``ncmec``, ``pytx-csv``)."""
    description: ClassVar[str] = ""
    source: ClassVar[str | None] = None
    """What imported entries record as their source; defaults to ``name``."""
    options_allowed: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, registry: SignalRegistry, options: Mapping[str, object] | None = None):
        self.registry = registry
        self.families = FamilyResolver(registry)
        self.options: dict[str, object] = dict(options or {})
        unknown = sorted(set(self.options) - self.options_allowed)
        if unknown:
            allowed = ", ".join(sorted(self.options_allowed)) or "none"
            raise InvalidInput(
                f"format {self.name} has no option {', '.join(unknown)} (options: {allowed})",
                field="option",
            )

    @property
    def source_name(self) -> str:
        return self.source or self.name

    @classmethod
    def can_read(cls) -> bool:
        return cls.read is not BankFormat.read

    @classmethod
    def can_fetch(cls) -> bool:
        return cls.fetch is not BankFormat.fetch

    def read(self, stream: IO[bytes]) -> Iterator[Item]:
        """Yield the items of a partner file, in file order."""
        raise InvalidInput(f"format {self.name} cannot read files", field="format")

    def read_columns(self, stream: IO[bytes]) -> Iterator[Item | UpdateColumns]:
        """:meth:`read`'s items with runs of updates as :class:`UpdateColumns`, what an import
        writes fastest. By default :meth:`read`'s updates grouped; a format that parses
        straight into columns overrides this and reads with ``flattened(read_columns())``."""
        return in_columns(self.read(stream))

    def fetch(self, client: HttpClient, url: str, checkpoint: Checkpoint | None) -> Iterator[Item]:
        """Yield the items of a partner API from ``checkpoint`` on, with checkpoints between."""
        raise InvalidInput(f"format {self.name} has no API mode", field="format")

    def bank_settings(self, stream: IO[bytes]) -> BankSettings | None:
        """The bank's own settings if the file carries them (labels, thresholds), read from
        its start only; ``None`` (the default) for feeds that describe entries alone."""
        return None

    def auth_headers(self, credentials: str) -> dict[str, str]:
        """HTTP headers carrying ``credentials``; the default is a bearer token."""
        return {"Authorization": f"Bearer {credentials}"}


def load_formats(manager: pluggy.PluginManager) -> dict[str, type[BankFormat]]:
    """Every class returned by ``hashcore_bank_formats``, by name; duplicates fail loudly."""
    return classes_by_name(manager.hook.hashcore_bank_formats(), BankFormat, "bank format")


def get_format(
    name: str,
    registry: SignalRegistry,
    options: Mapping[str, object] | None = None,
    manager: pluggy.PluginManager | None = None,
) -> BankFormat:
    """An instance of the installed format ``name``, or :class:`NotFound` naming the known ones.

    The formats are the process's (``hashcore.plugins.loaded_plugins``) unless ``manager`` is
    given."""
    if manager is None:
        from hashcore.plugins import loaded_plugins

        formats = loaded_plugins().formats
    else:
        formats = load_formats(manager)
    return format_class(formats, name)(registry, options)


def format_class(formats: Mapping[str, type[BankFormat]], name: str) -> type[BankFormat]:
    """The format ``name`` among ``formats``, or :class:`NotFound` naming the known ones."""
    if name not in formats:
        known = ", ".join(sorted(formats)) or "none"
        raise NotFound(f"unknown bank format {name!r} (known: {known})", field="format")
    return formats[name]
