"""Who may move a lookup's thresholds: lookup partners only tighten, admins loosen within bounds.

The attack these tests replay: a partner with a lookup grant sets ``thresholds={"pdq": 256}``,
which lists every entry of the bank with its distance; 257 queries (all zeros, then each single
bit set) recover any stored PDQ exactly from those distances. Before the fix it worked.
"""

from __future__ import annotations

import random

import grpc
import pytest
from server_support import ADMIN_TOKEN, ALICE_TOKEN, TOKENS, auth, registry, running_server

from hashcore.api.v1 import hashcore_pb2 as pb
from hashcore.engine import Engine
from hashcore.matching import loosest_threshold, threshold_for
from hashcore.model import Bank
from hashcore.signals import Signal
from hashcore_server.config import DEFAULT_ADMIN_THRESHOLD_BOUNDS, ConfigError, load_config

PDQ_BYTES = 32


def flip(value: bytes, bits: int, rng: random.Random) -> bytes:
    """``value`` with ``bits`` distinct bits flipped: a code at exactly that distance."""
    number = int.from_bytes(value, "big")
    for bit in rng.sample(range(PDQ_BYTES * 8), bits):
        number ^= 1 << bit
    return number.to_bytes(PDQ_BYTES, "big")


def pdq_query(value: bytes, query_id: str = "") -> pb.Query:
    signal = pb.Signal(type="pdq", value=value, quality=100)
    return pb.Query(query_id=query_id, signals=pb.SignalList(signals=[signal]))


def lookup(matching, value: bytes, token: str, **thresholds: float) -> list[pb.Match]:
    request = pb.LookupRequest(signals=pdq_query(value).signals, thresholds=thresholds or None)
    return list(matching.Lookup(request, timeout=10, metadata=auth(token)).matches)


def add_pdq(banks, bank: str, value: bytes, external_id: str) -> None:
    entry = pb.NewEntry(
        external_id=external_id, signals=[pb.Signal(type="pdq", value=value, quality=100)]
    )
    banks.AddSignals(
        pb.AddSignalsRequest(bank=bank, entries=[entry]), timeout=10, metadata=auth(ADMIN_TOKEN)
    )


def create(banks, name: str, **thresholds: float) -> None:
    banks.CreateBank(
        pb.CreateBankRequest(name=name, thresholds=thresholds or None),
        timeout=10,
        metadata=auth(ADMIN_TOKEN),
    )


def recover_by_distances(matching, token: str) -> bytes | None:
    """The published attack: read a stored PDQ bit by bit from the distances a lookup returns."""
    zero = bytes(PDQ_BYTES)
    queries = [pdq_query(zero, "zero")]
    for bit in range(PDQ_BYTES * 8):
        one_bit = (1 << (PDQ_BYTES * 8 - 1 - bit)).to_bytes(PDQ_BYTES, "big")
        queries.append(pdq_query(one_bit, str(bit)))
    request = pb.LookupBatchRequest(queries=queries, thresholds={"pdq": 256}, banks=["shared"])
    (response,) = matching.LookupBatch(iter([request]), timeout=60, metadata=auth(token))
    distance = {}
    for result in response.results:
        matches = result.result.matches
        if not matches:
            return None
        distance[result.query_id] = matches[0].signals[0].distance
    bits = ["1" if distance[str(bit)] < distance["zero"] else "0" for bit in range(256)]
    return int("".join(bits), 2).to_bytes(PDQ_BYTES, "big")


def test_a_lookup_partner_cannot_read_stored_hashes_through_thresholds(tmp_path):
    rng = random.Random(11)
    secret = rng.randbytes(PDQ_BYTES)
    with running_server(tmp_path, tokens=TOKENS) as srv:
        matching, banks = srv.stubs()
        create(banks, "shared")
        add_pdq(banks, "shared", secret, "secret-1")
        # The admin of every bank may still investigate, within the configured bound...
        assert lookup(matching, flip(secret, 60, rng), ADMIN_TOKEN, pdq=63)
        # ...but alice, who may only look up in "shared", gets nothing from a far query,
        assert lookup(matching, flip(secret, 60, rng), ALICE_TOKEN, pdq=256) == []
        # and the 257-query recovery finds no distances to work with.
        assert recover_by_distances(matching, ALICE_TOKEN) is None
        # A genuine near-duplicate is still found at the bank's threshold.
        (match,) = lookup(matching, flip(secret, 20, rng), ALICE_TOKEN, pdq=256)
        assert match.external_id == "secret-1" and match.signals[0].distance == 20


def test_the_recovery_works_for_an_admin_within_an_unbounded_config(tmp_path):
    """The attack is real: with loosening allowed it recovers the hash bit for bit."""
    secret = random.Random(5).randbytes(PDQ_BYTES)
    with running_server(tmp_path, tokens=TOKENS, admin_threshold_bounds={"pdq": 256}) as srv:
        matching, banks = srv.stubs()
        create(banks, "shared")
        add_pdq(banks, "shared", secret, "secret-1")
        assert recover_by_distances(matching, ADMIN_TOKEN) == secret
        assert recover_by_distances(matching, ALICE_TOKEN) is None


@pytest.mark.parametrize(
    ("bank_threshold", "requested", "distance", "found"),
    [
        (None, 5, 10, False),  # tightening below the distance hides the entry
        (None, 10, 10, True),  # the boundary itself matches
        (None, 9, 10, False),
        (None, 31, 31, True),  # asking for the default changes nothing
        (None, 32, 32, False),  # one past the default: clamped to 31
        (None, 256, 40, False),
        (8, 40, 10, False),  # the bank's own stricter threshold wins over a looser request
        (8, 8, 8, True),
        (40, 20, 30, False),  # a partner may tighten a loose bank
        (40, 60, 40, True),  # and gets the bank's own 40, not its 60
        (40, 60, 41, False),
    ],
)
def test_a_lookup_partner_only_tightens(tmp_path, bank_threshold, requested, distance, found):
    rng = random.Random(distance * 1000 + requested)
    stored = rng.randbytes(PDQ_BYTES)
    with running_server(tmp_path, tokens=TOKENS) as srv:
        matching, banks = srv.stubs()
        if bank_threshold is None:
            create(banks, "shared")
        else:
            create(banks, "shared", pdq=bank_threshold)
        add_pdq(banks, "shared", stored, "e")
        matches = lookup(matching, flip(stored, distance, rng), ALICE_TOKEN, pdq=requested)
        assert bool(matches) is found


def test_an_admin_loosens_only_its_own_banks_and_within_the_bound(tmp_path):
    rng = random.Random(3)
    stored = rng.randbytes(PDQ_BYTES)
    query = flip(stored, 45, rng)
    with running_server(tmp_path, tokens=TOKENS) as srv:
        matching, banks = srv.stubs()
        create(banks, "alice-bank")  # alice is admin here
        create(banks, "shared")  # and only a lookup partner here
        add_pdq(banks, "alice-bank", stored, "mine")
        add_pdq(banks, "shared", stored, "theirs")
        found = lookup(matching, query, ALICE_TOKEN, pdq=50)
        assert [(m.bank, m.signals[0].distance) for m in found] == [("alice-bank", 45.0)]
        assert lookup(matching, query, ALICE_TOKEN, pdq=44) == []
        # At the bound (63) it is allowed; one past it is refused with the field named.
        assert lookup(matching, query, ALICE_TOKEN, pdq=63)
        with pytest.raises(grpc.RpcError) as info:
            lookup(matching, query, ALICE_TOKEN, pdq=64)
        assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert "bound of 63" in info.value.details()
        batch = pb.LookupBatchRequest(queries=[pdq_query(query, "q")], thresholds={"pdq": 64})
        with pytest.raises(grpc.RpcError) as info:
            list(matching.LookupBatch(iter([batch]), timeout=10, metadata=auth(ALICE_TOKEN)))
        assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        # The server keeps serving after the refusal.
        assert lookup(matching, query, ADMIN_TOKEN, pdq=45)


def test_the_bound_comes_from_the_config(tmp_path):
    rng = random.Random(4)
    stored = rng.randbytes(PDQ_BYTES)
    query = flip(stored, 80, rng)
    with running_server(tmp_path, tokens=TOKENS, admin_threshold_bounds={"pdq": 90}) as srv:
        matching, banks = srv.stubs()
        create(banks, "shared")
        add_pdq(banks, "shared", stored, "e")
        assert lookup(matching, query, ADMIN_TOKEN, pdq=80)
        assert lookup(matching, query, ALICE_TOKEN, pdq=80) == []
        with pytest.raises(grpc.RpcError):
            lookup(matching, query, ADMIN_TOKEN, pdq=91)


def test_config_file_bounds(tmp_path):
    path = tmp_path / "hashcore.toml"
    path.write_text('admin_threshold_bounds = { pdq = 48, "my_family" = 0.4 }\n')
    config = load_config(path, env={})
    assert config.admin_threshold_bounds["pdq"] == 48
    assert config.admin_threshold_bounds["my_family"] == 0.4
    assert config.admin_threshold_bounds["phash"] == DEFAULT_ADMIN_THRESHOLD_BOUNDS["phash"]
    for bad in ('"wide"', "true", "nan", "{ x = 1 }"):
        path.write_text(f"admin_threshold_bounds = {{ pdq = {bad} }}\n")
        with pytest.raises(ConfigError, match=r"admin_threshold_bounds\.pdq"):
            load_config(path, env={})
    path.write_text("admin_threshold_bounds = 5\n")
    with pytest.raises(ConfigError, match="must be a table"):
        load_config(path, env={})


def test_threshold_rule_for_both_metrics():
    pdq = registry().get("pdq")
    tmk = registry().get("tmk_pdqf")
    plain = Bank("plain")
    loose = Bank("loose", thresholds={"pdq": 40, "tmk_pdqf": 0.5})
    # The owner of the store (loosen_banks None) gets exactly what it asked for.
    assert threshold_for(pdq, plain, {"pdq": 64}) == 64
    assert threshold_for(tmk, plain, {"tmk_pdqf": 0.1}) == 0.1
    # Elsewhere only the stricter side of the two counts: a smaller distance, a larger score.
    assert threshold_for(pdq, plain, {"pdq": 64}, ()) == 31
    assert threshold_for(pdq, plain, {"pdq": 12}, ()) == 12
    assert threshold_for(pdq, loose, {"pdq": 64}, ()) == 40
    assert threshold_for(tmk, plain, {"tmk_pdqf": 0.1}, ()) == 0.7
    assert threshold_for(tmk, plain, {"tmk_pdqf": 0.9}, ()) == 0.9
    assert threshold_for(tmk, loose, {"tmk_pdqf": 0.1}, ()) == 0.5
    assert threshold_for(tmk, loose, {"tmk_pdqf": 0.1}, ["loose"]) == 0.1
    assert threshold_for(pdq, loose, {}, ()) == 40
    # The index is searched at the loosest threshold any bank really gets.
    assert loosest_threshold(pdq, [plain, loose], {"pdq": 64}, ["plain"]) == 64
    assert loosest_threshold(pdq, [plain, loose], {"pdq": 64}, ()) == 40
    assert loosest_threshold(tmk, [plain, loose], {"tmk_pdqf": 0.1}, ()) == 0.5


def test_the_local_engine_owner_still_loosens(tmp_path):
    rng = random.Random(9)
    stored = rng.randbytes(PDQ_BYTES)
    with Engine(tmp_path / "store", registry()) as engine:
        engine.create_bank("b")
        engine.add_entry("b", [Signal("pdq", stored, quality=100)], external_id="e")
        query = [Signal("pdq", flip(stored, 50, rng), quality=100)]
        assert engine.lookup_signals(query).matches == []
        assert engine.lookup_signals(query, thresholds={"pdq": 50}).matches
        assert engine.lookup_many([query], thresholds={"pdq": 50}, loosen_banks=())[0].matches == []
