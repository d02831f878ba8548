"""OpenSSH public key lines (``TYPE BASE64 [COMMENT]``): parsed down to their wire format and checked.

A line is acceptable when its type is one of SSH_KEY_FIELDS and its key data
agrees with it (the embedded type, the curve, an Ed25519 key's length), and an
RSA key has at least MIN_RSA_BITS bits.
"""

from __future__ import annotations

import base64
import binascii
import struct
from typing import Any

MIN_RSA_BITS = 2048  # NIST SP 800-57's floor until 2030; 1024-bit keys are breakable
# Key type -> the fields of its public blob after the type string (RFC 4253, 5656, 8709; OpenSSH's PROTOCOL.u2f).
SSH_KEY_FIELDS: dict[str, tuple[str, ...]] = {
    "ssh-ed25519": ("key",),
    "ecdsa-sha2-nistp256": ("curve", "point"),
    "ecdsa-sha2-nistp384": ("curve", "point"),
    "ecdsa-sha2-nistp521": ("curve", "point"),
    "sk-ssh-ed25519@openssh.com": ("key", "application"),
    "sk-ecdsa-sha2-nistp256@openssh.com": ("curve", "point", "application"),
    "ssh-rsa": ("e", "n"),
}
SSH_KEY_CURVES = {
    "ecdsa-sha2-nistp256": b"nistp256",
    "ecdsa-sha2-nistp384": b"nistp384",
    "ecdsa-sha2-nistp521": b"nistp521",
    "sk-ecdsa-sha2-nistp256@openssh.com": b"nistp256",
}


def _read_string(blob: bytes, offset: int) -> tuple[bytes, int]:
    """One SSH wire-format string (uint32 length, then the bytes) at ``offset``, and the offset after it."""
    if offset + 4 > len(blob):
        raise ValueError("the key data ends early")
    (length,) = struct.unpack_from(">I", blob, offset)
    end = offset + 4 + length
    if end > len(blob):
        raise ValueError("the key data ends early")
    return blob[offset + 4 : end], end


def _check_key_blob(key_type: str, blob: bytes) -> str | None:
    embedded, offset = _read_string(blob, 0)
    if embedded != key_type.encode():
        shown = embedded.decode("ascii", errors="replace")
        return f"says {key_type} but its data is a {shown!r} key (a pasted-together line?)"
    fields: dict[str, bytes] = {}
    for name in SSH_KEY_FIELDS[key_type]:
        fields[name], offset = _read_string(blob, offset)
    if offset != len(blob):
        return "has extra bytes after the key data"
    if "curve" in fields and fields["curve"] != SSH_KEY_CURVES[key_type]:
        return f"names curve {fields['curve'].decode('ascii', errors='replace')!r}, not the one of {key_type}"
    if "key" in fields and len(fields["key"]) != 32:
        return f"holds a {len(fields['key'])}-byte Ed25519 key (32 expected)"
    if key_type == "ssh-rsa":
        bits = int.from_bytes(fields["n"], "big").bit_length()
        if bits < MIN_RSA_BITS:
            return f"is a {bits}-bit RSA key; use ssh-ed25519, or RSA with at least {MIN_RSA_BITS} bits"
    return None


def ssh_key_problem(line: Any) -> str | None:
    """Why ``line`` is not an acceptable OpenSSH public key line (``TYPE BASE64 [COMMENT]``), else None."""
    if not isinstance(line, str) or not line.strip():
        return "is not a public key line (TYPE BASE64 [COMMENT])"
    parts = line.split()
    if parts[0] not in SSH_KEY_FIELDS:
        return f"type {parts[0][:40]!r} is not one of {', '.join(SSH_KEY_FIELDS)}"
    if len(parts) < 2:
        return "has no key data after its type"
    try:
        blob = base64.b64decode(parts[1], validate=True)
    except (binascii.Error, ValueError):
        return "key data is not valid base64"
    try:
        return _check_key_blob(parts[0], blob)
    except ValueError as exc:
        return str(exc)


# What sshd's PubkeyAcceptedAlgorithms (common_ssh_host_key_algorithms) accepts -> the key type it takes.
SIGNATURE_KEY_TYPES = {
    "ssh-ed25519": "ssh-ed25519",
    "rsa-sha2-512": "ssh-rsa",
    "rsa-sha2-256": "ssh-rsa",
    "ecdsa-sha2-nistp256": "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384": "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521": "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com": "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com": "sk-ecdsa-sha2-nistp256@openssh.com",
}


def accepted_key_types(algorithms: list[str]) -> set[str]:
    """The key types sshd lets in, given the common role's algorithms (its template adds sk-ssh-ed25519)."""
    return {SIGNATURE_KEY_TYPES[a] for a in [*algorithms, "sk-ssh-ed25519@openssh.com"] if a in SIGNATURE_KEY_TYPES}
