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
    # Each failed or unreachable task: host, task, path (file:line), message.
    failed_tasks: list[dict[str, str]] = field(default_factory=list)
    # What Ansible printed as [ERROR] (an inventory it could not parse, a syntax error).
    errors: list[str] = field(default_factory=list)

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

    def failure_lines(self) -> list[str]:
        return describe_failures(self.failed_tasks, self.errors)


def describe_failures(tasks: list[dict[str, str]], errors: list[str]) -> list[str]:
    """One line per failed task, naming host, task and where it is, then Ansible's own errors."""
    lines = [
        f"{t['host']}: task '{t['task']}'" + (f" ({t['path']})" if t.get("path") else "") + f": {t['msg']}"
        for t in tasks
    ]
    return lines + list(errors)


def _message(res: dict[str, Any]) -> str:
    """The gist of a failed task's result: its msg, else the end of its stderr."""
    text = str(res.get("msg") or "").strip() or str(res.get("stderr") or "").strip()
    if not text and isinstance(res.get("results"), list):
        text = "; ".join(_message(r) for r in res["results"] if isinstance(r, dict) and r.get("failed"))
    text = " ".join(text.split())
    return text[:400] + ("..." if len(text) > 400 else "") or "(no message)"


def failed_tasks(events: Any) -> list[dict[str, str]]:
    """The failed (not ignored) and unreachable tasks among ansible-runner's events."""
    found = []
    for event in events:
        kind = event.get("event")
        data = event.get("event_data") or {}
        if kind not in ("runner_on_failed", "runner_on_unreachable") or data.get("ignore_errors"):
            continue
        found.append(
            {
                "host": str(data.get("host", "?")),
                "task": str(data.get("task", "?")),
                "path": _task_path(str(data.get("task_path") or "")),
                "msg": _message(data.get("res") or {}),
                "kind": "unreachable" if kind == "runner_on_unreachable" else "failed",
            }
        )
    return found


def _task_path(path: str) -> str:
    """A task's file:line relative to the checkout where it is inside it."""
    root = str(repo_root()) + "/"
    return path[len(root) :] if path.startswith(root) else path


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
    """Run ``playbook`` and return its stats; raise on any failed or unreachable host.

    With several inventory sources a later one's host variables win over an earlier one's.
    """
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
    # ansible-runner puts its own `-i` after the command line's, and a later source's
    # host variables win: the sources go in the order given, the last as the runner's.
    cmdline = " ".join(f"-i {p}" for p in inventories[:-1])
    if check:
        cmdline += " --check --diff"
    started = time.time()
    runner = ansible_runner.run(
        private_data_dir=str(private_data_dir),
        project_dir=str(playbook.parent),
        playbook=str(playbook),
        inventory=str(inventories[-1]),
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
        # A failure inside a block that rescued it is not the host's failure.
        failed_tasks=[
            t
            for t in failed_tasks(runner.events)
            if t["host"] in stats.get("failures", {}) or t["host"] in stats.get("dark", {})
        ],
        errors=_ansible_errors(Path(runner.config.artifact_dir) / "stdout"),
    )
    return result


def _ansible_errors(stdout: Path) -> list[str]:
    """Ansible's [ERROR] lines (an inventory it could not parse, a playbook syntax error)."""
    try:
        text = stdout.read_text(errors="replace")
    except OSError:
        return []
    return [line.strip() for line in text.splitlines() if line.lstrip().startswith("[ERROR]")][:5]


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
        details = result.failure_lines()
        raise WerkraumError(
            f"playbook {Path(result.playbook).name} did not converge: "
            + "; ".join(problems)
            + "".join(f"\n    {line}" for line in details),
            hint=hint or f"the events and stats of the run are under {result.artifacts}",
        )
