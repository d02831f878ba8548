"""`werkraum rack converge`: ansible/site.yml through ansible-runner, with the run kept as a CI artifact."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from werkraum.errors import WerkraumError
from werkraum.paths import repo_root
from werkraum.playbook import PlaybookResult, raise_for_result, run_playbook


def converge(inventory: Path, artifacts: Path, *, check: bool = False, limit: str | None = None) -> PlaybookResult:
    """Run the site playbook; keep summary.json and a `latest` link in ARTIFACTS.

    The inventory must already have passed `require_valid`. The result is returned even
    when hosts failed, so the caller can print it first; then `require_success`.
    """
    result = run_playbook(
        repo_root() / "ansible" / "site.yml",
        inventory,
        private_data_dir=artifacts.resolve(),
        check=check,
        limit=limit,
    )
    summary = artifacts / "summary.json"
    summary.write_text(json.dumps(result.to_dict(), indent=2))
    latest = artifacts / "latest"
    if latest.is_symlink() or latest.exists():
        latest.unlink() if latest.is_symlink() else shutil.rmtree(latest)
    latest.symlink_to(Path(result.artifacts).resolve())
    return result


def require_success(result: PlaybookResult, artifacts: Path) -> None:
    """Raise naming every failed or unreachable host unless the run succeeded on at least one host."""
    raise_for_result(result, hint=f"events and stats: {result.artifacts} ({artifacts / 'summary.json'})")
    if result.rc != 0:
        raise WerkraumError(f"ansible-playbook exited {result.rc}")
