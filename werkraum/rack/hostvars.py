"""Each host's variables as Ansible templates them, read on the controller without reaching any host.

A ``"{{ werkraum_mgmt_network }}"`` comes back as the network it names, so
whoever checks the values sees what a converge would see. One
``ansible-playbook`` run gets them with ``ansible.builtin.debug`` (it needs no
connection: the run reaches no host), each variable through
``lookup('ansible.builtin.vars', NAME, default=SENTINEL)``:

1. one task templates all requested variables of a host at once (the fast path);
2. where that fails, a second task loops over the names and templates each on
   its own, so that one broken variable is reported as itself and hides none of
   the others. The loop is why this is a playbook and not ad hoc ``ansible -m
   debug``: Ansible fails a task as a whole when any of its arguments does not
   template (a syntax error, an unknown filter, an exception; `debug var=` only
   replaces undefined references), and an ad hoc command cannot loop.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from werkraum.errors import WerkraumError
from werkraum.inventory import tool_env, venv_bin
from werkraum.rack.inventory import STATIC

SENTINEL = "__werkraum_validate_unset__"
_ALL_AT_ONCE = "werkraum_validate_all_at_once"
TIMEOUT_S = 300


@dataclass
class HostVars:
    """One host's variables (those asked for) as Ansible templated them."""

    name: str
    groups: list[str]
    values: dict[str, Any]  # unset variables are absent
    errors: dict[str, str]  # variable -> why it does not template

    def ok(self, *names: str) -> bool:
        """Whether none of ``names`` failed to template (those are reported once, not checked further)."""
        return not any(name in self.errors for name in names)


def _playbook(names: Sequence[str]) -> list[dict[str, Any]]:
    # Values are wrapped in a mapping: a bare null msg would come back as no msg at all.
    lookups = ", ".join(f"{name!r}: lookup('ansible.builtin.vars', {name!r}, default={SENTINEL!r})" for name in names)
    each = f"{{{{ {{'value': lookup('ansible.builtin.vars', item, default={SENTINEL!r})}} }}}}"
    tasks = [
        {"ansible.builtin.debug": {"msg": f"{{{{ {{{lookups}}} }}}}"}, "register": _ALL_AT_ONCE, "ignore_errors": True},
        {
            "ansible.builtin.debug": {"msg": each},
            "loop": f"{{{{ {json.dumps(list(names))} if {_ALL_AT_ONCE} is failed else [] }}}}",
            "ignore_errors": True,
        },
    ]
    return [{"name": "werkraum rack validate", "hosts": "all", "gather_facts": False, "tasks": tasks}]


# What Ansible says about a source that the plugins it does not apply to also failed on (not the reason).
_PLUGIN_NOISE = ("not YAML inventory", "with 'ini' plugin", "with 'toml' plugin", "with 'script' plugin")


def _ansible_failure(source: Path, proc: subprocess.CompletedProcess[str], netbox: bool) -> WerkraumError:
    lines = [line.strip() for line in proc.stderr.splitlines() if line.strip()]
    causes = [
        line.removeprefix("[WARNING]: ")
        for line in lines
        if "Failed to parse" in line and "plugin:" in line and not any(noise in line for noise in _PLUGIN_NOISE)
    ]
    errors = [line.removeprefix("[ERROR]: ") for line in lines if line.startswith("[ERROR]")]
    said = causes + errors or lines[-3:] or [f"exit status {proc.returncode}"]
    hint = f"run `ansible-inventory -i {source} --list -vvv` to see why"
    if netbox:
        hint = (
            "NetBox's inventory needs NETBOX_API and NETBOX_TOKEN and a NetBox that answers; "
            f"check the rack written down with -i {source.parent / STATIC}, or {hint}"
        )
    return WerkraumError(f"inventory {source} could not be read by Ansible: " + "; ".join(said), hint=hint)


def run_debug_playbook(source: Path, names: Sequence[str], netbox: bool = False) -> list[dict[str, Any]]:
    """The two tasks' results (host -> result) of templating ``names`` on every host of ``source``."""
    source = source.resolve()  # the playbook runs in a folder of its own
    env = tool_env()
    env |= {
        "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_RETRY_FILES_ENABLED": "0",
    }
    with tempfile.TemporaryDirectory(prefix="werkraum-validate-") as tmp:
        playbook = Path(tmp) / "validate.yml"
        playbook.write_text(json.dumps(_playbook(names)))  # JSON is YAML
        try:
            proc = subprocess.run(
                [venv_bin("ansible-playbook"), "-i", str(source), str(playbook)],
                capture_output=True,
                text=True,
                env=env,
                check=False,
                timeout=TIMEOUT_S,
                cwd=tmp,
            )
        except subprocess.TimeoutExpired:
            raise WerkraumError(f"inventory {source}: Ansible took over {TIMEOUT_S} s to read it") from None
    try:
        tasks = [task["hosts"] for task in json.loads(proc.stdout)["plays"][0]["tasks"]]
    except (ValueError, KeyError, IndexError, TypeError):
        raise _ansible_failure(source, proc, netbox) from None
    if not tasks or not tasks[0]:
        raise WerkraumError(
            f"inventory {source} holds no hosts",
            hint="an empty inventory usually means a plugin failed quietly; run "
            f"`ansible-inventory -i {source} --list -vvv` to see why",
        )
    return [dict(hosts) for hosts in tasks]


def _failed(result: dict[str, Any]) -> bool:
    msg = result.get("msg")
    return bool(result.get("failed")) or "exception" in result or not isinstance(msg, dict)


def _template_error(item: dict[str, Any]) -> str:
    message = str(item.get("msg", "")) or "does not template"
    for marker in ("Error while resolving value for 'msg': ", "Task failed: "):
        if marker in message:
            message = message.split(marker, 1)[1]
            break
    return message


def _one_host(name: str, all_at_once: dict[str, Any], each: dict[str, Any]) -> HostVars:
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    if not _failed(all_at_once):
        values = dict(all_at_once["msg"])
    else:
        for item in each.get("results", []):
            variable = str(item.get("item"))
            if _failed(item) or "value" not in item["msg"]:
                errors[variable] = _template_error(item)
            else:
                values[variable] = item["msg"]["value"]
    values = {key: value for key, value in values.items() if value != SENTINEL}
    groups = values.get("group_names")
    return HostVars(name, [str(g) for g in groups] if isinstance(groups, list) else [], values, errors)


def template_variables(source: Path, names: Sequence[str], netbox: bool = False) -> dict[str, HostVars]:
    """Host name -> its variables ``names`` as Ansible templates them (a broken one hides no other), by name."""
    tasks = run_debug_playbook(source, names, netbox)
    each = tasks[1] if len(tasks) > 1 else {}
    return {host: _one_host(host, tasks[0][host], each.get(host, {})) for host in sorted(tasks[0])}
