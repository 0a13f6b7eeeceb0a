"""The whole plugin surface. Every hook here is documented in docs/plugins.md and tested.

Hooks *return* lists of classes instead of taking a ``register`` callback: simpler to write, and
pluggy lets an implementation take fewer arguments than the spec, so hooks can grow.
"""

from __future__ import annotations

import pluggy

PROJECT = "hashcore"
"""Also the entry-point group plugins are published under."""

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def hashcore_signal_types() -> list[type]:  # type: ignore[empty-body]
    """Return the :class:`hashcore.SignalType` subclasses (hash algorithms) a plugin provides."""


@hookspec
def hashcore_bank_formats() -> list[type]:  # type: ignore[empty-body]
    """Return the :class:`hashcore.formats.BankFormat` subclasses (partner feeds) a plugin reads.

    A format turns a partner file or API into ordered updates, problems and checkpoints; the
    importer applies them, so a plugin never touches the store.
    """


@hookspec
def hashcore_feedback_formats() -> list[type]:  # type: ignore[empty-body]
    """Return the :class:`hashcore.opinions.feedback.FeedbackFormat` subclasses a plugin
    provides: each turns an opinion on an entry imported with the bank format of the same
    ``name`` into that partner's feedback requests (ThreatExchange, StopNCII, NCMEC).

    hashcore sends the requests with the bank format's credentials (``auth_headers``) through
    its partner HTTP client, and records the opinion as sent; the plugin only says what to send.
    """
