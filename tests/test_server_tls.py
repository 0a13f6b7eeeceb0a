"""TLS and mutual TLS with certificates made in the test (cryptography)."""

from __future__ import annotations

import datetime
import ipaddress
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from server_support import running_server

from hashcore.api.v1 import hashcore_pb2 as pb
from hashcore.remote import RemoteEngine, ServerUnavailable
from hashcore_server.config import TlsConfig


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write(path: Path, key: ec.EllipticCurvePrivateKey, cert: x509.Certificate) -> None:
    path.with_suffix(".key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.with_suffix(".pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def make_pki(directory: Path) -> Path:
    """ca.pem, server.pem/.key (for 127.0.0.1 and localhost), client.pem/.key."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("hashcore test CA"))
        .issuer_name(_name("hashcore test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    _write(directory / "ca", ca_key, ca)
    for name, usage in (("server", "server"), ("client", "client")):
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(f"hashcore test {name}"))
            .issuer_name(ca.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
        )
        if usage == "server":
            builder = builder.add_extension(
                x509.SubjectAlternativeName(
                    [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
                ),
                critical=False,
            )
        _write(directory / name, key, builder.sign(ca_key, hashes.SHA256()))
    return directory


def test_tls_server(tmp_path):
    pki = make_pki(tmp_path)
    tls = TlsConfig(cert=pki / "server.pem", key=pki / "server.key")
    with running_server(tmp_path, tls=tls) as srv:
        credentials = grpc.ssl_channel_credentials((pki / "ca.pem").read_bytes())
        _, banks = srv.stubs(srv.channel(credentials))
        assert banks.ListBanks(pb.ListBanksRequest(), timeout=10).banks == []
        # A plaintext client cannot talk to it.
        _, plain = srv.stubs(srv.channel())
        with pytest.raises(grpc.RpcError) as info:
            plain.ListBanks(pb.ListBanksRequest(), timeout=5)
        assert info.value.code() is grpc.StatusCode.UNAVAILABLE
        with RemoteEngine(srv.address, ca_cert=pki / "ca.pem") as remote:
            assert remote.list_banks() == []


def test_mutual_tls_requires_a_client_certificate(tmp_path):
    pki = make_pki(tmp_path)
    tls = TlsConfig(cert=pki / "server.pem", key=pki / "server.key", client_ca=pki / "ca.pem")
    with running_server(tmp_path, tls=tls) as srv:
        with RemoteEngine(
            srv.address,
            ca_cert=pki / "ca.pem",
            client_cert=pki / "client.pem",
            client_key=pki / "client.key",
        ) as remote:
            remote.create_bank("b")
            assert [info.bank.name for info in remote.list_banks()] == ["b"]
        with (
            RemoteEngine(srv.address, ca_cert=pki / "ca.pem", timeout=5) as anonymous,
            pytest.raises(ServerUnavailable),
        ):
            anonymous.list_banks()
