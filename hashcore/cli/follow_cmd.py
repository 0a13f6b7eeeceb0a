"""``hashcore bank follow``: keep a local bank a copy of a bank on another hashcore server.

With ``--once`` it pulls what is new and exits; otherwise it keeps following (reconnecting with
backoff) until Ctrl-C. Each update is committed with the source's checkpoint, so a restart
resumes where the last run stopped. See docs/sharing.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hashcore.cli.common import store_dir
from hashcore.cli.credentials import Profile, resolve_token
from hashcore.errors import NotFound

if TYPE_CHECKING:  # gRPC and the engine load when the verb runs, not for every command
    from hashcore.sharing import Follower, FollowReport, FollowSource


def register(verbs: Any) -> None:
    follow = verbs.add_parser(
        "follow",
        help="follow a bank of another hashcore server into a local bank",
        description=__doc__,
    )
    follow.add_argument("local", metavar="LOCAL", help="the local bank (create it first)")
    follow.add_argument("--from", dest="address", required=True, metavar="HOST:PORT")
    follow.add_argument("--remote-bank", required=True, metavar="NAME")
    follow.add_argument("--store", type=Path, metavar="DIR", help="the local store directory")
    follow.add_argument("--once", action="store_true", help="pull what is new, then exit")
    follow.add_argument(
        "--token-file", type=Path, metavar="FILE", help="the partner's token (mode 600)"
    )
    follow.add_argument("--token", help=argparse.SUPPRESS)
    follow.add_argument("--ca-cert", type=Path, metavar="PEM", help="use TLS, trusting this CA")
    follow.add_argument(
        "--insecure-plaintext",
        action="store_true",
        help="send the token without TLS to a non-loopback server (trusted network only)",
    )
    follow.add_argument("--name", help="the partner's name in provenance (default HOST:PORT)")
    follow.add_argument(
        "--heartbeat", type=float, default=10.0, metavar="SECONDS", help=argparse.SUPPRESS
    )
    follow.set_defaults(func=run_follow)


def run_follow(args: argparse.Namespace) -> int:
    from hashcore.backends import BACKEND_ENV, backend_from_spec
    from hashcore.engine import Engine
    from hashcore.sharing import Follower, FollowSource
    from hashcore.store.store import DB_NAME

    directory = store_dir(args)
    if not (directory / DB_NAME).is_file():
        raise NotFound(f"no hashcore store at {directory} (give --store DIR)", field="store")
    source = FollowSource(
        address=args.address,
        remote_bank=args.remote_bank,
        token=resolve_token(args, Profile()),
        partner=args.name or "",
        ca_cert=args.ca_cert,
        insecure_plaintext=args.insecure_plaintext,
    )
    backend = backend_from_spec(os.environ.get(BACKEND_ENV))
    with Engine(directory, index_backend=backend) as engine:
        follower = Follower(engine, args.local, source, heartbeat=args.heartbeat)
        report = follower.pull() if args.once else _follow_until_interrupted(follower)
    print(_summary(args.local, source, report))
    return 0


def _follow_until_interrupted(follower: Follower) -> FollowReport:
    """Follow in a thread so Ctrl-C never lands inside a transaction; wait for it to stop."""
    follower.check_local_bank()
    stop = threading.Event()
    failure: list[BaseException] = []

    def work() -> None:
        try:
            follower.run(stop, give_up=True)
        except BaseException as error:  # noqa: BLE001 - re-raised in the main thread
            failure.append(error)

    thread = threading.Thread(target=work, name="hashcore-follow")
    thread.start()
    try:
        while thread.is_alive():
            thread.join(0.2)
    except KeyboardInterrupt:
        print("hashcore: stopping", file=sys.stderr)
        stop.set()
        thread.join()
    if failure:
        raise failure[0]
    return follower.total


def _summary(local: str, source: FollowSource, report: FollowReport) -> str:
    line = (
        f"{local}: {report.entries} entr{'y' if report.entries == 1 else 'ies'} in "
        f"{report.updates} update(s) from {source.name}/{source.remote_bank}"
    )
    if report.rejected:
        line += f"; {report.rejected} not taken (see the log)"
    if report.opinions_sent:
        line += f"; {report.opinions_sent} opinion(s) sent back"
    return line + f"; checkpoint {report.checkpoint or 'none'}"
