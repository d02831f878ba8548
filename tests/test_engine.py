"""The engine build (versions.toml, replace mapping, errors) and the e2e run's own logic, without building."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.harness.e2e import run as e2e_run
from werkraum.errors import WerkraumError
from werkraum.mirror import engine, gobuild

GO_MOD = """module example.com/tool/v3

go 1.24

replace github.com/example/sdk/v3 => ../sdk

replace github.com/atotto/clipboard => github.com/tgummerer/clipboard v0.0.0-20241001131231-d02d263e614e

replace example.com/forbidden => ./FORBIDDEN_DEPENDENCY

require github.com/example/sdk/v3 v3.1.0
"""


def test_every_pinned_component_is_complete() -> None:
    components = engine.load_components()
    assert {"pulumi", "kubernetes", "openstack"} <= set(components)
    for c in components.values():
        assert c.module and c.version.startswith("v") and c.binary
        assert c.key.startswith(f"{c.name}-{c.version}-")


def test_recipe_digest_changes_with_anything_that_shapes_the_binary() -> None:
    c = engine.load_components()["pulumi"]
    other = engine.Component(**{**c.__dict__, "ldflags": c.ldflags + " -s"})
    assert c.key != other.key


def test_broken_versions_file_names_the_file_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "versions.toml"
    bad.write_text('[components.x]\nmodule = "m"\n')
    with pytest.raises(WerkraumError, match=r"versions.toml: components.x: missing field version"):
        engine.load_components(bad)
    bad.write_text("[components\n")
    with pytest.raises(WerkraumError, match="cannot read"):
        engine.load_components(bad)


def test_local_replaces_point_at_published_modules_and_guards_are_dropped(tmp_path: Path) -> None:
    gomod = tmp_path / "go.mod"
    gomod.write_text(GO_MOD)
    c = engine.Component(
        name="tool",
        module="example.com/tool/v3",
        version="v3.2.0",
        package="cmd/tool",
        binary="tool",
        drop_replace=("example.com/forbidden",),
    )
    edits = gobuild._local_replaces(gomod, c)
    assert edits == [
        "-replace=github.com/example/sdk/v3=github.com/example/sdk/v3@v3.2.0",
        "-dropreplace=example.com/forbidden",
    ]  # the fork of clipboard stays as it is
    pinned = engine.Component(**{**c.__dict__, "replace": {"github.com/example/sdk/v3": "v3.1.5"}})
    assert gobuild._local_replaces(gomod, pinned)[0].endswith("@v3.1.5")


def test_unknown_component_is_refused_with_the_pinned_names() -> None:
    proc = run_cli("engine", "build", "terraform")
    assert proc.returncode == 1
    assert "unknown engine component(s): terraform" in proc.stderr and "pulumi" in proc.stderr


def test_a_module_the_proxy_refuses_is_named_and_the_exit_is_non_zero(tmp_path: Path) -> None:
    """GOPROXY=off: the download fails the way a 403 from the proxy does, before any build."""
    env = {"GOPROXY": "off", "XDG_CACHE_HOME": str(tmp_path / "cache"), "GOMODCACHE": str(tmp_path / "modcache")}
    proc = run_cli("engine", "build", "openstack", env=env)
    assert proc.returncode == 1
    assert "openstack: the Go module proxy did not serve github.com/pulumi/pulumi-openstack/provider/v5@" in proc.stderr
    assert "not built: openstack" in proc.stderr
    assert not (tmp_path / "cache" / "werkraum" / "engine" / "bin" / "pulumi-resource-openstack").exists()


def test_kubernetes_quantities_compare_by_value() -> None:
    assert e2e_run.quantity("1Ti") == e2e_run.quantity("1024Gi")
    assert e2e_run.quantity("500m") == 0.5
    assert e2e_run.quantity("8") == 8
    with pytest.raises(ValueError):
        e2e_run.quantity("12 apples")


def test_blocked_checks_never_pass_without_a_named_waiver(monkeypatch: pytest.MonkeyPatch) -> None:
    report = e2e_run.Report(passed=["a"], blocked={"tenant networks": "openstack"})
    monkeypatch.delenv("WERKRAUM_E2E_ACCEPT_BLOCKED", raising=False)
    assert e2e_run.exit_code(report) == 2
    monkeypatch.setenv("WERKRAUM_E2E_ACCEPT_BLOCKED", "language-python")
    assert e2e_run.exit_code(report) == 2
    monkeypatch.setenv("WERKRAUM_E2E_ACCEPT_BLOCKED", "openstack")
    assert e2e_run.exit_code(report) == 0
    report.failed.append("b")
    assert e2e_run.exit_code(report) == 1
