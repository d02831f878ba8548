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


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "WERKRAUM_ROOT"}


def _validate_in(cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [WERKRAUM, "tenant", "validate"], cwd=cwd, capture_output=True, text=True, env=env, check=False
    )


def test_outside_a_checkout_is_a_clear_error(tmp_path: Path) -> None:
    proc = _validate_in(tmp_path, _clean_env())
    assert proc.returncode == 2
    assert f"{tmp_path} is not inside a Werkraum checkout" in proc.stderr
    assert "cd into your clone" in proc.stderr and "Traceback" not in proc.stderr


def test_the_checkout_is_the_one_you_stand_in(tmp_path: Path) -> None:
    """A venv made in one clone works on another: the clone is found from the working directory."""
    import shutil

    clone = tmp_path / "other-clone"
    for part in ("stacks", "pulumi", "inventories", "ansible"):
        shutil.copytree(ROOT / part, clone / part)
    from tests.tenants.conftest import MINIMAL, write_tenant

    broken = write_tenant(clone / "stacks", "minimal", MINIMAL.replace("plan: bronze", "plan: diamond"))
    here = _validate_in(clone / "stacks", _clean_env())
    assert here.returncode == 1
    assert broken.exists() and "stacks/Pulumi.minimal.yaml:4: tenant:spec.plan" in here.stderr  # only the clone has it
    mine = _validate_in(ROOT / "roles", _clean_env())
    assert mine.returncode == 0, mine.stderr
    forced = _validate_in(clone, {**_clean_env(), "WERKRAUM_ROOT": str(ROOT)})
    assert forced.returncode == 0, forced.stderr  # WERKRAUM_ROOT still overrides
