"""The lab image's cache key follows its recipe, and it uses the machine's own Debian mirror."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from werkraum.lab.image import DEFAULT_MIRROR, ImageRecipe, host_mirrors


def test_recipe_digest_is_stable_and_follows_the_recipe() -> None:
    base = ImageRecipe()
    assert base.digest() == ImageRecipe().digest()
    assert replace(base, packages=(*base.packages, "vim")).digest() != base.digest()
    assert replace(base, suite="trixie").digest() != base.digest()
    assert base.ref == f"localhost/werkraum-debian12:{base.digest()}"


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
