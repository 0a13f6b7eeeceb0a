"""Issue 11, finding 6: bearer tokens never cross a non-loopback network in plaintext silently."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest

from hashcore.cli.main import main
from hashcore.errors import InvalidInput
from hashcore.remote import RemoteEngine
from hashcore.remote.client import is_loopback_address
from hashcore_server.config import ConfigError, TlsConfig, load_config

TOKENS = '[[tokens]]\nname = "p"\ntoken = "secret"\ngrants = { "b" = "lookup" }\n'


def config_file(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "hashcore.toml"
    path.write_text(body + TOKENS)
    return path


def test_server_refuses_tokens_on_a_public_address_without_tls(tmp_path):
    with pytest.raises(ConfigError, match="allow_plaintext_tokens"):
        load_config(config_file(tmp_path, 'listen = "0.0.0.0:50051"\n'), env={})
    with pytest.raises(ConfigError, match="plaintext"):
        load_config(config_file(tmp_path, ""), env={"HASHCORE_LISTEN": "[::]:50051"})


def test_server_accepts_tokens_with_tls_loopback_or_explicit_consent(tmp_path):
    loopback = load_config(config_file(tmp_path, 'listen = "127.0.0.1:50051"\n'), env={})
    assert loopback.tokens
    consent = load_config(
        config_file(tmp_path, 'listen = "0.0.0.0:50051"\nallow_plaintext_tokens = true\n'), env={}
    )
    assert consent.allow_plaintext_tokens
    by_env = load_config(
        config_file(tmp_path, 'listen = "0.0.0.0:50051"\n'),
        env={"HASHCORE_ALLOW_PLAINTEXT_TOKENS": "1"},
    )
    assert by_env.allow_plaintext_tokens
    with_tls = load_config(
        config_file(tmp_path, 'listen = "0.0.0.0:50051"\n'),
        env={"HASHCORE_TLS_CERT": "c.pem", "HASHCORE_TLS_KEY": "k.pem"},
    )
    assert isinstance(with_tls.tls, TlsConfig)


def test_serve_cli_refuses_with_one_line(tmp_path, capsys):
    path = config_file(tmp_path, 'listen = "0.0.0.0:0"\n')
    assert main(["serve", "--config", str(path), "--store", str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("hashcore: error:") and "allow_plaintext_tokens" in err


@pytest.fixture
def no_channels(monkeypatch):
    """Fail the test if a channel (the first step of any connection) is ever created."""
    opened: list[str] = []

    def refuse(address, *args, **kwargs):
        opened.append(address)
        raise AssertionError(f"a channel to {address} was opened")

    monkeypatch.setattr(grpc, "insecure_channel", refuse)
    return opened


@pytest.mark.parametrize("address", ["10.1.2.3:50051", "hashcore.example:443", "[2001:db8::1]:1"])
def test_client_refuses_plaintext_token_before_connecting(no_channels, address):
    with pytest.raises(InvalidInput, match="--insecure-plaintext"):
        RemoteEngine(address, token="secret")
    assert no_channels == []


def test_cli_refuses_plaintext_token_with_one_line(no_channels, capsys):
    code = main(["bank", "list", "--server", "10.1.2.3:50051", "--token", "secret"])
    assert code == 2
    err = capsys.readouterr().err
    assert "refusing to send an API token in plaintext" in err and "secret" not in err
    assert no_channels == []


def test_client_allows_loopback_consent_or_no_token(monkeypatch):
    opened: list[str] = []
    real = grpc.insecure_channel

    def record(address, *args, **kwargs):
        opened.append(address)
        return real(address, *args, **kwargs)

    monkeypatch.setattr(grpc, "insecure_channel", record)
    RemoteEngine("127.0.0.1:1", token="secret").close()
    RemoteEngine("localhost:1", token="secret").close()
    RemoteEngine("10.1.2.3:50051").close()  # no token: nothing to leak
    RemoteEngine("10.1.2.3:50051", token="secret", insecure_plaintext=True).close()
    assert len(opened) == 4


@pytest.mark.parametrize(
    ("address", "loopback"),
    [
        ("127.0.0.1:5", True),
        ("127.8.0.1:5", True),
        ("[::1]:5", True),
        ("localhost:5", True),
        ("ipv4:127.0.0.1:5", True),
        ("dns:///localhost:5", True),
        ("unix:/run/hashcore.sock", True),
        ("0.0.0.0:5", False),
        ("localhost.evil.example:5", False),
        ("10.0.0.1:5", False),
        ("[::]:5", False),
    ],
)
def test_is_loopback_address(address, loopback):
    assert is_loopback_address(address) is loopback
