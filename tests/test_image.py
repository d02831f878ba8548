"""The lab image's cache key follows its recipe, and it uses the machine's own Debian mirror."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from werkraum.lab.image import DEFAULT_MIRROR, ImageRecipe, host_mirrors, local_ca_digest


def test_recipe_digest_is_stable_and_follows_the_recipe() -> None:
    base = ImageRecipe()
    assert base.digest() == ImageRecipe().digest()
    assert replace(base, packages=(*base.packages, "vim")).digest() != base.digest()
    assert replace(base, suite="trixie").digest() != base.digest()
    assert base.ref == f"localhost/werkraum-debian12:{base.digest()}"
    assert replace(base, suite="trixie").ref.startswith("localhost/werkraum-debian13:")


def test_the_machines_own_cas_are_part_of_the_recipe(tmp_path: Path) -> None:
    assert local_ca_digest(tmp_path / "none") == ""
    (tmp_path / "proxy.crt").write_text("-----BEGIN CERTIFICATE-----\nA\n")
    first = local_ca_digest(tmp_path)
    (tmp_path / "proxy.crt").write_text("-----BEGIN CERTIFICATE-----\nB\n")
    assert first and local_ca_digest(tmp_path) != first


def test_mirrors_from_deb822_sources(tmp_path: Path) -> None:
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm\n\n"
        "Types: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\n"
    )
    assert host_mirrors(tmp_path) == ("http://mirror.example/debian", "http://mirror.example/debian-security")


def test_mirrors_from_one_line_sources(tmp_path: Path) -> None:
    (tmp_path / "sources.list").write_text(
        "deb [arch=amd64] http://ftp.example/debian/ bookworm main\n"
        "deb http://security.example/debian-security bookworm-security main\n"
    )
    assert host_mirrors(tmp_path) == ("http://ftp.example/debian", "http://security.example/debian-security")


def test_mirrors_default_when_nothing_configured(tmp_path: Path) -> None:
    assert host_mirrors(tmp_path)[0] == DEFAULT_MIRROR
