"""``hashcore serve``: the engine as a gRPC server (see ``hashcore_server``).

Settings come from ``--config`` (TOML), then ``HASHCORE_*`` environment variables, then these
flags. Without API tokens the server runs open only on a loopback address (every caller is admin);
on any other address it refuses to start unless the config sets ``allow_anonymous = true``.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hashcore_server.config import ServerConfig


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "serve", help="serve lookups and bank administration over gRPC", description=__doc__
    )
    parser.add_argument("--listen", metavar="HOST:PORT", help="default 127.0.0.1:50051")
    parser.add_argument("--store", type=Path, metavar="DIR", help="store directory")
    parser.add_argument("--config", type=Path, metavar="FILE", help="TOML config file")
    parser.add_argument("--workers", type=int, help="concurrent CPU-bound calls")
    parser.add_argument(
        "--hash-processes",
        type=int,
        metavar="N",
        help="processes hashing uploaded content (default: --workers; 0: in the call's thread)",
    )
    parser.add_argument("--metrics-listen", metavar="HOST:PORT", help="Prometheus /metrics")
    parser.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING (default INFO)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from hashcore.media import max_image_pixels
    from hashcore_server.server import serve

    max_image_pixels()  # a bad HASHCORE_MAX_IMAGE_PIXELS stops the start, not every upload

    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # FAISS logs each CPU build it tries and cannot load ("Could not load library with AVX512
    # support due to: ModuleNotFoundError...") at INFO: alarming in an operator's log, and
    # normal. Kept for --log-level DEBUG.
    if logging.getLogger().getEffectiveLevel() > logging.DEBUG:
        logging.getLogger("faiss.loader").setLevel(logging.WARNING)
    # Pillow's DEBUG lines quote the files it opens: an uploaded picture's EXIF (camera make
    # and model, the time it was taken). Content never reaches the log, at any level.
    logging.getLogger("PIL").setLevel(logging.INFO)
    code: int = serve(server_config(args))
    return code


def server_config(args: argparse.Namespace) -> ServerConfig:
    """The config file, then ``HASHCORE_*`` variables, then the flags; ``hashcore --store DIR
    serve`` names the store as every other verb's ``--store`` does."""
    from dataclasses import replace

    from hashcore_server.config import load_config

    config = load_config(
        args.config,
        overrides={
            "listen": args.listen,
            "store": args.store or args.global_store,
            "metrics_listen": args.metrics_listen,
        },
    )
    if args.workers is not None:
        config = replace(config, limits=replace(config.limits, workers=args.workers)).validate()
    if args.hash_processes is not None:
        limits = replace(config.limits, hash_processes=args.hash_processes)
        config = replace(config, limits=limits).validate()
    return config
