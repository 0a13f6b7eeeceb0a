"""Tokens and grants: a partner never sees a bank outside its grant."""

from __future__ import annotations

import subprocess
import sys
import threading

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from server_support import (
    ADMIN_TOKEN,
    ALICE_TOKEN,
    BOB_TOKEN,
    ROTATED,
    TOKENS,
    auth,
    content,
    running_server,
)

from hashcore.api.v1 import hashcore_pb2 as pb
from hashcore_server.config import ConfigError, ServerConfig, hash_token, load_config


def code_of(call, *args, **kwargs) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as info:
        call(*args, **kwargs)
    return info.value.code()


def seed(banks) -> None:
    """alice-bank, bob-bank and shared, each holding the same image."""
    for name in ("alice-bank", "bob-bank", "shared"):
        banks.CreateBank(pb.CreateBankRequest(name=name), timeout=10, metadata=auth(ADMIN_TOKEN))
        banks.AddContent(
            pb.AddContentRequest(bank=name, content=content(), external_id=f"{name}-1"),
            timeout=30,
            metadata=auth(ADMIN_TOKEN),
        )


def test_missing_or_wrong_token_is_unauthenticated_but_health_is_open(tmp_path):
    with running_server(tmp_path, tokens=TOKENS) as srv:
        matching, banks = srv.stubs()
        assert code_of(banks.ListBanks, pb.ListBanksRequest(), timeout=10) is (
            grpc.StatusCode.UNAUTHENTICATED
        )
        for metadata in (auth("nope"), (("authorization", ADMIN_TOKEN),), auth("")):
            assert (
                code_of(banks.ListBanks, pb.ListBanksRequest(), timeout=10, metadata=metadata)
                is grpc.StatusCode.UNAUTHENTICATED
            )
        assert code_of(matching.Hash, pb.HashRequest(content=b"x"), timeout=10) is (
            grpc.StatusCode.UNAUTHENTICATED
        )
        health = health_pb2_grpc.HealthStub(srv.channel())
        assert health.Check(health_pb2.HealthCheckRequest(), timeout=5).status == (
            health_pb2.HealthCheckResponse.SERVING
        )


def test_lookups_only_see_granted_banks(tmp_path):
    with running_server(tmp_path, tokens=TOKENS) as srv:
        matching, banks = srv.stubs()
        seed(banks)
        query = pb.LookupRequest(content=content(ROTATED))
        everything = matching.Lookup(query, timeout=30, metadata=auth(ADMIN_TOKEN))
        assert sorted(m.bank for m in everything.matches) == ["alice-bank", "bob-bank", "shared"]
        alice = matching.Lookup(query, timeout=30, metadata=auth(ALICE_TOKEN))
        assert sorted(m.bank for m in alice.matches) == ["alice-bank", "shared"]
        bob = matching.Lookup(query, timeout=30, metadata=auth(BOB_TOKEN))
        assert [m.bank for m in bob.matches] == ["bob-bank"]
        # Asking for a bank outside the grant is refused, not silently emptied.
        filtered = pb.LookupRequest(content=content(ROTATED), banks=["alice-bank"])
        assert code_of(matching.Lookup, filtered, timeout=30, metadata=auth(BOB_TOKEN)) is (
            grpc.StatusCode.PERMISSION_DENIED
        )
        batch = pb.LookupBatchRequest(
            queries=[pb.Query(query_id="q", content=content(ROTATED))], banks=["bob-bank"]
        )
        with pytest.raises(grpc.RpcError) as info:
            list(matching.LookupBatch(iter([batch]), timeout=30, metadata=auth(ALICE_TOKEN)))
        assert info.value.code() is grpc.StatusCode.PERMISSION_DENIED
        batch.ClearField("banks")
        replies = list(matching.LookupBatch(iter([batch]), timeout=30, metadata=auth(BOB_TOKEN)))
        assert [m.bank for m in replies[0].results[0].result.matches] == ["bob-bank"]


def test_bank_listing_and_admin_follow_the_grant(tmp_path):
    with running_server(tmp_path, tokens=TOKENS) as srv:
        _, banks = srv.stubs()
        seed(banks)
        listed = banks.ListBanks(pb.ListBanksRequest(), timeout=10, metadata=auth(ALICE_TOKEN))
        assert sorted(b.bank.name for b in listed.banks) == ["alice-bank", "shared"]
        denied = grpc.StatusCode.PERMISSION_DENIED
        alice = auth(ALICE_TOKEN)
        assert (
            code_of(banks.GetBank, pb.GetBankRequest(name="bob-bank"), timeout=10, metadata=alice)
            is denied
        )
        assert banks.GetBank(pb.GetBankRequest(name="shared"), timeout=10, metadata=alice).entries
        # lookup role on "shared": no admin there; admin on alice-bank only.
        add = pb.AddSignalsRequest(
            bank="shared", entries=[pb.NewEntry(signals=[pb.Signal(type="pdq", value=b"\0" * 32)])]
        )
        assert code_of(banks.AddSignals, add, timeout=10, metadata=alice) is denied
        add.bank = "alice-bank"
        assert banks.AddSignals(add, timeout=10, metadata=alice).entries
        assert (
            code_of(banks.CreateBank, pb.CreateBankRequest(name="new"), timeout=10, metadata=alice)
            is denied
        )
        assert code_of(banks.Compact, pb.CompactRequest(), timeout=10, metadata=alice) is denied
        assert (
            code_of(
                banks.GetEntry,
                pb.GetEntryRequest(bank="shared", entry_id=1),
                timeout=10,
                metadata=alice,
            )
            is denied
        )
        assert (
            code_of(
                banks.SetBankEnabled,
                pb.SetBankEnabledRequest(name="bob-bank", enabled=False),
                timeout=10,
                metadata=alice,
            )
            is denied
        )
        assert (
            code_of(
                banks.RemoveEntries,
                pb.RemoveEntriesRequest(bank="bob-bank"),
                timeout=10,
                metadata=alice,
            )
            is denied
        )
        for call, request in (
            (banks.SetBankPriority, pb.SetBankPriorityRequest(name="bob-bank", priority=1)),
            (banks.SetBankThresholds, pb.SetBankThresholdsRequest(name="shared")),
        ):
            assert code_of(call, request, timeout=10, metadata=alice) is denied
        # A lookup partner cannot read a bank's hashes out through an export either.
        export = banks.ExportEntries(
            pb.ExportEntriesRequest(bank="shared"), timeout=10, metadata=alice
        )
        assert code_of(list, export) is denied
        exported = banks.ExportEntries(
            pb.ExportEntriesRequest(bank="alice-bank"), timeout=10, metadata=alice
        )
        assert "alice-bank-1" in [entry.external_id for page in exported for entry in page.entries]
        own = pb.SetBankThresholdsRequest(name="alice-bank", thresholds={"pdq": 10})
        assert dict(banks.SetBankThresholds(own, timeout=10, metadata=alice).thresholds) == {
            "pdq": 10
        }


def test_watchers_only_hear_about_granted_banks(tmp_path):
    with running_server(tmp_path, tokens=TOKENS) as srv:
        matching, banks = srv.stubs()
        seed(banks)
        stream = matching.WatchMatches(
            pb.WatchMatchesRequest(), timeout=30, metadata=auth(BOB_TOKEN)
        )
        stream.initial_metadata()
        events = []

        def read():
            try:
                for event in stream:
                    events.append(event)
            except grpc.RpcError as error:
                assert error.code() is grpc.StatusCode.CANCELLED

        reader = threading.Thread(target=read)
        reader.start()
        matching.Lookup(
            pb.LookupRequest(content=content(ROTATED)), timeout=30, metadata=auth(ALICE_TOKEN)
        )
        matching.Lookup(
            pb.LookupRequest(content=content(ROTATED)), timeout=30, metadata=auth(ADMIN_TOKEN)
        )
        deadline = threading.Event()
        deadline.wait(1.0)
        stream.cancel()
        reader.join(10)
        assert [(e.bank, e.caller) for e in events] == [("bob-bank", "ops")]
        other = matching.WatchMatches(
            pb.WatchMatchesRequest(banks=["alice-bank"]), timeout=5, metadata=auth(BOB_TOKEN)
        )
        with pytest.raises(grpc.RpcError) as info:
            next(other)
        assert info.value.code() is grpc.StatusCode.PERMISSION_DENIED


def test_open_server_only_on_loopback(tmp_path):
    with pytest.raises(ConfigError, match="allow_anonymous"):
        ServerConfig(listen="0.0.0.0:50051").validate()
    ServerConfig(listen="0.0.0.0:50051", allow_anonymous=True).validate()
    ServerConfig(listen="[::1]:50051").validate()
    ServerConfig(listen="localhost:50051").validate()


def test_config_file_and_environment(tmp_path):
    tokens = tmp_path / "tokens.toml"
    tokens.write_text(
        f'[[tokens]]\nname = "p"\nsha256 = "{hash_token("t")}"\ngrants = {{ "b" = "lookup" }}\n'
    )
    config_file = tmp_path / "hashcore.toml"
    config_file.write_text(
        'listen = "0.0.0.0:6000"\nstore = "data"\ntokens_file = "tokens.toml"\n'
        "allow_plaintext_tokens = true\n"  # tokens off loopback without TLS need consent
        "[limits]\nworkers = 3\nmax_batch_queries = 50\n"
    )
    config = load_config(config_file, env={})
    assert config.listen == "0.0.0.0:6000" and config.store == tmp_path / "data"
    assert config.limits.workers == 3 and config.limits.max_batch_queries == 50
    assert config.limits.hashing_processes == 3  # hash_processes unset: one per worker
    assert [(t.name, dict(t.grants)) for t in config.tokens] == [("p", {"b": "lookup"})]
    assert config.tokens[0].sha256 == hash_token("t")
    env = {
        "HASHCORE_LISTEN": "127.0.0.1:7000",
        "HASHCORE_STORE": str(tmp_path / "s"),
        "HASHCORE_WORKERS": "2",
        "HASHCORE_HASH_PROCESSES": "0",
    }
    config = load_config(config_file, env=env, overrides={"listen": "127.0.0.1:7001"})
    assert config.listen == "127.0.0.1:7001" and config.store == tmp_path / "s"
    assert config.limits.workers == 2 and config.limits.hashing_processes == 0
    with pytest.raises(ConfigError, match="HASHCORE_HASH_PROCESSES must be an integer"):
        load_config(config_file, env={"HASHCORE_HASH_PROCESSES": "all"})
    with pytest.raises(ConfigError, match="hash_processes must be 0"):
        load_config(config_file, env={"HASHCORE_HASH_PROCESSES": "-1"})
    for listen in ("127.0.0.1:99999", "127.0.0.1", "127.0.0.1:http", ":6000"):  # 99999: was 34463
        with pytest.raises(ConfigError, match="not HOST:PORT with a port from 0 to 65535"):
            load_config(config_file, env={}, overrides={"listen": listen})
    with pytest.raises(ConfigError, match=r"metrics_listen '127\.0\.0\.1:70000' is not HOST:PORT"):
        load_config(config_file, env={"HASHCORE_METRICS_LISTEN": "127.0.0.1:70000"})
    assert load_config(config_file, env={}, overrides={"listen": "[::1]:0"}).listen == "[::1]:0"
    with pytest.raises(ConfigError, match="unknown config keys"):
        bad = tmp_path / "bad.toml"
        bad.write_text("lisen = 'x'\n")
        load_config(bad, env={})
    with pytest.raises(ConfigError, match="role"):
        bad.write_text('[[tokens]]\nname = "x"\ntoken = "y"\ngrants = { "*" = "root" }\n')
        load_config(bad, env={})


def test_the_same_token_or_name_twice_stops_the_server_naming_both(tmp_path):
    """A copy-paste slip gave a second table the first one's token: the later grants won
    silently and a lookup token became admin. Whichever file each table is in, and whether
    the token is written plain or as its sha256, the server refuses to start."""
    (tmp_path / "tokens.toml").write_text(
        f'[[tokens]]\nname = "ops"\nsha256 = "{hash_token("t")}"\ngrants = {{ "*" = "admin" }}\n'
    )
    config_file = tmp_path / "hashcore.toml"
    config_file.write_text(
        'tokens_file = "tokens.toml"\n'
        '[[tokens]]\nname = "partner"\ntoken = "t"\ngrants = { "shared" = "lookup" }\n'
    )
    with pytest.raises(ConfigError, match="tokens 'partner' and 'ops' are the same token"):
        load_config(config_file, env={})
    result = subprocess.run(
        [sys.executable, "-m", "hashcore.cli.main", "serve", "--listen", "127.0.0.1:0",
         "--config", str(config_file), "--store", str(tmp_path / "store")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert "tokens 'partner' and 'ops' are the same token" in result.stderr
    config_file.write_text(
        'tokens_file = "tokens.toml"\n'
        '[[tokens]]\nname = "ops"\ntoken = "other"\ngrants = { "shared" = "lookup" }\n'
    )
    with pytest.raises(ConfigError, match="two \\[\\[tokens\\]\\] tables are named 'ops' with"):
        load_config(config_file, env={})
    config_file.write_text(  # rotation: the old and the new token of one caller, same grants
        'tokens_file = "tokens.toml"\n'
        '[[tokens]]\nname = "ops"\ntoken = "other"\ngrants = { "*" = "admin" }\n'
    )
    assert [t.name for t in load_config(config_file, env={}).tokens] == ["ops", "ops"]


def test_a_watch_on_an_unknown_or_malformed_bank_fails_at_once_as_lookup_does(tmp_path):
    """It stayed open forever, hearing nothing; Lookup with the same banks says NOT_FOUND."""
    with running_server(tmp_path, tokens=TOKENS) as srv:
        assert srv.engine is not None
        srv.engine.create_bank("bob-bank")
        matching, _ = srv.stubs()
        query = pb.SignalList(signals=[pb.Signal(type="md5", value=bytes(16))])

        def watch_error(banks: list[str], token: str = ADMIN_TOKEN) -> grpc.RpcError:
            stream = matching.WatchMatches(
                pb.WatchMatchesRequest(banks=banks), timeout=10, metadata=auth(token)
            )
            with pytest.raises(grpc.RpcError) as info:
                next(stream)
            return info.value

        lookup = matching.Lookup
        with pytest.raises(grpc.RpcError) as looked:
            lookup(pb.LookupRequest(signals=query, banks=["nosuch"]), metadata=auth(ADMIN_TOKEN))
        assert looked.value.code() is grpc.StatusCode.NOT_FOUND
        error = watch_error(["bob-bank", "nosuch"])
        assert error.code() is grpc.StatusCode.NOT_FOUND and "'nosuch'" in error.details()
        assert watch_error(["bad name!"]).code() is grpc.StatusCode.INVALID_ARGUMENT
        assert watch_error([""]).code() is grpc.StatusCode.INVALID_ARGUMENT
        # a partner's grant is checked first: it cannot tell an unknown bank from another's
        assert watch_error(["nosuch"], BOB_TOKEN).code() is grpc.StatusCode.PERMISSION_DENIED
