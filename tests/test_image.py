"""The lab image recipe: its cache key follows what it holds, it uses the machine's own Debian mirror, and it
shapes the root filesystem as it says (both outputs, the podman image and the guest disk, share it)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from werkraum.lab.image import (
    DEFAULT_MIRROR,
    ImageRecipe,
    configure_rootfs,
    disk_dir,
    host_mirrors,
    local_ca_digest,
    sources_list,
)


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


def test_fields_added_later_leave_the_container_images_tag_alone() -> None:
    """The rack's images keep the tags they were built under: no rebuild when the recipe type grows."""
    base = ImageRecipe(local_ca="")
    assert base.digest() == "3ea32b07f05d"  # ImageRecipe's digest before preload, overlay, units, files
    assert replace(base, suite="trixie").digest() == "9b1cde2bb5cd"
    assert replace(base, preload=(), files=(), remove=()).digest() == base.digest()
    for changed in (
        replace(base, preload=("chrony",)),
        replace(base, files=(("etc/motd", "hello\n"),)),
        replace(base, remove=("etc/ssh/ssh_host_*",)),
        replace(base, enabled_units=(("multi-user.target", "/lib/systemd/system/x.service"),)),
    ):
        assert changed.digest() != base.digest()


def test_the_overlays_content_is_in_the_digest_not_its_path(tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    for folder in (one, two):
        (folder / "etc").mkdir(parents=True)
        (folder / "etc" / "motd").write_text("hello\n")
    assert ImageRecipe(local_ca="", overlay=one).digest() == ImageRecipe(local_ca="", overlay=two).digest()
    before = ImageRecipe(local_ca="", overlay=one).digest()
    (one / "etc" / "motd").write_text("changed\n")
    assert ImageRecipe(local_ca="", overlay=one).digest() != before


def test_the_disk_output_is_keyed_by_recipe_size_and_label(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    recipe = ImageRecipe(local_ca="")
    folder = disk_dir(recipe, 12, "rootfs")
    assert folder.parent == tmp_path / "werkraum" / "vm-images" and folder.name.startswith("debian-bookworm-")
    assert folder != disk_dir(recipe, 20, "rootfs") and folder != disk_dir(recipe, 12, "root")
    assert folder != disk_dir(replace(recipe, packages=(*recipe.packages, "vim")), 12, "rootfs")
    # The disk's key differs from the podman tag: the same recipe, another output.
    assert not folder.name.endswith(recipe.digest())


def test_configure_rootfs_applies_the_recipe(tmp_path: Path) -> None:
    rootfs, overlay = tmp_path / "rootfs", tmp_path / "overlay"
    for d in ("etc/apt", "etc/ssh", "etc/systemd/system"):
        (rootfs / d).mkdir(parents=True)
    (rootfs / "etc/ssh/ssh_host_ed25519_key").write_text("secret")
    (rootfs / "etc/ssh/sshd_config").write_text("")
    (overlay / "usr/local/sbin").mkdir(parents=True)
    script = overlay / "usr/local/sbin/first-boot"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    recipe = ImageRecipe(
        local_ca="",
        masked_units=("getty@tty1.service",),
        overlay=overlay,
        enabled_units=(("multi-user.target", "/lib/systemd/system/systemd-networkd.service"),),
        remove=("etc/ssh/ssh_host_*",),
    )
    configure_rootfs(rootfs, recipe, "http://m.example/debian", "http://m.example/debian-security")
    assert (rootfs / "etc/apt/sources.list").read_text() == sources_list(
        "bookworm", "http://m.example/debian", "http://m.example/debian-security"
    )
    assert (rootfs / "etc/hostname").read_text() == "" and (rootfs / "etc/machine-id").read_text() == ""
    assert not (rootfs / "etc/ssh/ssh_host_ed25519_key").exists() and (rootfs / "etc/ssh/sshd_config").exists()
    copied = rootfs / "usr/local/sbin/first-boot"
    assert copied.read_text() == "#!/bin/sh\n" and copied.stat().st_mode & 0o111
    units = rootfs / "etc/systemd/system"
    assert (units / "getty@tty1.service").readlink() == Path("/dev/null")
    wants = units / "multi-user.target.wants" / "systemd-networkd.service"
    assert wants.readlink() == Path("/lib/systemd/system/systemd-networkd.service")
