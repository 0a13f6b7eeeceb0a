"""Classes that plugins hand over through a hook (bank formats, feedback formats), by name."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

from hashcore.errors import PluginError

T = TypeVar("T")


def classes_by_name(
    results: Iterable[Iterable[object]], base: type[T], what: str
) -> dict[str, type[T]]:
    """Every class of every hook result, by its ``name``: each must subclass ``base`` and have
    a name no other plugin gives (a clash fails loudly rather than one plugin winning)."""
    found: dict[str, type[T]] = {}
    for result in results:
        for cls in result:
            if not (isinstance(cls, type) and issubclass(cls, base)):
                raise PluginError(f"{cls!r} is not a {base.__module__}.{base.__name__} subclass")
            name = getattr(cls, "name", None)
            if not isinstance(name, str) or not name:
                raise PluginError(f"{what} {cls.__name__} has no name")
            if name in found:
                raise PluginError(f"two plugins provide the {what} {name!r}")
            found[name] = cls
    return found
