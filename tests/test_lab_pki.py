"""The lab's CA and the registry certificate it signs: made once, verified as a client would, made anew on change."""

from __future__ import annotations

import ipaddress
import ssl
import subprocess
from pathlib import Path

from cryptography import x509

from werkraum.lab.pki import LabCA


def load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_the_ca_is_made_once_and_its_key_kept_private(tmp_path: Path) -> None:
    ca = LabCA(tmp_path / "pki", "werkraum-lab")
    first = ca.ensure()[0]
    again = LabCA(tmp_path / "pki", "werkraum-lab").ensure()[0]
    assert first == again
    assert (tmp_path / "pki" / "ca.key").stat().st_mode & 0o777 == 0o600
    constraints = first.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert constraints.ca is True


def test_the_registry_certificate_is_signed_by_the_ca_for_its_address(tmp_path: Path) -> None:
    ca = LabCA(tmp_path / "pki", "werkraum-lab")
    issued = ca.issue("registry", ["10.231.0.41"])
    cert = load(issued.certificate)
    cert.verify_directly_issued_by(load(ca.ca.certificate))
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("10.231.0.41")]
    assert issued.key.stat().st_mode & 0o777 == 0o600
    # OpenSSL, as curl and the hosts' clients use it, accepts the chain for that address.
    proc = subprocess.run(
        ["openssl", "verify", "-CAfile", str(ca.ca.certificate), "-verify_ip", "10.231.0.41", str(issued.certificate)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    wrong = subprocess.run(
        ["openssl", "verify", "-CAfile", str(ca.ca.certificate), "-verify_ip", "10.231.0.42", str(issued.certificate)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert wrong.returncode != 0


def test_python_clients_trust_the_ca_file(tmp_path: Path) -> None:
    ca = LabCA(tmp_path / "pki", "werkraum-lab")
    ca.ensure()
    context = ssl.create_default_context(cafile=str(ca.ca.certificate))
    assert any("Werkraum lab werkraum-lab CA" in str(c["subject"]) for c in context.get_ca_certs())


def test_a_certificate_is_kept_while_its_names_hold_and_made_anew_when_they_change(tmp_path: Path) -> None:
    ca = LabCA(tmp_path / "pki", "werkraum-lab")
    first = ca.issue("registry", ["10.231.0.41"]).certificate.read_bytes()
    assert ca.issue("registry", ["10.231.0.41"]).certificate.read_bytes() == first
    moved = ca.issue("registry", ["10.231.0.45", "registry.lab.example"])
    assert moved.certificate.read_bytes() != first
    sans = load(moved.certificate).extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["registry.lab.example"]


def test_the_trust_folder_holds_the_ca_only(tmp_path: Path) -> None:
    """podman's --cert-dir reads every *.crt as a CA and pairs *.key with *.cert: only ca.crt may be there."""
    ca = LabCA(tmp_path / "pki", "werkraum-lab")
    ca.issue("registry", ["10.231.0.41"])
    folder = ca.trust_dir()
    assert sorted(p.name for p in folder.iterdir()) == ["ca.crt"]
    assert (folder / "ca.crt").read_bytes() == ca.ca.certificate.read_bytes()
