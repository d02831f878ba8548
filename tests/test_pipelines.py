"""The pipeline files: valid against their public JSON schemas, and doing what the flow promises."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT, VENV_BIN

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


def _stand_in_pulumi(tmp_path: Path, preview_output: str) -> dict[str, str]:
    """A STAND-IN `pulumi` on PATH: selects any stack, and its preview prints ``preview_output`` and fails."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "pulumi"
    script.write_text(
        "#!/bin/sh\n"
        'case "$1" in stack) exit 0 ;; preview) printf "%s\\n" "$WERKRAUM_TEST_PREVIEW"; exit 255 ;; esac\nexit 1\n'
    )
    script.chmod(0o755)
    import os

    return {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "WERKRAUM_TEST_PREVIEW": preview_output}


@pytest.mark.parametrize(
    ("output", "code"),
    [
        ("error: no changes were expected but changes were proposed", 3),  # drift
        ("error: the Ceph cluster's fsid is not known yet", 255),  # the preview failed: an error, not drift
    ],
)
def test_drift_tells_drift_from_a_failed_preview(tmp_path: Path, output: str, code: int) -> None:
    proc = subprocess.run(
        [str(ROOT / "scripts" / "ci" / "pulumi-stack"), "drift", "platform", "rack"],
        capture_output=True, text=True, env=_stand_in_pulumi(tmp_path, output), check=False,
    )  # fmt: skip
    assert proc.returncode == code, proc.stderr
    if code != 3:
        assert "that is an error, not drift" in proc.stderr
    (ROOT / "pulumi-drift-rack.txt").unlink(missing_ok=True)
