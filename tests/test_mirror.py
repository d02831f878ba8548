"""The mirror: pins read from the one role that holds them, recipes filled from them, the files tree's layout.

The layout tests put small STAND-IN files where the builder caches its builds (a
shell script per binary), because they test where `assemble` puts each file and
what the index says, not the Go builds (`werkraum mirror build`, docs/testing.md).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import shutil
import tarfile
from pathlib import Path

import pytest

from tests.conftest import run_cli
from werkraum.errors import WerkraumError
from werkraum.mirror import files, gobuild, pins
from werkraum.paths import repo_root


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A copy of the pins role only: what pins.load reads."""
    target = tmp_path / "checkout" / pins.DEFAULTS
    target.parent.mkdir(parents=True)
    shutil.copyfile(repo_root() / pins.DEFAULTS, target)
    return tmp_path / "checkout"


def test_versions_are_read_from_the_role_and_the_mirror_paths_rendered_as_ansible_would() -> None:
    pinned = pins.load(repo_root())
    version = pinned.values["kubernetes_version"]
    minor = version.split(".")[1]
    assert pinned.versions["kubernetes_staging_version"] == f"v0.{minor}.{version.split('.')[2]}"
    assert pinned.files["kubelet"] == f"dl.k8s.io/release/{version}/bin/linux/amd64/kubelet"
    containerd = pinned.values["kubernetes_containerd_version"]
    assert pinned.files["containerd"].endswith(f"/{containerd}/containerd-{containerd[1:]}-linux-amd64.tar.gz")
    assert pinned.images["etcd"] == f"registry.k8s.io/etcd:{pinned.values['kubernetes_etcd_version'][1:]}-0"
    assert pinned.mirror_image("coredns", "registry.lab:5000/") == (
        f"registry.lab:5000/coredns/coredns:{pinned.values['kubernetes_coredns_version']}"
    )


def test_a_pin_that_is_not_a_version_names_its_variable(checkout: Path) -> None:
    path = checkout / pins.DEFAULTS
    path.write_text(path.read_text().replace("kubernetes_version: v1.37.2", "kubernetes_version: latest"))
    with pytest.raises(WerkraumError, match=r"main.yml: kubernetes_version: 'latest' is not a version"):
        pins.load(checkout)


def test_every_recipe_takes_its_version_from_the_pins() -> None:
    pinned = pins.load(repo_root())
    recipes = files.recipes(pinned)
    assert recipes["kubelet"].version == pinned.values["kubernetes_version"]
    assert recipes["kubelet"].local_version == pinned.versions["kubernetes_staging_version"]
    assert recipes["runc"].version == pinned.values["kubernetes_runc_version"] and recipes["runc"].cgo
    for c in recipes.values():
        assert "{" not in c.version + c.local_version, c.name
        assert f"gitMinor={pinned.versions['kubernetes_minor']}" in c.ldflags or c.module != "k8s.io/kubernetes"


def test_a_recipe_placeholder_without_a_pin_names_the_file_and_component(tmp_path: Path) -> None:
    recipe = tmp_path / "recipes.toml"
    recipe.write_text(
        '[components.x]\nmodule = "m"\nversion = "{kubernetes_nope_version}"\npackage = "."\nbinary = "x"\n'
    )
    with pytest.raises(WerkraumError, match=r"recipes.toml: components.x.version: \{kubernetes_nope_version\} is not"):
        gobuild.load_components(recipe, {"kubernetes_version": "v1.37.2"})


def test_recipes_without_the_new_build_options_keep_their_cache_key() -> None:
    """The engine's builds cached before tags/cgo/test/needs existed are still found."""
    c = gobuild.Component(name="etcd", module="go.etcd.io/etcd/server/v3", version="v3.6.8", package=".", binary="etcd")
    old = json.dumps([c.module, c.version, c.package, "", "", [], (), [], "", ()])
    assert c.recipe_digest == hashlib.sha256(old.encode()).hexdigest()[:10]
    assert gobuild.Component(**{**c.__dict__, "cgo": True}).recipe_digest != c.recipe_digest


def test_a_missing_build_dependency_is_named_with_its_debian_package(tmp_path: Path) -> None:
    c = gobuild.Component(
        name="runc",
        module="m",
        version="v1.0.0",
        package=".",
        binary="runc",
        needs={"/nonexistent/seccomp.h": "libseccomp-dev"},
    )
    cache = gobuild.GoCache(root=tmp_path / "cache", recipes=tmp_path / "recipes.toml")
    with pytest.raises(gobuild.GoBuildError, match=r"needs /nonexistent/seccomp\.h") as exc:
        gobuild.build(cache, c)
    assert "libseccomp-dev" in str(exc.value.hint) and not (tmp_path / "cache").exists()


def _stand_in_builds(pinned: pins.Pins) -> None:
    """A STAND-IN file at each build's cache path (a shell script naming the binary)."""
    cache = files.cache()
    for c in files.recipes(pinned).values():
        out = cache.build_dir(c) / c.binary
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(f"#!/bin/sh\necho {c.binary} {c.version}\n")


@pytest.fixture
def stand_in_builds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> pins.Pins:
    """The pins, with a STAND-IN build of every recipe in a cache of the test's own."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    pinned = pins.load(repo_root())
    _stand_in_builds(pinned)
    return pinned


def test_the_files_tree_has_upstreams_paths_and_archive_shapes_and_an_index(
    tmp_path: Path, stand_in_builds: pins.Pins
) -> None:
    pinned = stand_in_builds
    root = tmp_path / "files"
    entries = files.assemble(pinned, root)
    assert sorted(e.path for e in entries) == sorted(pinned.files.values())
    index = json.loads((root / "index.json").read_text())
    for e in entries:
        data = (root / e.path).read_bytes()
        assert index["files"][e.path] == {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    assert (root / pinned.files["kubelet"]).read_text().startswith("#!/bin/sh\necho kubelet")
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress((root / pinned.files["containerd"]).read_bytes()))) as tar:
        assert tar.getnames() == ["bin/containerd", "bin/containerd-shim-runc-v2", "bin/ctr"]
        assert all(m.mode == 0o755 and m.uid == 0 and m.mtime == 0 for m in tar.getmembers())
    with tarfile.open(root / pinned.files["cni_plugins"]) as tar:
        assert tar.getnames() == ["./bridge", "./host-local", "./loopback", "./portmap"]
    again = files.assemble(pinned, root)
    assert again == entries  # reproducible: the same bytes, the same index


def test_assembling_with_a_binary_not_built_names_it_and_writes_nothing(
    tmp_path: Path, stand_in_builds: pins.Pins
) -> None:
    pinned = stand_in_builds
    kubelet = files.recipes(pinned)["kubelet"]
    (files.cache().build_dir(kubelet) / "kubelet").unlink()
    with pytest.raises(WerkraumError, match=r"not built: kubelet") as exc:
        files.assemble(pinned, tmp_path / "files")
    assert exc.value.hint == "werkraum mirror build kubelet"
    assert not (tmp_path / "files").exists()


def test_mirror_build_of_an_unknown_component_names_it_and_the_recipes() -> None:
    proc = run_cli("mirror", "build", "kubelett")
    assert proc.returncode == 1
    assert "unknown mirror component(s): kubelett" in proc.stderr and "kubelet" in proc.stderr


def test_a_recipe_field_of_the_wrong_type_is_named_not_misread(tmp_path: Path) -> None:
    recipe = tmp_path / "recipes.toml"
    recipe.write_text(
        '[components.runc]\nmodule = "m"\nversion = "v1.0.0"\npackage = "."\nbinary = "runc"\ntags = "seccomp"\n'
    )
    with pytest.raises(WerkraumError, match=r"components.runc.tags: 'seccomp' must be a list"):
        gobuild.load_components(recipe)


def test_push_names_every_image_not_built_yet_before_pushing_any() -> None:
    import dataclasses

    from werkraum.mirror import push

    loaded = pins.load(repo_root())
    # This machine's podman store may or may not hold the pinned images: pin one that cannot exist.
    absent = {"pause": "localhost/werkraum-test-absent/pause:0.0.0"}
    pinned = dataclasses.replace(loaded, values={**loaded.values, "kubernetes_mirror_images": absent})
    with pytest.raises(WerkraumError) as err:
        push.push_images(pinned, push.PushTarget("127.0.0.1:1"))
    assert "not built yet: localhost/werkraum-test-absent/pause:0.0.0" in err.value.what
    assert "werkraum mirror images pause" in (err.value.hint or "")


def test_push_refuses_an_image_that_is_not_pinned() -> None:
    from werkraum.mirror import push

    with pytest.raises(WerkraumError) as err:
        push.push_images(pins.load(repo_root()), push.PushTarget("127.0.0.1:1"), names=["kube-nonesuch"])
    assert "no pinned image named kube-nonesuch" in err.value.what


def test_a_registry_that_does_not_answer_is_named() -> None:
    from werkraum.mirror import push

    with pytest.raises(WerkraumError) as err:
        push.registry_answers("127.0.0.1:1/k8s", None)
    assert "registry 127.0.0.1:1 does not answer at https://127.0.0.1:1/v2/" in err.value.what
