"""``hashcore plugins``: what is loaded, from which distribution, providing what."""

from __future__ import annotations

import argparse
import json
from typing import Any

from hashcore.plugins import describe_plugins, get_plugin_manager
from hashcore.registry import SignalRegistry


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("plugins", help="list loaded plugins and what they provide")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    manager = get_plugin_manager()
    registry = SignalRegistry.from_plugins(manager)
    infos = describe_plugins(manager)
    if args.json:
        print(json.dumps([info.__dict__ for info in infos]))
        return 0
    for info in infos:
        version = f"{info.distribution} {info.version}" if info.distribution else "(not packaged)"
        print(f"{info.name:<10} {version}")
        for name in info.signal_types:
            signal_type = registry.get(name)
            kinds = ",".join(sorted(k.value for k in signal_type.content_kinds))
            threshold = f"threshold {signal_type.default_threshold:g}"
            print(
                f"  signal type {name}: {signal_type.description} "
                f"[{kinds}; {signal_type.metric.value}; {threshold}]"
            )
    return 0
