"""The one Pulumi driver: every preview, up, drift check, destroy and offboarding goes through here.

The CLI (`werkraum tenant ...`, `werkraum platform ...`), the CI jobs (scripts/ci/*, which call
the CLI) and the end-to-end run (tests/harness/e2e) all drive Pulumi with a ``StackDriver``,
which uses the Automation API. A driver is one stack of the project ``tenant`` or ``platform``:

- the local program in pulumi/tenant or pulumi/platform (work_dir is that folder, the stack
  config files are where its Pulumi.yaml says: stacks/ for tenants), run by the Pulumi CLI
  on PATH; or
- an inline program with explicit workspace options (``Inline``): its own program, env
  vars, backend, PULUMI_HOME and ``PulumiCommand`` (the end-to-end run).

Tenant stacks are always checked against Werkraum's policy rules (werkraum/infra/policies.py)
before the engine is called: the tenant's offline plan (the program under mocks) is run and
any broken rule refuses the preview or up, naming the rule and the resource. When the engine
can run a Python policy pack (a `pulumi-language-python` host on PATH or beside the pulumi
binary, as the released CLI ships it), pulumi/policy is passed to the engine as well, so the
same rules also see what the engine resolved; when it cannot, the driver says so on stderr
once and relies on the in-process check.

Every failure is a WerkraumError naming the stack and what to do; the engine's own text
(the Automation API's CommandError) is trimmed into the message.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal

from werkraum.errors import MissingToolError, WerkraumError
from werkraum.paths import repo_root
from werkraum.progress import say

if TYPE_CHECKING:
    from pulumi import automation as auto
    from werkraum.infra.offline import OfflinePlan
    from werkraum.tenants.platform import PlatformSpec

Project = Literal["tenant", "platform"]
PROJECTS: dict[str, str] = {"tenant": "werkraum-tenant", "platform": "werkraum-platform"}  # names in Pulumi.yaml
LANGUAGE_HOST = "pulumi-language-python"
DRIFT_MARK = "no changes were expected but changes were proposed"

INSTALL_HINT = (
    "install the Pulumi CLI (https://www.pulumi.com/docs/install/, the version in scripts/ci/setup), "
    "or build it from the Go module proxy (scripts/build-engine pulumi, then put ~/.cache/werkraum/engine/bin "
    "on PATH), or offline: use `werkraum tenant plan SLUG` for an offline plan"
)

_noticed: set[str] = set()  # what has been said on stderr in this process (said once)


class EngineError(WerkraumError):
    """The engine (the Pulumi CLI) failed; ``engine_code`` is its exit status when known, ``output`` all it said."""

    def __init__(self, what: str, hint: str | None = None, *, engine_code: int | None = None, output: str = "") -> None:
        super().__init__(what, hint)
        self.engine_code = engine_code
        self.output = output


class PolicyRefusedError(WerkraumError):
    """A tenant stack broke one of Werkraum's policy rules: nothing was previewed or applied."""

    def __init__(self, label: str, violations: list[Any]) -> None:
        first, *rest = violations
        super().__init__(
            f"{label} refused by {first}" + "".join(f"\n  also {v}" for v in rest),
            hint="nothing was previewed or applied. The rules are in werkraum/infra/policies.py (pulumi/policy "
            "runs the same ones in the engine); the resource is declared by the tenant program (werkraum/infra) "
            "from the tenant file and the platform settings: fix whichever declares it",
        )
        self.violations = violations


class OffboardRefusedError(WerkraumError):
    """Offboarding was refused before anything was touched (exit 2, as scripts/ci/offboard promises)."""

    exit_code = 2


def pulumi_cli() -> str | None:
    """The Pulumi CLI on PATH, if any."""
    return shutil.which("pulumi")


def require_pulumi(why: str = "the driver runs it through the Automation API") -> str:
    path = pulumi_cli()
    if not path:
        raise MissingToolError(f"no Pulumi CLI on PATH: {why}", INSTALL_HINT)
    return path


def language_host(pulumi_binary: str | None, search_path: str | None = None) -> str | None:
    """The Python language host the engine would use for a Python policy pack: beside the binary, or on PATH."""
    candidates: list[Path] = []
    if pulumi_binary:
        binary = shutil.which(pulumi_binary, path=search_path) or pulumi_binary
        candidates += [Path(binary).parent / LANGUAGE_HOST, Path(binary).resolve().parent / LANGUAGE_HOST]
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return shutil.which(LANGUAGE_HOST, path=search_path)


def _default_platform() -> PlatformSpec:
    from werkraum.tenants.platform import load_platform

    return load_platform()


def policy_pack_dir() -> Path:
    return repo_root() / "pulumi" / "policy"


def protected_resources(state: Mapping[str, Any]) -> list[str]:
    """The names of the protected resources in an exported state (``{"deployment": ...}``)."""
    resources = (state.get("deployment") or {}).get("resources", []) or []
    return [str(r.get("urn", "?")).rsplit("::", 1)[-1] for r in resources if r.get("protect")]


def changes(summary: Mapping[Any, int] | None) -> dict[str, int]:
    """A change summary without the unchanged resources (operation name -> count)."""
    out: dict[str, int] = {}
    for op, count in (summary or {}).items():
        name = getattr(op, "value", str(op))
        if name != "same" and count:
            out[name] = count
    return out


def _trimmed(exc: BaseException, limit: int = 600) -> str:
    return str(exc).strip()[-limit:]


def _engine_code(exc: BaseException) -> int | None:
    found = re.search(r"^\s*code: (-?\d+)", str(exc), re.MULTILINE)
    return int(found.group(1)) if found else None


@dataclass(frozen=True)
class Inline:
    """An inline program and the workspace it runs in (explicit: nothing is taken from the checkout).

    ``options`` carries work_dir, env vars (backend, passphrase, PATH), PULUMI_HOME, project
    settings and the ``PulumiCommand`` (``PulumiCommand(root=...)`` for a built engine).
    """

    program: Callable[[], None]
    options: auto.LocalWorkspaceOptions


@dataclass(frozen=True)
class FileBackend:
    """Where an inline program's stacks live on this machine: a file backend, PULUMI_HOME and the engine.

    ``engine_root`` holds ``bin/pulumi`` and the provider plugins (werkraum.mirror.engine's cache);
    the passphrase encrypts the stacks' secrets.
    """

    root: Path
    engine_root: Path
    kubeconfig: Path
    passphrase: str

    @property
    def backend(self) -> Path:
        return self.root / "backend"

    def env(self) -> dict[str, str]:
        return {
            "PULUMI_BACKEND_URL": f"file://{self.backend}",
            "PULUMI_CONFIG_PASSPHRASE": self.passphrase,
            "PULUMI_SKIP_UPDATE_CHECK": "true",
            "PULUMI_HOME": str(self.root / "home"),
            "KUBECONFIG": str(self.kubeconfig),
            "PATH": f"{self.engine_root / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
            "PULUMI_K8S_SUPPRESS_DEPRECATION_WARNINGS": "true",
            # The dynamic resources' plugin (pulumi-resource-pulumi-python) runs this interpreter,
            # which has werkraum and python-keycloak.
            "PULUMI_PYTHON_CMD": sys.executable,
        }

    def inline(self, program: Callable[[], None], project: Project, work_dir: Path) -> Inline:
        """``program`` as a stack of ``project`` whose config files are in ``work_dir``."""
        from pulumi import automation as auto

        self.backend.mkdir(parents=True, exist_ok=True)
        return Inline(
            program,
            auto.LocalWorkspaceOptions(
                work_dir=str(work_dir),
                pulumi_home=str(self.root / "home"),
                env_vars=self.env(),
                secrets_provider="passphrase",
                project_settings=auto.ProjectSettings(
                    name=PROJECTS[project], runtime="python", backend=auto.ProjectBackend(url=f"file://{self.backend}")
                ),
                pulumi_command=auto.PulumiCommand(root=str(self.engine_root), skip_version_check=True),
            ),
        )


@dataclass(frozen=True)
class Previewed:
    text: str
    changes: dict[str, int]


@dataclass(frozen=True)
class Applied:
    text: str
    changes: dict[str, int]
    succeeded: bool
    outputs: dict[str, Any]  # with the secrets' values
    secrets: frozenset[str] = frozenset()

    def shown(self) -> dict[str, Any]:
        """The outputs with each secret's value masked (for printing)."""
        return {k: "[secret]" if k in self.secrets else v for k, v in self.outputs.items()}


@dataclass(frozen=True)
class Drift:
    drifted: bool
    text: str


@dataclass
class _Capture:
    """Forwards the engine's lines and keeps them (for messages, results and files)."""

    forward: Callable[[str], None]
    tee: IO[str] | None = None
    lines: list[str] = field(default_factory=list)

    def __call__(self, line: str) -> None:
        self.lines.append(line)
        self.forward(line)
        if self.tee is not None:
            self.tee.write(line + "\n")
            self.tee.flush()

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


class StackDriver:
    """One stack of project ``tenant`` or ``platform``, driven through the Automation API."""

    def __init__(
        self,
        project: Project,
        name: str,
        *,
        inline: Inline | None = None,
        stacks_dir: Path | None = None,
        platform: PlatformSpec | None = None,
        on_output: Callable[[str], None] | None = None,
        notice: Callable[[str], None] = say,
    ) -> None:
        """``stacks_dir`` and ``platform``: the tenant files and platform settings the policy check plans with
        (stacks/ and pulumi/platform/Pulumi.rack.yaml by default)."""
        if project not in PROJECTS:
            raise WerkraumError(f"unknown project {project!r}: tenant or platform")
        self.project: Project = project
        self.name = name
        self.inline = inline
        self._stacks_dir = stacks_dir
        self._platform = platform
        self.on_output = on_output or print
        self.notice = notice
        self._stack: auto.Stack | None = None

    # --- what the stack is ----------------------------------------------------------------
    @property
    def label(self) -> str:
        return f"tenant {self.name}" if self.project == "tenant" else f"platform stack {self.name}"

    @property
    def work_dir(self) -> Path:
        return repo_root() / "pulumi" / self.project

    @property
    def stacks_dir(self) -> Path:
        return self._stacks_dir or repo_root() / "stacks"

    def _binary(self) -> tuple[str | None, str | None]:
        """The pulumi binary the engine runs, and the PATH it runs with."""
        if self.inline is None:
            return pulumi_cli(), None
        opts = self.inline.options
        binary = opts.pulumi_command.command if opts.pulumi_command is not None else "pulumi"
        return binary, (opts.env_vars or {}).get("PATH")

    # --- the stack ------------------------------------------------------------------------
    def _open(self, *, create: bool) -> auto.Stack:
        if self._stack is not None:
            return self._stack
        from pulumi import automation as auto

        select = auto.create_or_select_stack if create else auto.select_stack
        try:
            if self.inline is not None:
                self._stack = select(
                    stack_name=self.name,
                    project_name=PROJECTS[self.project],
                    program=self.inline.program,
                    opts=self.inline.options,
                )
            else:
                require_pulumi()
                self._check_local_stacks_dir()
                self._stack = select(stack_name=self.name, work_dir=str(self.work_dir))
        except auto.StackNotFoundError:
            raise WerkraumError(
                f"{self.label}: the backend has no stack {self.name} (project {PROJECTS[self.project]})",
                hint="check PULUMI_BACKEND_URL; a stack is created by its first preview or up",
            ) from None
        except auto.CommandError as exc:
            raise EngineError(
                f"pulumi could not select the stack of {self.label}: {_trimmed(exc, 400)}",
                hint="check PULUMI_BACKEND_URL and PULUMI_CONFIG_PASSPHRASE (or the secrets provider)",
                engine_code=_engine_code(exc),
            ) from None
        return self._stack

    def _check_local_stacks_dir(self) -> None:
        """The local tenant program reads its tenant files from stacks/ (its Pulumi.yaml's stackConfigDir)."""
        if self.project == "tenant" and self._stacks_dir is not None:
            default = (repo_root() / "stacks").resolve()
            if self._stacks_dir.resolve() != default:
                raise WerkraumError(
                    f"{self.label}: the engine reads tenant files from {default} (pulumi/tenant's stackConfigDir), "
                    f"not from {self._stacks_dir}",
                    hint="run without --stacks (or with WERKRAUM_ROOT set to the checkout that holds them); "
                    "`werkraum tenant plan SLUG --offline --stacks DIR` plans such files offline",
                )

    def exists(self) -> bool:
        """Whether the backend has this stack (nothing is created)."""
        try:
            self._open(create=False)
        except WerkraumError:
            return False
        return True

    @contextmanager
    def _engine(self, what: str, tee: Path | None = None) -> Iterator[_Capture]:
        """Run one engine command: its lines forwarded and kept; a CommandError becomes an EngineError."""
        from pulumi import automation as auto

        handle = tee.open("w") if tee is not None else None
        capture = _Capture(self.on_output, handle)
        try:
            yield capture
        except auto.CommandError as exc:
            raise EngineError(
                f"{what} of {self.label} failed: {_trimmed(exc)}",
                hint="the engine's output above says why; fix that and run it again",
                engine_code=_engine_code(exc),
                output=capture.text + "\n" + str(exc),
            ) from None
        finally:
            if handle is not None:
                handle.close()

    # --- policy ---------------------------------------------------------------------------
    def offline_plan(self) -> OfflinePlan:
        """The tenant's offline plan (the product's tenant program under mocks), for the policy check."""
        from werkraum.infra.plan import offline_plan
        from werkraum.tenants.loader import load_tenant_file, stack_file
        from werkraum.tenants.platform import load_platform

        path = stack_file(self.stacks_dir, self.name)
        if not path.is_file():
            raise WerkraumError(f"{self.label}: {path} does not exist", hint="`werkraum tenant validate` lists them")
        tenant_file = load_tenant_file(path, stacks_dir=self.stacks_dir)
        if tenant_file.problems or tenant_file.spec is None:
            raise WerkraumError(
                f"tenant {self.name} is not valid, so the engine is not started:\n  "
                + "\n  ".join(map(str, tenant_file.problems)),
                hint=f"`werkraum tenant validate {self.name}` checks it",
            )
        platform = self._platform or load_platform()
        try:
            return offline_plan(tenant_file, platform, self.stacks_dir)
        except WerkraumError:
            raise
        except Exception as exc:
            raise WerkraumError(
                f"the tenant program failed for {self.label} before the engine was started: {exc}"
            ) from None

    def check_policies(self) -> None:
        """Werkraum's policy rules over the tenant's offline plan; refuses (PolicyRefusedError) on any broken rule."""
        if self.project != "tenant":
            return
        from werkraum.infra.policies import Res, violations

        plan = self.offline_plan()
        registry = (self._platform or _default_platform()).image_registry
        found = violations((Res(r.type, r.name, r.inputs) for r in plan.resources if r.custom), registry)
        if found:
            raise PolicyRefusedError(self.label, found)

    def policy_packs(self) -> list[str] | None:
        """pulumi/policy for the engine, when it can run a Python policy pack; else None (said once on stderr)."""
        if self.project != "tenant":
            return None
        binary, search_path = self._binary()
        if language_host(binary, search_path):
            from werkraum.infra.policies import IMAGE_REGISTRY_ENV

            # The pack's platform-images rule reads the registry from the environment the engine inherits.
            os.environ[IMAGE_REGISTRY_ENV] = (self._platform or _default_platform()).image_registry
            return [str(policy_pack_dir())]
        message = (
            f"note: the engine cannot run the policy pack pulumi/policy here (no {LANGUAGE_HOST} on PATH or "
            f"beside {binary or 'pulumi'}): Werkraum's policy rules ran in-process over the offline plan instead"
        )
        if message not in _noticed:
            _noticed.add(message)
            self.notice(message)
        return None

    # --- operations -----------------------------------------------------------------------
    def preview(self, *, diff: bool = True, expect_no_changes: bool = False) -> Previewed:
        """`pulumi preview` (with the diff); tenant stacks pass the policy check first.

        ``expect_no_changes``: a proposed change is an error (a second preview after an up
        proposes nothing); ``drift`` adds a refresh to that.
        """
        self.check_policies()
        stack = self._open(create=True)
        packs = self.policy_packs()
        with self._engine("pulumi preview") as out:
            result = stack.preview(
                diff=diff, expect_no_changes=expect_no_changes, policy_packs=packs, on_output=out, color="never"
            )
        return Previewed(out.text, changes(result.change_summary))

    def drift(self) -> Drift:
        """A refresh and a preview that must propose no change: drifted, or not; any other failure is an error."""
        from pulumi import automation as auto

        self.check_policies()
        stack = self._open(create=True)
        packs = self.policy_packs()
        capture = _Capture(self.on_output)
        try:
            stack.preview(
                refresh=True,
                expect_no_changes=True,
                diff=True,
                policy_packs=packs,
                on_output=capture,
                color="never",
            )
        except auto.CommandError as exc:
            if DRIFT_MARK in capture.text or DRIFT_MARK in str(exc):
                return Drift(True, capture.text)
            raise EngineError(
                f"the drift check of {self.label} failed (not drift, an error): {_trimmed(exc)}",
                hint="the engine's output above says why",
                engine_code=_engine_code(exc),
                output=capture.text + "\n" + str(exc),
            ) from None
        return Drift(False, capture.text)

    def up(self, *, tee: Path | None = None) -> Applied:
        """`pulumi up`; tenant stacks pass the policy check first, and nothing is applied when they fail it."""
        self.check_policies()
        return self._up(tee)

    def _up(self, tee: Path | None) -> Applied:
        """`pulumi up` of a stack whose policy check has just passed (``up``, ``offboard``)."""
        stack = self._open(create=True)
        packs = self.policy_packs()
        with self._engine("pulumi up", tee) as out:
            result = stack.up(diff=True, policy_packs=packs, on_output=out, color="never")
        return Applied(
            out.text,
            changes(result.summary.resource_changes),
            result.summary.result == "succeeded",
            {k: v.value for k, v in result.outputs.items()},
            frozenset(k for k, v in result.outputs.items() if v.secret),
        )

    def export_state(self) -> dict[str, Any]:
        """The stack's state as `pulumi stack export` writes it (``version``, ``deployment``), secrets shown."""
        stack = self._open(create=False)
        with self._engine("pulumi stack export"):
            state = stack.export_stack()
        return {"version": state.version, "deployment": dict(state.deployment or {})}

    def protected(self) -> list[str]:
        return protected_resources(self.export_state())

    def outputs(self) -> dict[str, Any]:
        """The stack's outputs with their values (secrets shown, as `pulumi stack output --show-secrets`)."""
        stack = self._open(create=False)
        with self._engine("pulumi stack output"):
            found = stack.outputs()
        return {k: v.value for k, v in found.items()}

    def destroy(self, *, tee: Path | None = None) -> dict[str, int]:
        """`pulumi destroy`; refused while the state holds protected resources (destroy would lose tenant data).

        A plain destroy deletes every unprotected resource before it stops at a protected one;
        this refuses before anything is deleted.
        """
        protected = self.protected()
        if protected:
            raise WerkraumError(
                f"stack {self.name} holds protected resources ({', '.join(protected)}): destroy would lose tenant data",
                hint="offboard as docs/tenants.md says: export the data, set `tenant:offboard: true` in its file, "
                f"`werkraum tenant apply {self.name}` (or the offboarding job: `werkraum tenant offboard "
                f"{self.name}`), then destroy",
            )
        stack = self._open(create=False)
        with self._engine("pulumi destroy", tee) as out:
            result = stack.destroy(on_output=out, color="never")
        return changes(result.summary.resource_changes if result.summary else None)

    def remove(self) -> None:
        """Remove the stack (its history and config in the backend); its resources must be gone."""
        stack = self._open(create=False)
        with self._engine("pulumi stack rm"):
            stack.workspace.remove_stack(self.name)
        self._stack = None

    def check_offboard_marked(self) -> None:
        """Refuse (exit 2) unless the tenant file exists and says `tenant:offboard: true`."""
        if self.project != "tenant":
            raise WerkraumError(f"{self.label}: only tenant stacks are offboarded")
        import yaml

        from werkraum.tenants.loader import stack_file

        path = stack_file(self.stacks_dir, self.name)
        if not path.is_file():
            raise OffboardRefusedError(f"offboard: {path} does not exist")
        try:
            config = (yaml.safe_load(path.read_text()) or {}).get("config") or {}
        except yaml.YAMLError:
            config = {}
        if config.get("tenant:offboard") is not True:
            raise OffboardRefusedError(
                f"offboard: refused: {path} does not set 'tenant:offboard: true'.",
                hint="export the tenant's data first, then merge a pull request that adds it (docs/tenants.md)",
            )

    def offboard(self, out_dir: Path) -> list[Path]:
        """What the offboarding job does: refuse unless the tenant file says `tenant:offboard: true`; export the
        outputs and the state into ``out_dir``; up (lifting protection); destroy; remove the stack."""
        self.check_offboard_marked()
        self.check_policies()  # also refuses an invalid file, before anything is exported or changed
        out_dir.mkdir(parents=True, exist_ok=True)
        files = [out_dir / "outputs.json", out_dir / "state.json"]
        files[0].write_text(json.dumps(self.outputs(), indent=2, default=str) + "\n")
        files[1].write_text(json.dumps(self.export_state(), indent=2) + "\n")
        files.append(out_dir / "unprotect.txt")
        self._up(files[-1])  # checked above, before anything was exported
        files.append(out_dir / "destroy.txt")
        self.destroy(tee=files[-1])
        self.remove()
        return files


def tenant(
    slug: str,
    *,
    stacks_dir: Path | None = None,
    platform: PlatformSpec | None = None,
    inline: Inline | None = None,
    on_output: Callable[[str], None] | None = None,
) -> StackDriver:
    return StackDriver("tenant", slug, stacks_dir=stacks_dir, platform=platform, inline=inline, on_output=on_output)


def platform(
    name: str = "rack", *, inline: Inline | None = None, on_output: Callable[[str], None] | None = None
) -> StackDriver:
    return StackDriver("platform", name, inline=inline, on_output=on_output)
