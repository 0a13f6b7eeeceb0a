"""vPDQ over gRPC: a lookup's hit carries the same detail (percentages, frames, segments) as
the local engine's, through a real server on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path

from server_support import running_server

from hashcore.engine import Engine
from hashcore.registry import load_registry
from hashcore.remote import RemoteEngine
from hashcore.signals import Signal
from hashcore_vpdq import VpdqFeature

REFERENCE = Path(__file__).resolve().parents[1] / "plugins" / "vpdq" / "tests" / "data"


def test_remote_lookup_carries_the_detail(tmp_path: Path) -> None:
    whole = VpdqFeature.read_reference(REFERENCE / "doorknob-hd-no-bar.txt")
    rows = slice(0, 30, 3)
    clip = VpdqFeature(whole.hashes[rows], whole.quality[rows], whole.ms[rows])
    query = [Signal("vpdq", clip.to_bytes())]
    with running_server(tmp_path) as srv, RemoteEngine(srv.address) as remote:
        remote.create_bank("videos")
        remote.add_hashes("videos", [Signal("vpdq", whole.to_bytes())], external_id="door")
        [answer] = remote.lookup_many([query])
    [match] = answer.matches
    [hit] = match.signals
    assert hit.detail is not None and hit.detail["query_percent"] == 100.0
    assert hit.detail["query_frames"] == 10 and hit.detail["banked_start"] == 0.0
    with Engine(tmp_path / "store", load_registry()) as local:  # the store the server used
        [local_match] = local.lookup_signals(query).matches
    assert local_match.signals == match.signals
