"""The CLI's surface and its refusals: clear messages and non-zero exits, never a traceback."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.conftest import ROOT, VENV_BIN, WERKRAUM, run_cli


def test_help_lists_the_subcommands() -> None:
    out = run_cli("--help")
    assert out.returncode == 0
    assert "lab" in out.stdout
    lab = run_cli("lab", "--help")
    for sub in ("up", "status", "down", "converge", "image"):
        assert sub in lab.stdout


def test_podman_missing_is_a_clear_error(tmp_path: Path) -> None:
    # Only the venv on PATH: no podman anywhere.
    proc = subprocess.run(
        [WERKRAUM, "lab", "up", "--no-converge"],
        capture_output=True,
        text=True,
        env={"PATH": str(VENV_BIN), "HOME": str(tmp_path), "WERKRAUM_ROOT": str(ROOT)},
        check=False,
    )
    assert proc.returncode == 3
    assert "podman is not installed" in proc.stderr
    assert "apt-get install podman runc" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_missing_inventory_is_a_clear_error(tmp_path: Path) -> None:
    proc = run_cli("lab", "status", "-i", str(tmp_path / "nope"))
    assert proc.returncode == 1
    assert f"inventory {tmp_path / 'nope'} does not exist" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_bootstrap_names_packages_it_cannot_install() -> None:
    proc = subprocess.run(
        [str(ROOT / "scripts" / "bootstrap")],
        capture_output=True,
        text=True,
        env={**os.environ, "WERKRAUM_SYSTEM_PACKAGES": "werkraum-no-such-package"},
        check=False,
    )
    assert proc.returncode == 2
    assert "about to install Debian packages: werkraum-no-such-package" in proc.stderr
    assert "could not install Debian packages: werkraum-no-such-package" in proc.stderr


def test_ci_runs_exactly_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "make test" in readme and "make lab" in readme
    ci = (ROOT / ".ci" / "run").read_text()
    assert "\nmake test\n" in ci
