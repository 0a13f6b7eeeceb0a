"""Loading plugins: built-in ones go through the same entry points a third party's do.

A process loads its plugins once (:func:`loaded_plugins`): building the pluggy manager imports
every plugin and reads every installed distribution's entry points, so the CLI, the engine, the
importer and the server share one :class:`Plugins` instead of each building its own. The core's
own bank formats (:data:`CORE_FORMATS`) are imported when formats or the manager are first asked
for: hashing needs only the signal types, and they cost ~85 ms of every start (the formats'
base, HTTP client, store and sqlite3).
"""

from __future__ import annotations

import importlib.metadata
import os
import threading
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

import pluggy

from hashcore import hookspecs
from hashcore.errors import PluginError
from hashcore.registry import SignalRegistry

if TYPE_CHECKING:
    from hashcore.formats.base import BankFormat

DISABLE_ENV = "HASHCORE_DISABLE_PLUGINS"
"""Comma-separated entry-point names of plugins not to load (e.g. ``phash,tmk_pdqf``)."""

HOOK_LABELS: Mapping[str, str] = {
    "hashcore_signal_types": "signal type",
    "hashcore_bank_formats": "bank format",
    "hashcore_feedback_formats": "feedback format",
}
"""What one item each hook returns is called in ``hashcore plugins``; every hookspec has one
(a test checks it, so a new hook cannot ship undescribed)."""


CORE_FORMATS = "hashcore.formats."
"""The package of the core's own bank format plugins: they provide bank and feedback formats,
never a signal type (checked when they load), so the signal registry is complete without them."""


def disabled_plugin_names() -> set[str]:
    """Plugin names disabled through :data:`DISABLE_ENV`."""
    raw = os.environ.get(DISABLE_ENV, "")
    return {name.strip() for name in raw.split(",") if name.strip()}


def unknown_disabled_names() -> list[str]:
    """Names in :data:`DISABLE_ENV` that no installed plugin has: a typo disables nothing."""
    wanted = disabled_plugin_names()
    if not wanted:
        return []
    found = importlib.metadata.entry_points(group=hookspecs.PROJECT)  # what pluggy loads
    installed = {entry.name for entry in found}
    return sorted(wanted - installed)


def hook_names() -> list[str]:
    """Every hook of :mod:`hashcore.hookspecs`, in declaration order."""
    marker = f"{hookspecs.PROJECT}_spec"
    return [name for name, value in vars(hookspecs).items() if hasattr(value, marker)]


def hook_key(hook: str) -> str:
    """A hook's name without the project prefix: its key in ``hashcore plugins --json``."""
    return hook.removeprefix(f"{hookspecs.PROJECT}_")


def get_plugin_manager(
    *,
    load_entry_points: bool = True,
    plugins: Mapping[str, object] | None = None,
    later: Collection[str] = (),
) -> pluggy.PluginManager:
    """A new manager with hashcore's specs, the installed plugins and ``plugins`` (by name).

    Not the process's manager (that is ``loaded_plugins().manager``): a fresh one, for tests
    and plugin authors who need an isolated or just-installed set. Disabled names are blocked
    for explicit plugins too. ``check_pending`` makes a misspelt hook name fail loudly instead
    of silently never running. The entry points named in ``later`` are left for
    :func:`load_later` (blocked until then).
    """
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    for name in disabled_plugin_names() | set(later):
        manager.set_blocked(name)
    for name, plugin in (plugins or {}).items():
        if not manager.is_blocked(name):
            manager.register(plugin, name=name)
    if load_entry_points:
        _load_entry_points(manager)
    _check_pending(manager)
    return manager


def load_later(manager: pluggy.PluginManager, later: Collection[str]) -> None:
    """Load the entry points :func:`get_plugin_manager` left out, which must not provide signal
    types (the registry was built without them)."""
    if not later:
        return
    for name in later:
        manager.unblock(name)
    before = {id(plugin) for plugin in manager.get_plugins()}
    _load_entry_points(manager)  # only the unregistered, unblocked names: these
    _check_pending(manager)
    for impl in manager.hook.hashcore_signal_types.get_hookimpls():
        if id(impl.plugin) not in before:
            raise PluginError(f"plugin {impl.plugin_name} is loaded late but has signal types")


def core_format_entry_points() -> list[str]:
    """The names of the entry points of :data:`CORE_FORMATS`, not disabled, read from the
    ``hashcore`` distribution's metadata without importing them (~1 ms)."""
    try:
        entry_points = importlib.metadata.distribution("hashcore").entry_points
    except importlib.metadata.PackageNotFoundError:
        return []
    disabled = disabled_plugin_names()
    return [
        entry.name
        for entry in entry_points
        if entry.group == hookspecs.PROJECT
        and entry.value.startswith(CORE_FORMATS)
        and entry.name not in disabled
    ]


def _load_entry_points(manager: pluggy.PluginManager) -> None:
    try:
        manager.load_setuptools_entrypoints(hookspecs.PROJECT)
    except Exception as error:
        raise PluginError(f"a hashcore plugin failed to load: {error!r}") from error


def _check_pending(manager: pluggy.PluginManager) -> None:
    try:
        manager.check_pending()
    except pluggy.PluginValidationError as error:
        raise PluginError(str(error)) from error


class Plugins:
    """What the loaded plugins provide: the manager, the signal registry and the bank formats.

    Validated as a whole when built, so a broken or duplicate plugin fails at startup; only the
    core's own formats (``later``) load when :attr:`formats` or :attr:`manager` is first read.
    """

    def __init__(
        self,
        manager: pluggy.PluginManager,
        registry: SignalRegistry,
        formats: Mapping[str, type[BankFormat]] | None = None,
        later: Collection[str] = (),
    ) -> None:
        self._manager = manager
        self.registry = registry
        self._formats = formats
        self._later = tuple(later)
        self._lock = threading.Lock()

    @classmethod
    def from_manager(cls, manager: pluggy.PluginManager) -> Plugins:
        from hashcore.formats.base import load_formats  # formats import the registry: no cycle

        return cls(manager, SignalRegistry.from_plugins(manager), load_formats(manager))

    @classmethod
    def build(
        cls, *, load_entry_points: bool = True, plugins: Mapping[str, object] | None = None
    ) -> Plugins:
        """A new, uncached set (tests: entry points off and explicit plugins registered).

        The core's formats are left for later unless another plugin provides bank formats:
        then they load now, so a clash of names fails at startup as it always did."""
        later = core_format_entry_points() if load_entry_points else []
        manager = get_plugin_manager(
            load_entry_points=load_entry_points, plugins=plugins, later=later
        )
        built = cls(manager, SignalRegistry.from_plugins(manager), later=later)
        if manager.hook.hashcore_bank_formats.get_hookimpls() or not later:
            built._complete()
        return built

    @property
    def manager(self) -> pluggy.PluginManager:
        """The pluggy manager, with every plugin loaded."""
        self._complete()
        return self._manager

    @property
    def formats(self) -> Mapping[str, type[BankFormat]]:
        """The bank formats by name, the core's loaded and checked on first use."""
        return self._complete()

    def _complete(self) -> Mapping[str, type[BankFormat]]:
        with self._lock:
            if self._formats is None:
                from hashcore.formats.base import load_formats

                load_later(self._manager, self._later)
                self._formats = load_formats(self._manager)
            return self._formats

    def format(self, name: str, options: Mapping[str, object] | None = None) -> BankFormat:
        """An instance of the format ``name`` over this registry (``NotFound`` if unknown)."""
        from hashcore.formats.base import format_class

        return format_class(self.formats, name)(self.registry, options)

    def describe(self) -> list[PluginInfo]:
        return describe_plugins(self.manager)


_loaded: dict[frozenset[str], Plugins] = {}
_loaded_lock = threading.Lock()


def loaded_plugins() -> Plugins:
    """The process's plugins, built on first use and shared afterwards.

    Kept per set of disabled names, so changing :data:`DISABLE_ENV` (tests, the conformance
    kit) is still honoured; a failed load is not kept and fails again on the next call.
    """
    key = frozenset(disabled_plugin_names())
    with _loaded_lock:
        found = _loaded.get(key)
        if found is None:
            found = _loaded[key] = Plugins.build()
        return found


def forget_loaded_plugins() -> None:
    """Drop the process's plugins, so the next use loads them again (a plugin was installed)."""
    with _loaded_lock:
        _loaded.clear()


@dataclass(frozen=True)
class PluginInfo:
    """What ``hashcore plugins`` prints about one loaded plugin."""

    name: str
    distribution: str | None
    version: str | None
    provides: Mapping[str, list[str]] = field(default_factory=dict)
    """The names of what each hook returned, by :func:`hook_key`; every hook has a key."""

    @property
    def signal_types(self) -> list[str]:
        return list(self.provides.get(hook_key("hashcore_signal_types"), []))

    @property
    def bank_formats(self) -> list[str]:
        return list(self.provides.get(hook_key("hashcore_bank_formats"), []))

    def as_dict(self) -> dict[str, Any]:
        """The ``--json`` shape: name, distribution, version, then one list per hook."""
        described: dict[str, Any] = {
            "name": self.name,
            "distribution": self.distribution,
            "version": self.version,
        }
        described.update((key, list(names)) for key, names in self.provides.items())
        return described


def describe_plugins(manager: pluggy.PluginManager) -> list[PluginInfo]:
    """Loaded plugins with their distribution, version and what each of their hooks provides."""
    dists = {id(plugin): dist for plugin, dist in manager.list_plugin_distinfo()}
    infos = []
    for name, plugin in sorted(manager.list_name_plugin()):
        if plugin is None:
            continue
        dist = dists.get(id(plugin))
        infos.append(
            PluginInfo(
                name=name,
                distribution=dist.metadata["name"] if dist else None,
                version=dist.version if dist else None,
                provides=_provided(manager, plugin),
            )
        )
    return infos


def _provided(manager: pluggy.PluginManager, plugin: object) -> dict[str, list[str]]:
    """Per hook, the names of the items ``plugin``'s own implementation returns."""
    provided: dict[str, list[str]] = {hook_key(hook): [] for hook in hook_names()}
    for caller in manager.get_hookcallers(plugin) or []:
        for impl in caller.get_hookimpls():
            if impl.plugin is plugin:
                items = cast("list[object]", impl.function() or [])
                provided.setdefault(hook_key(caller.name), []).extend(map(_item_name, items))
    return provided


def _item_name(item: object) -> str:
    """A provided class's stable ``name`` (signal types and formats have one), else its own."""
    name = getattr(item, "name", None)
    return name if isinstance(name, str) else str(getattr(item, "__name__", repr(item)))
