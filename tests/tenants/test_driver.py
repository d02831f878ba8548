"""The one Pulumi driver (werkraum/infra/driver.py): policy refusals, what it asks the engine, and its refusals.

No engine runs here: the policy check needs none (it runs over the offline plan), and
what reaches the engine is asserted on a STAND-IN `pulumi` (tests/fake_pulumi.py) that
logs every call the Automation API makes.

No schema-valid tenant file can break a policy rule by itself: validation and the program
guarantee every rule (the tenant files' sources of a world-open rule, an incomplete quota
or a stray namespace do not exist). So the refusals are reached through the other input
of the program: the platform the tenant stack reads. A platform whose management network
is the world (0.0.0.0/0) makes the SSH and ICMP rules of every valid tenant world-open.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pulumi import automation as auto
from tests.fake_pulumi import FakePulumi, install
from tests.fixtures import make_checkout, tenant_slugs
from werkraum.errors import WerkraumError
from werkraum.infra import driver as driver_module
from werkraum.infra.driver import (
    EngineError,
    Inline,
    OffboardRefusedError,
    PolicyRefusedError,
    StackDriver,
    platform,
    protected_resources,
    tenant,
)
from werkraum.infra.policies import Res, Violation, violations
from werkraum.tenants.fleet import Fleet
from werkraum.tenants.platform import PlatformSpec

SLUG = tenant_slugs()[0]
RULE = "openstack:networking/secGroupRule:SecGroupRule"


def world_open(platform_spec: PlatformSpec) -> PlatformSpec:
    return platform_spec.model_copy(update={"management_cidr": "0.0.0.0/0"})


@pytest.fixture(autouse=True)
def _fresh_notices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(driver_module, "_noticed", set())


@pytest.fixture
def checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A checkout of the fixture tenants that the driver works on (WERKRAUM_ROOT)."""
    root = make_checkout(tmp_path / "checkout")
    monkeypatch.setenv("WERKRAUM_ROOT", str(root))
    return root


def on_path(monkeypatch: pytest.MonkeyPatch, fake: FakePulumi) -> FakePulumi:
    for key, value in fake.env().items():
        monkeypatch.setenv(key, value)
    return fake


def quiet(line: str) -> None:
    """Drop the engine's lines (the tests read them from the results)."""


# --- the policy check, before the engine -------------------------------------------------------


def test_a_world_open_rule_refuses_naming_rule_type_and_resource(stacks: Path, fleet: Fleet) -> None:
    d = tenant(SLUG, stacks_dir=stacks, platform=world_open(fleet.platform), on_output=quiet)
    with pytest.raises(PolicyRefusedError) as refused:
        d.check_policies()
    first, *rest = str(refused.value.what).splitlines()
    assert first == (
        f"tenant {SLUG} refused by policy 'no-world-open-ingress' on {RULE} {SLUG}-ingress-ssh-mgmt: "
        "ingress rule is open to the world (0.0.0.0/0): name a source network or group"
    )
    assert rest == [
        f"  also policy 'no-world-open-ingress' on {RULE} {SLUG}-ingress-icmp-mgmt: "
        "ingress rule is open to the world (0.0.0.0/0): name a source network or group"
    ]
    assert "nothing was previewed or applied" in (refused.value.hint or "")


def test_refused_before_the_engine_is_asked_anything(
    stacks: Path, fleet: Fleet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = on_path(monkeypatch, install(tmp_path))
    d = tenant(SLUG, stacks_dir=stacks, platform=world_open(fleet.platform), on_output=quiet)
    for operation in (d.preview, d.up, d.drift):
        with pytest.raises(PolicyRefusedError):
            operation()
    assert fake.calls() == []


def test_every_fixture_tenant_passes_the_check(fleet: Fleet) -> None:
    for t in fleet.tenants:
        tenant(t.slug, stacks_dir=fleet.directory, platform=fleet.platform).check_policies()


def test_an_invalid_file_never_reaches_the_engine(stacks: Path, fleet: Fleet) -> None:
    path = stacks / f"Pulumi.{SLUG}.yaml"
    path.write_text(path.read_text().replace("seats: ", "seats: -", 1))
    with pytest.raises(WerkraumError, match=f"tenant {SLUG} is not valid, so the engine is not started") as e:
        tenant(SLUG, stacks_dir=stacks, platform=fleet.platform).check_policies()
    assert "seats" in str(e.value)


def test_stack_wide_findings_name_no_resource() -> None:
    namespaces = [Res("kubernetes:core/v1:Namespace", n, {"kind": "Namespace", "metadata": {"name": n}}) for n in "ab"]
    found = violations(namespaces, "registry.example/werkraum")
    assert Violation("tenant-isolation", None, "a tenant stack declares exactly one Namespace (found 2)") in found
    assert str(found[0]).startswith("policy '")
    assert "policy 'tenant-isolation': a tenant stack declares exactly one Namespace (found 2)" in map(str, found)


# --- what the engine is asked -------------------------------------------------------------------


def test_preview_without_a_language_host_says_so_once_and_passes_no_pack(
    checkout: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = on_path(monkeypatch, install(tmp_path, preview={"text": "+ 3 to create"}, changes={"create": 3}))
    said: list[str] = []
    d = StackDriver("tenant", SLUG, notice=said.append, on_output=quiet)
    first = d.preview()
    d.preview()
    assert first.text == "+ 3 to create" and first.changes == {"create": 3}
    previews = [c for c in fake.calls() if c[0] == "preview"]
    assert len(previews) == 2 and all("--diff" in c and "--policy-pack" not in c for c in previews)
    assert len(said) == 1 and "cannot run the policy pack pulumi/policy" in said[0]
    assert "ran in-process over the offline plan" in said[0]


def test_preview_and_up_pass_the_policy_pack_when_the_engine_can_run_it(
    checkout: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = on_path(monkeypatch, install(tmp_path).with_language_host())
    said: list[str] = []
    d = StackDriver("tenant", SLUG, notice=said.append, on_output=quiet)
    d.preview()
    d.up()
    pack = str(checkout / "pulumi" / "policy")
    engine_runs = [c for c in fake.calls() if c[0] in ("preview", "up")]
    assert [c[0] for c in engine_runs] == ["preview", "up"]
    assert all(c[c.index("--policy-pack") + 1] == pack for c in engine_runs)
    assert said == []


def test_platform_stacks_get_no_tenant_policy(checkout: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = on_path(monkeypatch, install(tmp_path).with_language_host())
    platform("rack", on_output=quiet).preview()
    (preview,) = [c for c in fake.calls() if c[0] == "preview"]
    assert "--policy-pack" not in preview and preview[-2:] == ["--stack", "rack"]


def test_a_no_change_preview_asks_the_engine_to_expect_none(
    checkout: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = on_path(monkeypatch, install(tmp_path, preview={"text": "error: changes were proposed", "code": 255}))
    with pytest.raises(EngineError, match="pulumi preview of platform stack rack failed"):
        platform("rack", on_output=quiet).preview(expect_no_changes=True)
    (preview,) = [c for c in fake.calls() if c[0] == "preview"]
    assert "--expect-no-changes" in preview and "--refresh" not in preview


@pytest.mark.parametrize(
    ("text", "drifted"),
    [("error: no changes were expected but changes were proposed", True), ("error: the backend is gone", False)],
)
def test_drift_tells_drift_from_an_error(
    checkout: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, drifted: bool
) -> None:
    fake = on_path(monkeypatch, install(tmp_path, preview={"text": text, "code": 255}))
    d = platform("rack", on_output=quiet)
    if drifted:
        assert d.drift().drifted
    else:
        with pytest.raises(EngineError, match="the drift check of platform stack rack failed") as e:
            d.drift()
        assert e.value.engine_code == 255 and "the backend is gone" in e.value.output
    (preview,) = [c for c in fake.calls() if c[0] == "preview"]
    assert {"--refresh", "--expect-no-changes", "--diff"} <= set(preview)


def test_a_failed_up_is_a_werkraum_error_naming_the_stack(
    checkout: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    on_path(monkeypatch, install(tmp_path, up={"text": "error: the cloud said no", "code": 255}))
    with pytest.raises(EngineError, match=f"pulumi up of tenant {SLUG} failed") as e:
        StackDriver("tenant", SLUG, on_output=quiet, notice=lambda m: None).up()
    assert "the cloud said no" in str(e.value) and e.value.engine_code == 255


def test_without_a_cli_the_error_says_how_to_get_one(checkout: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    with pytest.raises(WerkraumError, match="no Pulumi CLI on PATH") as e:
        StackDriver("tenant", SLUG).up()
    assert e.value.exit_code == 3


def test_another_stacks_folder_is_refused_for_the_local_program(
    checkout: Path, stacks: Path, fleet: Fleet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = on_path(monkeypatch, install(tmp_path))
    with pytest.raises(WerkraumError, match="the engine reads tenant files from"):
        tenant(SLUG, stacks_dir=stacks, platform=fleet.platform).preview()
    assert fake.commands() == []


# --- destroy and offboarding --------------------------------------------------------------------

PROTECTED_STATE = {
    "resources": [
        {
            "urn": f"urn:pulumi:{SLUG}::werkraum-tenant::openstack:identity/project:Project::{SLUG}-project",
            "protect": True,
        },
        {"urn": f"urn:pulumi:{SLUG}::werkraum-tenant::openstack:networking/network:Network::{SLUG}-net"},
    ]
}


def test_destroy_refuses_while_protected_resources_remain(
    checkout: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = on_path(monkeypatch, install(tmp_path, state=PROTECTED_STATE))
    with pytest.raises(WerkraumError, match=rf"stack {SLUG} holds protected resources \({SLUG}-project\)"):
        StackDriver("tenant", SLUG).destroy()
    assert "stack export" in fake.commands() and "destroy" not in fake.commands()


def test_destroy_of_an_unprotected_stack(checkout: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = on_path(monkeypatch, install(tmp_path, changes={"delete": 7}))
    assert StackDriver("tenant", SLUG, on_output=quiet).destroy() == {"delete": 7}
    assert fake.commands() == ["stack select", "stack export", "destroy", "stack history"]


def test_protected_resources_are_found_in_the_state() -> None:
    assert protected_resources({"deployment": PROTECTED_STATE}) == [f"{SLUG}-project"]
    assert protected_resources({"deployment": {}}) == []


def test_offboard_refuses_an_unmarked_tenant_before_anything(
    checkout: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = on_path(monkeypatch, install(tmp_path))
    with pytest.raises(OffboardRefusedError, match="does not set 'tenant:offboard: true'") as e:
        StackDriver("tenant", SLUG).offboard(tmp_path / "out")
    assert e.value.exit_code == 2 and fake.calls() == [] and not (tmp_path / "out").exists()


def test_offboard_exports_lifts_protection_destroys_and_removes(
    checkout: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = checkout / "stacks" / f"Pulumi.{SLUG}.yaml"
    data = yaml.safe_load(path.read_text())
    data["config"]["tenant:offboard"] = True
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    fake = on_path(
        monkeypatch,
        install(tmp_path, outputs={"tenant": SLUG}, up={"text": "~ 3 to update"}, destroy={"text": "- 40 deleted"}),
    )
    plans: list[str] = []
    offline_plan = StackDriver.offline_plan
    monkeypatch.setattr(StackDriver, "offline_plan", lambda self: plans.append(self.name) or offline_plan(self))
    files = StackDriver("tenant", SLUG, on_output=quiet, notice=lambda m: None).offboard(tmp_path / "out")
    assert plans == [SLUG], "the policy check runs once, before anything is exported"
    assert [f.name for f in files] == ["outputs.json", "state.json", "unprotect.txt", "destroy.txt"]
    assert yaml.safe_load(files[0].read_text()) == {"tenant": SLUG}
    assert yaml.safe_load(files[1].read_text())["deployment"] == {"resources": []}
    assert files[2].read_text() == "~ 3 to update\n" and files[3].read_text() == "- 40 deleted\n"
    assert [c for c in fake.commands() if c not in ("stack select", "stack history")] == [
        "stack output",
        "stack output",
        "stack export",
        "up",
        "stack output",
        "stack output",
        "stack export",
        "destroy",
        "stack rm",
    ]


# --- an inline program with explicit options (the end-to-end run) ------------------------------


def test_an_inline_program_runs_with_its_own_options(
    stacks: Path, fleet: Fleet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The workspace, env vars and PulumiCommand(root=...) are the caller's; the policy pack is found beside it."""
    fake = install(tmp_path, preview={"text": "inline preview"}).with_language_host()
    monkeypatch.setenv("FAKE_PULUMI_SCENARIO", str(fake.scenario_file))
    monkeypatch.setenv("FAKE_PULUMI_LOG", str(fake.log))
    work = tmp_path / "work"
    work.mkdir()
    options = auto.LocalWorkspaceOptions(
        work_dir=str(work),
        env_vars={"PULUMI_BACKEND_URL": f"file://{tmp_path / 'backend'}", "PATH": "/usr/bin:/bin"},
        project_settings=auto.ProjectSettings(name="werkraum-tenant", runtime="python"),
        pulumi_command=auto.PulumiCommand(root=str(fake.bin_dir.parent), skip_version_check=True),
    )
    d = tenant(
        SLUG,
        stacks_dir=stacks,
        platform=fleet.platform,
        inline=Inline(lambda: None, options),
        on_output=quiet,
    )
    assert d.preview().text == "inline preview"
    (preview,) = [c for c in fake.calls() if c[0] == "preview"]
    assert "auto.inline" in preview and any(a.startswith("--client=") for a in preview)
    assert "--policy-pack" in preview
    assert (work / "Pulumi.yaml").is_file()  # the caller's work_dir, not pulumi/tenant
