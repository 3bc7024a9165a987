"""Test PKI for the local control plane (one CA signs everything).

Uses `cryptography` (EC P-256 for TLS, RSA for the service-account signer,
which every JWT consumer accepts).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALIDITY = dt.timedelta(days=365)

APISERVER_SANS = [
    "localhost",
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
    "127.0.0.1",
    "10.96.0.1",  # the `kubernetes` Service's ClusterIP (pods reach the API server through kube-proxy)
]


def _name(cn: str, org: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    if org:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    return x509.Name(attrs)


def _write_key(path: Path, key) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)


def _sans(names: list[str]) -> x509.SubjectAlternativeName:
    out: list[x509.GeneralName] = []
    for n in names:
        try:
            out.append(x509.IPAddress(ipaddress.ip_address(n)))
        except ValueError:
            out.append(x509.DNSName(n))
    return x509.SubjectAlternativeName(out)


class CA:
    def __init__(self, directory: Path):
        self.dir = directory
        self.key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        name = _name("kflow-test-ca")
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + VALIDITY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True, key_cert_sign=True, crl_sign=True,
                    content_commitment=False, key_encipherment=False, data_encipherment=False,
                    key_agreement=False, encipher_only=False, decipher_only=False,
                ),
                critical=True,
            )
            .sign(self.key, hashes.SHA256())
        )
        _write_key(directory / "ca.key", self.key)
        (directory / "ca.crt").write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))

    def issue(self, stem: str, cn: str, org: str | None = None, *, server: list[str] | None = None,
              client: bool = False) -> None:
        """Write <stem>.crt/.key; `server` gives SANs for a serving cert."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        usages = []
        if server is not None:
            usages.append(ExtendedKeyUsageOID.SERVER_AUTH)
        if client:
            usages.append(ExtendedKeyUsageOID.CLIENT_AUTH)
        b = (
            x509.CertificateBuilder()
            .subject_name(_name(cn, org))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + VALIDITY)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        )
        if server:
            b = b.add_extension(_sans(server), critical=False)
        cert = b.sign(self.key, hashes.SHA256())
        _write_key(self.dir / f"{stem}.key", key)
        (self.dir / f"{stem}.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def generate(directory: Path, node_name: str, node_ip: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    ca = CA(directory)
    ca.issue("apiserver", "kube-apiserver", server=[*APISERVER_SANS, node_ip])
    ca.issue("admin", "kflow-admin", "system:masters", client=True)
    # The API server presents this to the kubelet (logs, exec, port-forward).
    ca.issue("apiserver-kubelet-client", "kube-apiserver-kubelet-client", "system:masters", client=True)
    # Lets the API server front aggregated APIs, and gives the controller manager's
    # delegated authentication a request-header CA (it logs errors without one).
    ca.issue("front-proxy-client", "front-proxy-client", client=True)
    # The kubelet's serving cert (verified by the API server) and its client identity (Node authorizer).
    ca.issue("node", f"system:node:{node_name}", "system:nodes",
             server=[node_ip, "127.0.0.1", "localhost", node_name], client=True)
    sa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    _write_key(directory / "sa.key", sa)
    (directory / "sa.pub").write_bytes(
        sa.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
