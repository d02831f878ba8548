"""The lab rack's own certificate authority, and the certificates it signs for the lab's services.

A real rack has a CA of its own (or certificates from a public one): the common
role makes every host trust it (``common_ca_certificates``), and the service
roles are given certificates it signed. The lab does the same with a CA made
once per lab in its state folder, so the Kubernetes nodes and this machine (its
`podman push`) verify the lab registry's certificate instead of skipping TLS.
The CA's key never leaves the machine; the lab's group_vars read the files
from the lab's state folder (``WERKRAUM_LAB_PKI``, which `werkraum lab` sets
for every converge, names it outright).
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_DAYS = 3650
LEAF_DAYS = 825  # what clients accept for a server certificate


@dataclass(frozen=True)
class Issued:
    certificate: Path
    key: Path


def _write(path: Path, data: bytes, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(data)
    tmp.chmod(mode)
    tmp.replace(path)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _load(issued: Issued) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None:
    try:
        cert = x509.load_pem_x509_certificate(issued.certificate.read_bytes())
        key = serialization.load_pem_private_key(issued.key.read_bytes(), password=None)
    except (OSError, ValueError):
        return None
    return (cert, key) if isinstance(key, ec.EllipticCurvePrivateKey) else None


def _valid_for(cert: x509.Certificate, days: int) -> bool:
    return cert.not_valid_after_utc - datetime.timedelta(days=days) > datetime.datetime.now(datetime.UTC)


class LabCA:
    """The CA of one lab, kept in ``folder`` (ca.crt, ca.key 0600, and one NAME.crt/NAME.key per service)."""

    def __init__(self, folder: Path, lab: str) -> None:
        self.folder = folder
        self.lab = lab
        self.ca = Issued(folder / "ca.crt", folder / "ca.key")

    def ensure(self) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        """The lab's CA, made once; a CA within 30 days of its end is made anew."""
        loaded = _load(self.ca)
        if loaded and _valid_for(loaded[0], 30):
            return loaded
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"Werkraum lab {self.lab} CA")])
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=CA_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
            )  # keyCertSign, cRLSign
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256())
        )
        _write(self.ca.key, _key_pem(key), 0o600)
        _write(self.ca.certificate, cert.public_bytes(serialization.Encoding.PEM), 0o644)
        return cert, key

    def trust_dir(self) -> Path:
        """A folder holding only the CA's certificate, as podman's and skopeo's ``--cert-dir`` want it."""
        self.ensure()
        folder = self.folder / "trust"
        _write(folder / "ca.crt", self.ca.certificate.read_bytes(), 0o644)
        return folder

    def issue(self, name: str, names: list[str]) -> Issued:
        """A server certificate ``name`` for ``names`` (DNS names or addresses), made again when the names changed."""
        ca_cert, ca_key = self.ensure()
        issued = Issued(self.folder / f"{name}.crt", self.folder / f"{name}.key")
        sans: list[x509.GeneralName] = []
        for entry in names:
            try:
                sans.append(x509.IPAddress(ipaddress.ip_address(entry)))
            except ValueError:
                sans.append(x509.DNSName(entry))
        loaded = _load(issued)
        if loaded:
            cert = loaded[0]
            current = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            if set(current) == set(sans) and cert.issuer == ca_cert.subject and _valid_for(cert, 30):
                return issued
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=LEAF_DAYS))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        _write(issued.key, _key_pem(key), 0o600)
        _write(issued.certificate, cert.public_bytes(serialization.Encoding.PEM), 0o644)
        return issued
