"""A STAND-IN `pulumi` for tests of the driver without an engine: it speaks just enough of the CLI.

The Automation API runs `pulumi version`, `stack select`, `preview ... --event-log FILE`,
`up`, `destroy`, `stack export`, `stack output --json`, `stack history --json` and
`stack rm`. This script answers each from a scenario (JSON) and logs every call, so a
test can assert what the driver asked the engine to do, and what it never asked.
Nothing is deployed anywhere. It reports version 3.200.0 so that the SDK reads the
engine's events from a file (newer versions stream them over gRPC).
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCRIPT = r"""
import json, os, sys
args = [a for a in sys.argv[1:] if a != "--non-interactive"]
scenario = json.loads(open(os.environ["FAKE_PULUMI_SCENARIO"]).read())
with open(os.environ["FAKE_PULUMI_LOG"], "a") as log:
    log.write(json.dumps(args) + "\n")

def value(args, flag):
    return args[args.index(flag) + 1] if flag in args else None

stack = value(args, "--stack")
if args[:1] == ["version"]:
    print("v" + scenario.get("version", "3.200.0")); sys.exit(0)
if "--help" in args:
    print("Usage: pulumi " + " ".join(a for a in args if a != "--help")); sys.exit(0)
if args[:2] == ["stack", "select"] or args[:2] == ["stack", "init"]:
    if args[:2] == ["stack", "select"] and scenario.get("missing"):
        print(f"error: no stack named '{stack}' found", file=sys.stderr); sys.exit(255)
    sys.exit(0)
if args[:2] == ["stack", "export"]:
    print(json.dumps({"version": 3, "deployment": scenario.get("state", {"resources": []})})); sys.exit(0)
if args[:2] == ["stack", "output"]:
    outputs = scenario.get("outputs", {})
    if "--show-secrets" not in args:
        outputs = {k: "[secret]" if k in scenario.get("secrets", []) else v for k, v in outputs.items()}
    print(json.dumps(outputs)); sys.exit(0)
if args[:2] == ["stack", "history"]:
    print(json.dumps([{
        "kind": "update", "startTime": "2026-01-01T00:00:00.000000Z", "message": "", "environment": {},
        "config": {}, "result": "succeeded", "endTime": "2026-01-01T00:00:01.000000Z",
        "resourceChanges": scenario.get("changes", {"same": 1}),
    }])); sys.exit(0)
if args[:2] == ["stack", "rm"]:
    sys.exit(0)
if args[:1] in (["preview"], ["up"], ["destroy"]):
    op = scenario.get(args[0], {})
    for line in op.get("text", f"fake {args[0]} of {stack}").splitlines():
        print(line)
    code = op.get("code", 0)
    log_file = value(args, "--event-log")
    if log_file:  # the engine ends its event log with a cancel event, on success and on failure
        with open(log_file, "a") as events:
            if code == 0:
                summary = {"resourceChanges": scenario.get("changes", {"same": 1})}
                events.write(json.dumps({"sequence": 1, "timestamp": 0, "summaryEvent": summary}) + "\n")
            events.write(json.dumps({"sequence": 2, "timestamp": 0, "cancelEvent": {}}) + "\n")
    sys.exit(code)
print("fake pulumi: unexpected " + " ".join(args), file=sys.stderr)
sys.exit(99)
"""


@dataclass
class FakePulumi:
    bin_dir: Path
    log: Path
    scenario_file: Path

    def env(self) -> dict[str, str]:
        return {
            "PATH": f"{self.bin_dir}{os.pathsep}{os.environ['PATH']}",
            "FAKE_PULUMI_SCENARIO": str(self.scenario_file),
            "FAKE_PULUMI_LOG": str(self.log),
        }

    def calls(self) -> list[list[str]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]

    def commands(self) -> list[str]:
        """Each call's command words (`preview`, `stack export`, ...), without the version checks."""
        out = []
        for args in self.calls():
            words = args[:2] if args[:1] == ["stack"] else args[:1]
            if words != ["version"]:
                out.append(" ".join(words))
        return out

    def with_language_host(self) -> FakePulumi:
        """A `pulumi-language-python` beside the binary: the engine could run a Python policy pack."""
        host = self.bin_dir / "pulumi-language-python"
        host.write_text("#!/bin/sh\nexit 0\n")
        host.chmod(0o755)
        return self


def install(tmp_path: Path, **scenario: Any) -> FakePulumi:
    """Write the stand-in into ``tmp_path/bin`` with ``scenario`` (see SCRIPT for its keys)."""
    bin_dir = tmp_path / "fake-pulumi" / "bin"
    bin_dir.mkdir(parents=True)
    script = bin_dir / "pulumi"
    script.write_text(f"#!{sys.executable}\n{SCRIPT}")
    script.chmod(0o755)
    scenario_file = bin_dir.parent / "scenario.json"
    scenario_file.write_text(json.dumps(scenario))
    return FakePulumi(bin_dir, bin_dir.parent / "calls.jsonl", scenario_file)
