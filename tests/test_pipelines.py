"""The pipeline files: valid against their public JSON schemas, and doing what the flow promises."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT, VENV_BIN
from tests.fake_pulumi import install

GITLAB = ROOT / ".gitlab-ci.yml"
GITHUB = sorted((ROOT / ".github" / "workflows").glob("*.yml"))


@pytest.mark.parametrize(
    ("path", "schema"),
    [(GITLAB, "vendor.gitlab-ci"), *((p, "vendor.github-workflows") for p in GITHUB)],
    ids=lambda v: v.name if isinstance(v, Path) else v,
)
def test_pipeline_files_match_their_schema(path: Path, schema: str) -> None:
    proc = subprocess.run(
        [str(VENV_BIN / "check-jsonschema"), "--builtin-schema", schema, str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_gitlab_flow() -> None:
    ci = yaml.safe_load(GITLAB.read_text())
    assert ci["preview"]["trigger"]["include"][0]["artifact"] == "preview-pipeline.yml"
    assert ci["up"]["trigger"]["strategy"] == "depend"
    assert "--action up" in " ".join(ci["changed:up"]["script"])
    assert ci["drift"]["rules"][0]["if"].startswith('$CI_PIPELINE_SOURCE == "schedule"')
    offboard = ci["offboard"]
    assert offboard["rules"][0]["when"] == "manual"
    assert offboard["environment"]["name"].startswith("offboarding/")
    assert offboard["artifacts"]["expire_in"] == "never"
    assert ci["rack:check"]["rules"][0]["changes"] == ["roles/**/*", "ansible/**/*", "inventories/**/*"]
    assert "--check" in ci["rack:check"]["script"][0]
    assert ci["rack:converge"]["rules"][0]["when"] == "manual"
    assert ci["rack:converge"]["extends"] == ".rack" and ci[".rack"]["resource_group"] == "rack"


def test_github_flow() -> None:
    flow = yaml.safe_load((ROOT / ".github/workflows/tenants.yml").read_text())
    jobs = flow["jobs"]
    assert jobs["tenant"]["concurrency"]["group"] == "pulumi-tenant-${{ matrix.stack }}"
    assert jobs["tenant"]["needs"] == ["changed", "platform"]
    assert jobs["drift"]["if"] == "github.event_name == 'schedule'"
    assert jobs["offboard"]["environment"] == "offboarding"
    rack = yaml.safe_load((ROOT / ".github/workflows/rack.yml").read_text())
    assert rack["on"]["pull_request"]["paths"] == ["roles/**", "ansible/**", "inventories/**"]


def test_no_secret_values_in_the_pipelines() -> None:
    text = GITLAB.read_text() + "".join(p.read_text() for p in GITHUB)
    assert "BEGIN OPENSSH PRIVATE KEY" not in text and "PRIVATE KEY-----" not in text
    assert not re.search(r"PULUMI_CONFIG_PASSPHRASE:\s*['\"]?[A-Za-z0-9]{6,}", text)
    assert not re.search(r"NETBOX_TOKEN:\s*['\"]?[0-9a-f]{20,}", text)


def test_offboarding_refuses_a_tenant_that_is_not_marked(tmp_path: Path) -> None:
    proc = subprocess.run(
        [str(ROOT / "scripts/ci/offboard"), "mustermann"], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 2
    assert "does not set 'tenant:offboard: true'" in proc.stderr
    missing = subprocess.run([str(ROOT / "scripts/ci/offboard"), "nobody"], capture_output=True, text=True, check=False)
    assert missing.returncode == 2 and "does not exist" in missing.stderr


def _script(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ROOT / "scripts" / "ci" / args[0]), *args[1:]],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        check=False,
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("preview", "cluster", "rack"), "unknown project cluster"),
        (("apply", "tenant", "acme"), "unknown action apply (preview, up, drift)"),
        (("preview", "tenant"), "usage: scripts/ci/pulumi-stack"),
        ((), "unknown project"),
    ],
)
def test_pulumi_stack_refuses_bad_arguments_with_exit_2(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    fake = install(tmp_path)
    proc = _script("pulumi-stack", *args, env=fake.env())
    assert proc.returncode == 2 and message in proc.stderr
    assert fake.calls() == []


def test_the_ci_scripts_call_werkraum_not_pulumi() -> None:
    """Only the CLI's installation (setup) names the pulumi command; every action goes through `werkraum`."""
    for script in sorted((ROOT / "scripts" / "ci").iterdir()):
        code = [line.split(" #")[0] for line in script.read_text().splitlines() if not line.lstrip().startswith("#")]
        calls = [line for line in code if re.search(r"(^|[;|&(]\s*|\s)pulumi\s", line)]
        if script.name == "setup":
            assert all("version" in line for line in calls), calls
        else:
            assert calls == [], (script.name, calls)
    stack = (ROOT / "scripts" / "ci" / "pulumi-stack").read_text()
    assert "werkraum tenant" in stack and "werkraum platform" in stack
    assert "werkraum tenant offboard" in (ROOT / "scripts" / "ci" / "offboard").read_text()


def test_preview_goes_to_the_comment_and_keeps_the_exit_code(tmp_path: Path) -> None:
    fake = install(tmp_path, preview={"text": "Previewing update (rack)\n~ 1 to update"})
    out = ROOT / "pulumi-preview-rack.txt"
    try:
        proc = _script("pulumi-stack", "preview", "platform", "rack", env=fake.env())
        assert proc.returncode == 0, proc.stderr
        assert "~ 1 to update" in out.read_text()  # the file scripts/ci/comment posts
        assert "comment: not in a merge/pull request" in proc.stderr
    finally:
        out.unlink(missing_ok=True)
    failing = install(tmp_path / "failing", preview={"text": "error: the preview failed", "code": 255})
    try:
        proc = _script("pulumi-stack", "preview", "platform", "rack", env=failing.env())
        assert proc.returncode == 1 and "error: the preview failed" in out.read_text()
    finally:
        out.unlink(missing_ok=True)


@pytest.mark.parametrize(
    ("output", "code"),
    [
        ("error: no changes were expected but changes were proposed", 3),  # drift
        ("error: the Ceph cluster's fsid is not known yet", 255),  # the preview failed: an error, not drift
    ],
)
def test_drift_tells_drift_from_a_failed_preview(tmp_path: Path, output: str, code: int) -> None:
    fake = install(tmp_path, preview={"text": output, "code": 255})
    try:
        proc = _script("pulumi-stack", "drift", "platform", "rack", env=fake.env())
        assert proc.returncode == code, proc.stderr
        if code != 3:
            assert "that is an error, not drift" in proc.stderr
        (preview,) = [c for c in fake.calls() if c[0] == "preview"]
        assert {"--refresh", "--expect-no-changes"} <= set(preview)
    finally:
        (ROOT / "pulumi-drift-rack.txt").unlink(missing_ok=True)
