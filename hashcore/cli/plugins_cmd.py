"""``hashcore plugins``: what is loaded, from which distribution, providing what."""

from __future__ import annotations

import argparse
import json
from typing import Any

from hashcore.plugins import HOOK_LABELS, Plugins, hook_key, hook_names, loaded_plugins


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
    for info in infos:
        version = f"{info.distribution} {info.version}" if info.distribution else "(not packaged)"
        print(f"{info.name:<10} {version}")
        for hook in hook_names():
            label = HOOK_LABELS.get(hook, hook_key(hook))
            for name in info.provides.get(hook_key(hook), []):
                print(f"  {label} {name}{_details(plugins, hook, name)}")
    return 0


def _details(plugins: Plugins, hook: str, name: str) -> str:
    """What follows an item's name: its description and contract, where the hook has them."""
    if hook == "hashcore_signal_types":
        signal_type = plugins.registry.get(name)
        kinds = ",".join(sorted(k.value for k in signal_type.content_kinds))
        threshold = f"threshold {signal_type.default_threshold:g}"
        return f": {signal_type.description} [{kinds}; {signal_type.metric.value}; {threshold}]"
    if hook == "hashcore_bank_formats":
        fmt = plugins.formats[name]
        modes = {"file": fmt.can_read(), "api": fmt.can_fetch()}
        return f": {fmt.description} [{', '.join(mode for mode, able in modes.items() if able)}]"
    return ""
