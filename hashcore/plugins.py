"""Loading plugins: built-in ones go through the same entry points a third party's do."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import pluggy

from hashcore import hookspecs
from hashcore.errors import PluginError

DISABLE_ENV = "HASHCORE_DISABLE_PLUGINS"
"""Comma-separated entry-point names of plugins not to load (e.g. ``phash,tmk_pdqf``)."""


def disabled_plugin_names() -> set[str]:
    """Plugin names disabled through :data:`DISABLE_ENV`."""
    raw = os.environ.get(DISABLE_ENV, "")
    return {name.strip() for name in raw.split(",") if name.strip()}


def get_plugin_manager(*, load_entry_points: bool = True) -> pluggy.PluginManager:
    """A fresh manager with hashcore's specs and the installed plugins.

    A factory rather than a module global, so tests build isolated managers. ``check_pending``
    makes a misspelt hook name fail loudly instead of silently never running.
    """
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    for name in disabled_plugin_names():
        manager.set_blocked(name)
    if load_entry_points:
        try:
            manager.load_setuptools_entrypoints(hookspecs.PROJECT)
        except Exception as error:
            raise PluginError(f"a hashcore plugin failed to load: {error!r}") from error
    try:
        manager.check_pending()
    except pluggy.PluginValidationError as error:
        raise PluginError(str(error)) from error
    return manager


@dataclass(frozen=True)
class PluginInfo:
    """What ``hashcore plugins`` prints about one loaded plugin."""

    name: str
    distribution: str | None
    version: str | None
    signal_types: list[str] = field(default_factory=list)


def describe_plugins(manager: pluggy.PluginManager) -> list[PluginInfo]:
    """Loaded plugins with their distribution, version and what they provide."""
    dists = {id(plugin): dist for plugin, dist in manager.list_plugin_distinfo()}
    infos = []
    for name, plugin in sorted(manager.list_name_plugin()):
        if plugin is None:
            continue
        dist = dists.get(id(plugin))
        hook = getattr(plugin, "hashcore_signal_types", None)
        provided = [cls.name for cls in hook()] if hook else []
        infos.append(
            PluginInfo(
                name=name,
                distribution=dist.metadata["name"] if dist else None,
                version=dist.version if dist else None,
                signal_types=provided,
            )
        )
    return infos
