"""The signal types in force: one instance per family name, looked up by name."""

from __future__ import annotations

from collections.abc import Iterator

import pluggy

from hashcore.content import ContentKind
from hashcore.crops import CROPS
from hashcore.errors import InvalidInput, PluginError
from hashcore.signals import Metric, SignalType

_REQUIRED = ("name", "content_kinds", "metric", "default_threshold")


class SignalRegistry:
    """Every loaded signal type, validated once at load so a broken plugin fails early."""

    def __init__(self, signal_types: list[SignalType]) -> None:
        self._types: dict[str, SignalType] = {}
        for signal_type in signal_types:
            _check_contract(signal_type)
            if signal_type.name in self._types:
                raise PluginError(f"two plugins provide the signal type {signal_type.name!r}")
            self._types[signal_type.name] = signal_type

    @classmethod
    def from_plugins(cls, manager: pluggy.PluginManager) -> SignalRegistry:
        """Instantiate every class returned by the ``hashcore_signal_types`` hook."""
        classes = [c for result in manager.hook.hashcore_signal_types() for c in result]
        return cls([c() for c in classes])

    def get(self, name: str) -> SignalType:
        """The signal type called ``name``, or :class:`InvalidInput` naming the known ones."""
        try:
            return self._types[name]
        except KeyError:
            known = ", ".join(sorted(self._types)) or "none"
            raise InvalidInput(
                f"unknown signal type {name!r} (known: {known})", field="type"
            ) from None

    def __contains__(self, name: object) -> bool:
        return name in self._types

    def __iter__(self) -> Iterator[SignalType]:
        return iter(self._types.values())

    def __len__(self) -> int:
        return len(self._types)

    def names(self) -> list[str]:
        return sorted(self._types)

    def applicable(self, kind: ContentKind) -> list[SignalType]:
        """The signal types that hash content of ``kind``, in name order."""
        return [t for name, t in sorted(self._types.items()) if t.applies_to(kind)]


def _check_contract(signal_type: SignalType) -> None:
    missing = [attr for attr in _REQUIRED if not hasattr(signal_type, attr)]
    if missing:
        raise PluginError(f"{type(signal_type).__name__} lacks {', '.join(missing)}")
    name = signal_type.name
    if not (isinstance(name, str) and name.isidentifier() and name == name.lower()):
        raise PluginError(f"signal type name {name!r} must be a lower-case identifier")
    if not isinstance(signal_type.metric, Metric):
        raise PluginError(f"{name}: metric must be a hashcore.Metric")
    if not signal_type.content_kinds or not all(
        isinstance(kind, ContentKind) for kind in signal_type.content_kinds
    ):
        raise PluginError(f"{name}: content_kinds must be a non-empty set of ContentKind")
    crops = signal_type.crop_variants
    if not isinstance(crops, tuple) or not all(crop in CROPS for crop in crops):
        raise PluginError(
            f"{name}: crop_variants must be a tuple of standard crop names ({', '.join(CROPS)})"
        )


def load_registry() -> SignalRegistry:
    """The registry of every installed, non-disabled signal type plugin: the process's, loaded
    once (``hashcore.plugins.loaded_plugins``); ``SignalRegistry.from_plugins(manager)`` builds
    a separate one."""
    from hashcore.plugins import loaded_plugins

    return loaded_plugins().registry
