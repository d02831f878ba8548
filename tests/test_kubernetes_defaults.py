"""The Kubernetes pins' check stops a play before any change: a wrong pin, no mirror, a mirror without a file.

The role changes nothing on a host (it asks the mirror), so it runs here with the
local connection, against a files mirror served by a real HTTP server from a tree
that `werkraum mirror index` indexed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT, VENV_BIN, run_cli
from werkraum.lifecycle import Process, free_port, http_check
from werkraum.mirror import pins


@pytest.fixture
def mirror(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A files mirror over HTTP holding every pinned file but containerd's archive."""
    root = tmp_path / "files"
    pinned = pins.load(ROOT)
    for key, relative in pinned.files.items():
        if key != "containerd":
            (root / relative).parent.mkdir(parents=True, exist_ok=True)
            (root / relative).write_text(key)
    assert run_cli("mirror", "index", str(root)).returncode == 0
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", "--directory", str(root), str(port)]
    check = http_check(f"{url}/index.json")
    with Process("files mirror", argv, check=check, log=tmp_path / "mirror.log", timeout=30):
        yield url, root


def play(tmp_path: Path, variables: dict[str, object]) -> subprocess.CompletedProcess[str]:
    (tmp_path / "play.yml").write_text(
        yaml.safe_dump([{"name": "pins", "hosts": "all", "gather_facts": False, "roles": ["kubernetes_defaults"]}])
    )
    (tmp_path / "vars.yml").write_text(yaml.safe_dump(variables))
    env = {
        **os.environ,
        "ANSIBLE_ROLES_PATH": str(ROOT / "roles"),
        "ANSIBLE_CONFIG": str(ROOT / "ansible" / "ansible.cfg"),
        "ANSIBLE_FORCE_COLOR": "0",
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}",
    }
    cmd = [str(VENV_BIN / "ansible-playbook"), "-i", "control-01,", "-c", "local", str(tmp_path / "play.yml")]
    return subprocess.run(
        [*cmd, "-e", f"@{tmp_path / 'vars.yml'}", "-e", f"ansible_python_interpreter={sys.executable}"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


def test_an_unsupported_minor_is_refused_naming_the_variable_and_host(tmp_path: Path) -> None:
    proc = play(tmp_path, {"kubernetes_version": "v1.33.0"})
    assert proc.returncode == 2
    assert "kubernetes_version=v1.33.0 (host control-01): not a release of a minor these roles support" in proc.stdout


def test_a_rack_without_a_mirror_is_refused(tmp_path: Path) -> None:
    proc = play(tmp_path, {})
    assert proc.returncode == 2
    assert "host control-01: kubernetes_files_repo and kubernetes_image_repo must name the rack's mirror" in proc.stdout


def test_an_unreachable_mirror_is_named(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    proc = play(tmp_path, {"kubernetes_files_repo": url, "kubernetes_image_repo": "registry.invalid"})
    assert proc.returncode == 2
    assert f"the mirror's index {url}/index.json could not be read" in proc.stdout


def test_a_file_the_mirror_lacks_is_named_before_anything_else(tmp_path: Path, mirror: tuple[str, Path]) -> None:
    url, _root = mirror
    proc = play(tmp_path, {"kubernetes_files_repo": url, "kubernetes_image_repo": "registry.invalid"})
    assert proc.returncode == 2
    containerd = pins.load(ROOT).files["containerd"]
    assert f"the mirror {url} lacks {containerd} (pinned in roles/kubernetes_defaults" in proc.stdout
    assert "changed=0" in proc.stdout
