"""``hashcore plugins``: what is loaded, from which distribution, providing what."""

from __future__ import annotations

import argparse
import json
from typing import Any

from hashcore.cli.table import table
from hashcore.plugins import (
    HOOK_LABELS,
    PluginInfo,
    Plugins,
    hook_key,
    hook_names,
    loaded_plugins,
)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("plugins", help="list loaded plugins and what they provide")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    plugins = loaded_plugins()
    infos = plugins.describe()
    if args.json:
        print(json.dumps([info.as_dict() for info in infos]))
        return 0
    for hook in hook_names():
        # Free-text descriptions go last, so the columns before them line up.
        rows = [
            [
                name,
                *_details(plugins, hook, name),
                _provider(info),
                _description(plugins, hook, name),
            ]
            for info in infos
            for name in info.provides.get(hook_key(hook), [])
        ]
        if rows:
            print(f"{HOOK_LABELS.get(hook, hook_key(hook)).capitalize()}s")
            header = ["NAME", *DETAIL_COLUMNS.get(hook, []), "PLUGIN", "DESCRIPTION"]
            print("\n".join(table(header, rows)))
    return 0


DETAIL_COLUMNS: dict[str, list[str]] = {
    "hashcore_signal_types": ["CONTENT", "METRIC", "THRESHOLD"],
    "hashcore_bank_formats": ["MODES"],
}
"""The columns a hook's items have between their name and the plugin providing them."""


def _provider(info: PluginInfo) -> str:
    version = f"{info.distribution} {info.version}" if info.distribution else "not packaged"
    return f"{info.name} ({version})"


def _details(plugins: Plugins, hook: str, name: str) -> list[str]:
    """An item's cells under :data:`DETAIL_COLUMNS`, where the hook has them."""
    if hook == "hashcore_signal_types":
        signal_type = plugins.registry.get(name)
        kinds = ",".join(sorted(k.value for k in signal_type.content_kinds))
        threshold = f"{signal_type.default_threshold:g}"
        return [kinds, signal_type.metric.value, threshold]
    if hook == "hashcore_bank_formats":
        fmt = plugins.formats[name]
        modes = {"file": fmt.can_read(), "api": fmt.can_fetch()}
        return [",".join(mode for mode, able in modes.items() if able)]
    return []


def _description(plugins: Plugins, hook: str, name: str) -> str:
    if hook == "hashcore_signal_types":
        return plugins.registry.get(name).description
    if hook == "hashcore_bank_formats":
        return plugins.formats[name].description
    if hook == "hashcore_feedback_formats":
        from hashcore.opinions.feedback import load_feedback_formats

        return load_feedback_formats(plugins.manager)[name].description
    return ""
