"""The CLI's surface and its refusals: clear messages and non-zero exits, never a traceback."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from tests.conftest import ROOT, VENV_BIN, WERKRAUM, run_cli
from tests.fixtures import make_checkout
from tests.tenants.conftest import MINIMAL, write_tenant


def _commands(help_text: str) -> set[str]:
    """The command names of a click help's "Commands:" section (continuation lines are indented deeper)."""
    section = help_text.split("\nCommands:\n", 1)[1]
    return {m.group(1) for m in re.finditer(r"^  (\S+)", section, re.M)}


def test_help_lists_the_commands_and_the_overview_names_each() -> None:
    out = run_cli("--help")
    assert out.returncode == 0, out.stderr
    commands = _commands(out.stdout)
    assert {"lab", "tenant", "rack", "netbox", "platform"} <= commands
    overview = out.stdout.split("\nOptions:\n", 1)[0]  # the hand-written list in main's docstring
    missing = sorted(name for name in commands if not re.search(rf"^  {re.escape(name)}\s", overview, re.M))
    assert missing == [], f"werkraum --help's overview does not name {missing}"
    lab = run_cli("lab", "--help")
    assert lab.returncode == 0, lab.stderr
    assert {"up", "status", "down", "converge", "image"} <= _commands(lab.stdout)  # what README and docs tell users


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
    """A venv made in one clone works on another: the clone is found from the working directory.

    Two clones of their own (the fixture tenants as stacks/); only one has a broken tenant file.
    """
    broken_clone = make_checkout(tmp_path / "broken-clone")
    good_clone = make_checkout(tmp_path / "good-clone")
    write_tenant(broken_clone / "stacks", "minimal", MINIMAL.replace("plan: bronze", "plan: diamond"))
    here = _validate_in(broken_clone / "stacks", _clean_env())
    assert here.returncode == 1
    assert "stacks/Pulumi.minimal.yaml:4: tenant:spec.plan" in here.stderr  # only this clone has that file
    there = _validate_in(good_clone / "inventories" / "office", _clean_env())  # from a folder deep inside
    assert there.returncode == 0, there.stderr
    forced = _validate_in(broken_clone, {**_clean_env(), "WERKRAUM_ROOT": str(good_clone)})
    assert forced.returncode == 0, forced.stderr  # WERKRAUM_ROOT still overrides
