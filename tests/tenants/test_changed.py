"""Changed-tenant detection against real git histories made here, and the pipelines it generates."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import VENV_BIN, run_cli
from tests.fixtures import make_checkout, tenant_slugs
from tests.tenants.conftest import MINIMAL

ALL = tenant_slugs()  # the repository's tenants: the fixture tenants (its stacks/)


def git(repo: Path, *args: str) -> str:
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@e", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@e"}
    proc = subprocess.run(
        ["git", "-C", str(repo), *args],
        capture_output=True,
        text=True,
        check=True,
        env={**env, "PATH": "/usr/bin:/bin"},
    )
    return proc.stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository with the project's tenant-related tree and the fixture tenants as stacks/, one commit on main."""
    repo = make_checkout(tmp_path / "repo", "werkraum/infra", "werkraum/tenants")
    (repo / "README.md").write_text("readme\n")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "base")
    git(repo, "checkout", "-q", "-b", "change")
    return repo


def changed(repo: Path, *extra: str) -> dict[str, object]:
    proc = run_cli(
        "tenant",
        "changed",
        "--base",
        "main",
        "--head",
        "HEAD",
        "--format",
        "json",
        *extra,
        env={"WERKRAUM_ROOT": str(repo)},
    )
    assert proc.returncode == 0, proc.stderr
    result: dict[str, object] = json.loads(proc.stdout)
    return result


def commit(repo: Path, message: str) -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", message)


def test_a_new_tenant_file_previews_exactly_that_tenant(repo: Path) -> None:
    (repo / "stacks" / "Pulumi.newco.yaml").write_text(MINIMAL)
    commit(repo, "onboard newco")
    got = changed(repo)
    assert got["tenants"] == ["newco"] and got["platform"] is False
    assert got["reasons"] == {"newco": "stacks/Pulumi.newco.yaml added"}


def test_a_changed_tenant_file(repo: Path) -> None:
    slug = ALL[1]
    path = repo / "stacks" / f"Pulumi.{slug}.yaml"
    path.write_text(path.read_text() + "# a change\n")
    commit(repo, f"{slug} changes")
    assert changed(repo)["tenants"] == [slug]


def test_the_tenant_program_touches_every_tenant(repo: Path) -> None:
    main = repo / "pulumi" / "tenant" / "__main__.py"
    main.write_text(main.read_text() + "\n# a change\n")
    commit(repo, "program")
    assert changed(repo)["tenants"] == ALL


def test_the_plan_table_touches_every_tenant(repo: Path) -> None:
    plans = repo / "werkraum" / "tenants" / "plans.py"
    plans.write_text(plans.read_text() + "\n# a price changes\n")
    commit(repo, "the plan table changes")
    got = changed(repo)
    assert got["tenants"] == ALL
    assert "werkraum/tenants/plans.py" in str(got["reasons"])


def test_the_platform_goes_first_and_touches_all(repo: Path) -> None:
    cfg = repo / "pulumi" / "platform" / "Pulumi.rack.yaml"
    cfg.write_text(cfg.read_text() + "# a setting changes\n")
    commit(repo, "platform setting")
    got = changed(repo)
    assert got["platform"] is True and got["tenants"] == ALL
    lines = run_cli("tenant", "changed", "--base", "main", "--head", "HEAD", env={"WERKRAUM_ROOT": str(repo)})
    assert lines.stdout.splitlines()[0] == "platform"


def test_a_rack_fact_of_the_platform_touches_the_platform_and_all(repo: Path) -> None:
    facts = repo / "inventories" / "office" / "group_vars" / "all" / "platform.yml"
    facts.write_text(facts.read_text() + "# a rack fact changes\n")
    commit(repo, "rack fact")
    got = changed(repo)
    assert got["platform"] is True and got["tenants"] == ALL
    assert "inventories/office/group_vars/all/platform.yml" in str(got["reasons"])
    fact = git(repo, "rev-parse", "HEAD").strip()
    hosts = repo / "inventories" / "office" / "hosts.yml"
    hosts.write_text(hosts.read_text() + "\n")
    commit(repo, "a host fact, no platform fact")
    since = run_cli("tenant", "changed", "--base", fact, "--head", "HEAD", "--format", "json",
                    env={"WERKRAUM_ROOT": str(repo)})  # fmt: skip
    assert since.returncode == 0, since.stderr
    assert json.loads(since.stdout)["platform"] is False and json.loads(since.stdout)["tenants"] == []


def test_a_logo_touches_the_tenants_that_use_it(repo: Path) -> None:
    slug = ALL[-1]
    logo = yaml.safe_load((repo / "stacks" / f"Pulumi.{slug}.yaml").read_text())["config"]["tenant:spec"]["branding"]
    (repo / "stacks" / logo["logo"]).write_bytes(b"<svg/>")
    commit(repo, "logo")
    assert changed(repo)["tenants"] == [slug]
    # A logo two tenants use touches both.
    other = repo / "stacks" / f"Pulumi.{ALL[0]}.yaml"
    other.write_text(yaml.safe_dump(_with_logo(yaml.safe_load(other.read_text()), logo["logo"])))
    commit(repo, "share the logo")
    base = git(repo, "rev-parse", "HEAD").strip()
    (repo / "stacks" / logo["logo"]).write_bytes(b"<svg></svg>")
    commit(repo, "logo again")
    since = run_cli("tenant", "changed", "--base", base, "--head", "HEAD", "--format", "json",
                    env={"WERKRAUM_ROOT": str(repo)})  # fmt: skip
    assert since.returncode == 0, since.stderr
    assert json.loads(since.stdout)["tenants"] == sorted([ALL[0], slug])


def _with_logo(document: dict[str, Any], logo: str) -> dict[str, Any]:
    document["config"]["tenant:spec"]["branding"]["logo"] = logo
    return document


def test_a_deleted_file_is_not_applied_but_reported(repo: Path) -> None:
    slug = ALL[0]
    (repo / "stacks" / f"Pulumi.{slug}.yaml").unlink()
    commit(repo, f"{slug} leaves")
    got = changed(repo)
    assert got["tenants"] == [] and got["removed"] == [slug]


def test_unrelated_changes_touch_nothing(repo: Path) -> None:
    (repo / "README.md").write_text("more\n")
    commit(repo, "docs")
    assert changed(repo)["tenants"] == []


def test_uncommitted_work_tree_counts_without_head(repo: Path) -> None:
    (repo / "stacks" / "Pulumi.draft.yaml").write_text(MINIMAL)
    proc = run_cli("tenant", "changed", "--base", "main", "--format", "json", env={"WERKRAUM_ROOT": str(repo)})
    assert json.loads(proc.stdout)["tenants"] == ["draft"]


def test_unknown_base_is_a_clear_error(repo: Path) -> None:
    proc = run_cli("tenant", "changed", "--base", "no-such-ref", env={"WERKRAUM_ROOT": str(repo)})
    assert proc.returncode == 1
    assert "base 'no-such-ref' is not a commit" in proc.stderr


def _schema_check(path: Path, schema: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(VENV_BIN / "check-jsonschema"), "--builtin-schema", schema, str(path)],
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.parametrize("action", ["preview", "up"])
def test_generated_gitlab_child_pipeline(repo: Path, tmp_path: Path, action: str) -> None:
    (repo / "stacks" / "Pulumi.newco.yaml").write_text(MINIMAL)
    commit(repo, "onboard newco")
    args = ("tenant", "changed", "--base", "main", "--head", "HEAD", "--format", "gitlab-pipeline", "--action", action)
    proc = run_cli(*args, env={"WERKRAUM_ROOT": str(repo)})
    pipeline = yaml.safe_load(proc.stdout)
    jobs = {k: v for k, v in pipeline.items() if k not in ("stages", "variables")}
    assert list(jobs) == [f"{action}:newco"]
    assert jobs[f"{action}:newco"]["resource_group"] == "pulumi-tenant-newco"
    assert jobs[f"{action}:newco"]["script"] == [f"scripts/ci/pulumi-stack {action} tenant newco"]
    out = tmp_path / "child.yml"
    out.write_text(proc.stdout)
    assert _schema_check(out, "vendor.gitlab-ci").returncode == 0


def test_platform_job_runs_before_tenants_and_empty_change_is_valid(repo: Path, tmp_path: Path) -> None:
    cfg = repo / "pulumi" / "platform" / "Pulumi.rack.yaml"
    cfg.write_text(cfg.read_text() + "\n")
    commit(repo, "platform")
    args = ("tenant", "changed", "--base", "main", "--head", "HEAD", "--format", "gitlab-pipeline", "--action", "up")
    pipeline = yaml.safe_load(run_cli(*args, env={"WERKRAUM_ROOT": str(repo)}).stdout)
    assert pipeline["platform"]["stage"] == "platform"
    assert all(pipeline[f"up:{s}"]["needs"] == ["platform"] for s in ALL)
    empty = run_cli(
        "tenant",
        "changed",
        "--base",
        "HEAD",
        "--head",
        "HEAD",
        "--format",
        "gitlab-pipeline",
        env={"WERKRAUM_ROOT": str(repo)},
    )
    assert "nothing-changed" in yaml.safe_load(empty.stdout)
    out = tmp_path / "empty.yml"
    out.write_text(empty.stdout)
    assert _schema_check(out, "vendor.gitlab-ci").returncode == 0


def test_github_matrix(repo: Path) -> None:
    (repo / "stacks" / "Pulumi.newco.yaml").write_text(MINIMAL)
    commit(repo, "onboard newco")
    args = ("tenant", "changed", "--base", "main", "--head", "HEAD", "--format", "github-matrix")
    assert json.loads(run_cli(*args, env={"WERKRAUM_ROOT": str(repo)}).stdout) == {
        "platform": False,
        "stack": ["newco"],
        "any": True,
    }
