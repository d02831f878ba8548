"""Running playbooks through ansible-runner and judging the result by its stats."""

from __future__ import annotations

import json
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from werkraum.errors import WerkraumError
from werkraum.inventory import tool_env
from werkraum.paths import repo_root


@dataclass
class PlaybookResult:
    playbook: str
    inventory: str
    started: float
    duration_s: float
    status: str
    rc: int
    ok: dict[str, int] = field(default_factory=dict)
    changed: dict[str, int] = field(default_factory=dict)
    failures: dict[str, int] = field(default_factory=dict)
    unreachable: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)
    artifacts: str = ""

    @property
    def total_changed(self) -> int:
        return sum(self.changed.values())

    @property
    def hosts(self) -> list[str]:
        names = set(self.ok) | set(self.changed) | set(self.failures) | set(self.unreachable)
        return sorted(names | set(self.skipped))

    def summary(self) -> str:
        return (
            f"{len(self.hosts)} hosts, {sum(self.ok.values())} ok, {self.total_changed} changed, "
            f"{sum(self.failures.values())} failed, {len(self.unreachable)} unreachable "
            f"in {self.duration_s:.1f}s"
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_playbook(
    playbook: Path,
    inventory: Path | list[Path],
    *,
    private_data_dir: Path,
    check: bool = False,
    extravars: dict[str, Any] | None = None,
    limit: str | None = None,
    quiet: bool = False,
    env: dict[str, str] | None = None,
) -> PlaybookResult:
    """Run ``playbook`` and return its stats; raise on any failed or unreachable host."""
    import ansible_runner  # slow to import: only when a playbook runs

    inventories = inventory if isinstance(inventory, list) else [inventory]
    if not playbook.exists():
        raise WerkraumError(f"playbook {playbook} does not exist")
    private_data_dir.mkdir(parents=True, exist_ok=True)
    # Only what differs from the environment is passed: ansible-runner would
    # otherwise keep a copy of every variable (secrets included) on disk.
    shutil.rmtree(private_data_dir / "env", ignore_errors=True)
    envvars = {"PATH": tool_env()["PATH"], **(env or {})}
    envvars.setdefault("ANSIBLE_CONFIG", str(repo_root() / "ansible" / "ansible.cfg"))
    envvars.setdefault("ANSIBLE_FORCE_COLOR", "0")
    if not sys.stdout.isatty():
        envvars.setdefault("ANSIBLE_NOCOLOR", "1")
    cmdline = " ".join(f"-i {p}" for p in inventories[1:])
    if check:
        cmdline += " --check --diff"
    started = time.time()
    runner = ansible_runner.run(
        private_data_dir=str(private_data_dir),
        project_dir=str(playbook.parent),
        playbook=str(playbook),
        inventory=str(inventories[0]),
        cmdline=cmdline.strip() or None,
        envvars=envvars,
        extravars=extravars or {},
        limit=limit,
        quiet=quiet,
        rotate_artifacts=10,
        json_mode=False,
        suppress_env_files=True,
    )
    scrub_artifacts(Path(runner.config.artifact_dir))
    stats: dict[str, dict[str, int]] = runner.stats or {}
    result = PlaybookResult(
        playbook=str(playbook),
        inventory=",".join(map(str, inventories)),
        started=started,
        duration_s=time.time() - started,
        status=str(runner.status),
        rc=int(runner.rc if runner.rc is not None else -1),
        ok=dict(stats.get("ok", {})),
        changed=dict(stats.get("changed", {})),
        failures=dict(stats.get("failures", {})),
        unreachable=dict(stats.get("dark", {})),
        skipped=dict(stats.get("skipped", {})),
        artifacts=str(runner.config.artifact_dir),
    )
    return result


def scrub_artifacts(artifact_dir: Path) -> None:
    """Drop the environment from the run's `command` artifact: it would carry every secret of the caller."""
    command = artifact_dir / "command"
    try:
        data = json.loads(command.read_text())
    except (OSError, ValueError):
        return
    if isinstance(data, dict) and "env" in data:
        data["env"] = {k: v for k, v in data["env"].items() if k in ("ANSIBLE_CONFIG", "CONTAINERS_CONF")}
        command.write_text(json.dumps(data))


def raise_for_result(result: PlaybookResult, *, hint: str | None = None) -> None:
    """A run is good only when every host was reached and nothing failed."""
    problems = []
    if result.unreachable:
        problems.append("unreachable: " + ", ".join(sorted(result.unreachable)))
    if result.failures:
        problems.append("failed: " + ", ".join(sorted(result.failures)))
    if not result.hosts:
        problems.append("no host was targeted (empty inventory or --limit)")
    if result.rc != 0 and not problems:
        problems.append(f"ansible-playbook exited {result.rc} ({result.status})")
    if problems:
        raise WerkraumError(
            f"playbook {Path(result.playbook).name} did not converge: " + "; ".join(problems),
            hint=hint or f"the events and stats of the run are under {result.artifacts}",
        )
