"""Build Go programs from the Go module proxy: the mirror's Kubernetes binaries, the engine.

Where no release download can be reached (the lab, an air-gapped rack), a program can
still be built from its Go module, which the module proxy (or a private GOPROXY)
serves. Many go.mod files replace sibling modules with paths inside their repository
(``=> ../sdk``, k8s.io/kubernetes' ``./staging/src/...``), so ``go install
module@version`` refuses them. The build copies the module's source out of the module
cache, points those local replaces at the published modules, runs the generators the
module needs, and builds (``go build``, or ``go test -c`` for a test binary such as
``e2e.test``). Each recipe is a ``[components.NAME]`` table in a TOML file; the results
are cached outside the repository, one folder per component, version and recipe.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
import time
import tomllib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from werkraum.errors import WerkraumError, require_tool
from werkraum.progress import say

PLACEHOLDER = re.compile(r"\{(\w+)\}")


class GoBuildError(WerkraumError):
    """One component could not be built; the message names its module and version."""

    exit_code = 4


@dataclass(frozen=True)
class Component:
    """One Go program, as its recipe file pins it."""

    name: str
    module: str
    version: str
    package: str
    binary: str
    plugin_version: str = ""
    local_version: str = ""
    replace: dict[str, str] = field(default_factory=dict)
    generate: tuple[tuple[str, ...], ...] = ()
    generate_env: dict[str, str] = field(default_factory=dict)
    nosumdb: bool = False
    drop_replace: tuple[str, ...] = ()
    ldflags: str = ""
    wants: str = ""
    optional: bool = False
    why_optional: str = ""
    tags: tuple[str, ...] = ()
    cgo: bool = False
    test: bool = False
    needs: dict[str, str] = field(default_factory=dict)
    pin: dict[str, str] = field(default_factory=dict)
    # ``package`` is a file of the module to install as ``binary`` (a script upstream ships), not built.
    copy: bool = False

    @property
    def recipe_digest(self) -> str:
        """Changes whenever anything that shapes the binary changes (not just the version).

        The build options added later (tags, cgo, test) join the recipe only when set,
        so the recipes that do not use them keep the digest, and the cache, they had.
        """
        fields: list[Any] = [
            self.module,
            self.version,
            self.package,
            self.plugin_version,
            self.local_version,
            sorted(self.replace.items()),
            self.generate,
            sorted(self.generate_env.items()),
            self.ldflags,
            self.drop_replace,
        ]
        extra = {
            "tags": list(self.tags),
            "cgo": self.cgo,
            "test": self.test,
            "pin": sorted(self.pin.items()),
            "copy": self.copy,
        }
        fields += [{k: v for k, v in extra.items() if v}] if any(extra.values()) else []
        return hashlib.sha256(json.dumps(fields).encode()).hexdigest()[:10]

    @property
    def key(self) -> str:
        return f"{self.name}-{self.version}-{self.recipe_digest}"

    def fill(self, text: str) -> str:
        return text.format(version=self.version, plugin_version=self.plugin_version or self.version.lstrip("v"))


def load_components(path: Path, pins: dict[str, str] | None = None) -> dict[str, Component]:
    """The components a recipe file pins, in file order.

    ``pins`` fills ``{name}`` placeholders in a recipe's version fields, so a version
    can be pinned once elsewhere (the mirror's recipes take theirs from the
    ``kubernetes_defaults`` role). ``{version}`` and ``{plugin_version}`` are left for
    the build to fill. A placeholder that ``pins`` lacks names the file and component.
    """
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise WerkraumError(f"{path}: cannot read the pinned versions: {exc}") from exc
    components: dict[str, Component] = {}
    for name, raw in data.get("components", {}).items():
        _check_types(path, name, raw)

        def pinned(key: str, default: str = "", name: str = name, raw: dict[str, Any] = raw) -> str:
            return _fill_pins(str(raw.get(key, default)), pins or {}, where=f"{path}: components.{name}.{key}")

        try:
            components[name] = Component(
                name=name,
                module=raw["module"],
                version=pinned("version") if "version" in raw else raw["version"],
                package=raw["package"],
                binary=raw["binary"],
                plugin_version=raw.get("plugin_version", ""),
                local_version=pinned("local_version"),
                replace={
                    k: _fill_pins(v, pins or {}, where=f"{path}: components.{name}.replace")
                    for k, v in raw.get("replace", {}).items()
                },
                generate=tuple(tuple(cmd) for cmd in raw.get("generate", [])),
                generate_env=dict(raw.get("generate_env", {})),
                nosumdb=bool(raw.get("nosumdb", False)),
                drop_replace=tuple(raw.get("drop_replace", [])),
                ldflags=pinned("ldflags"),
                wants=raw.get("wants", ""),
                optional=bool(raw.get("optional", False)),
                why_optional=raw.get("why_optional", ""),
                tags=tuple(raw.get("tags", [])),
                cgo=bool(raw.get("cgo", False)),
                test=bool(raw.get("test", False)),
                needs=dict(raw.get("needs", {})),
                pin=dict(raw.get("pin", {})),
                copy=bool(raw.get("copy", False)),
            )
        except KeyError as exc:
            raise WerkraumError(f"{path}: components.{name}: missing field {exc.args[0]}") from exc
    if not components:
        raise WerkraumError(f"{path}: no components pinned")
    return components


# The type of each recipe field that is not a plain string.
_FIELD_TYPES: dict[str, type] = {
    "replace": dict,
    "generate": list,
    "generate_env": dict,
    "nosumdb": bool,
    "drop_replace": list,
    "optional": bool,
    "tags": list,
    "cgo": bool,
    "test": bool,
    "needs": dict,
    "pin": dict,
    "copy": bool,
}


def _check_types(path: Path, name: str, raw: Any) -> None:
    """A field of the wrong type (``tags = "seccomp"``, ``cgo = "false"``) is named, not misread."""
    if not isinstance(raw, dict):
        raise WerkraumError(f"{path}: components.{name}: must be a table")
    for key, value in raw.items():
        wanted = _FIELD_TYPES.get(key, str)
        if not isinstance(value, wanted):
            raise WerkraumError(
                f"{path}: components.{name}.{key}: {value!r} must be a {wanted.__name__}",
                hint="see the fields described at the top of the recipe file",
            )


def _fill_pins(text: str, pins: dict[str, str], *, where: str) -> str:
    def one(match: re.Match[str]) -> str:
        key = match[1]
        if key in ("version", "plugin_version"):
            return match[0]
        if key not in pins:
            pinned = ", ".join(sorted(pins)) or "nothing"
            raise WerkraumError(f"{where}: {{{key}}} is not a pinned version", hint=f"pinned: {pinned}")
        return pins[key]

    return PLACEHOLDER.sub(one, text)


@dataclass(frozen=True)
class GoCache:
    """One build cache: ``builds/<key>/`` per recipe, ``bin/`` with a link per binary, ``logs/``.

    ``recipes`` is the file the components come from, named in errors.
    """

    root: Path
    recipes: Path

    @property
    def bin_dir(self) -> Path:
        """The folder to put on PATH: one link per component, to the pinned build."""
        return self.root / "bin"

    def build_dir(self, component: Component) -> Path:
        """Where the build of this component's recipe lives: its binary and build.json."""
        return self.root / "builds" / component.key


@dataclass
class BuildResult:
    component: Component
    path: Path | None
    cached: bool
    seconds: float
    steps: dict[str, float] = field(default_factory=dict)
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.path is not None


def _go_env(component: Component | None = None, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The go command's environment: module mode, no workspace, the local toolchain; cgo only when asked."""
    env = dict(os.environ)
    if component is not None and component.nosumdb:
        env["GONOSUMDB"] = ",".join(p for p in (env.get("GONOSUMDB", ""), component.module) if p)
    for key, value in (extra or {}).items():
        env[key] = component.fill(value) if component else value
    flags = env.get("GOFLAGS", "").split()
    env["GOFLAGS"] = " ".join([*flags, "-mod=mod"] if "-mod=mod" not in flags else flags)
    env.setdefault("GOTOOLCHAIN", "local")
    env["GOWORK"] = "off"  # k8s.io/kubernetes ships a go.work for its staging tree
    env["CGO_ENABLED"] = "1" if component is not None and component.cgo else env.get("CGO_ENABLED", "0")
    return env


def _run_go(
    args: list[str], cwd: Path, log: Path, component: Component, *, what: str, extra_env: dict[str, str] | None = None
) -> None:
    """Run a go command, its output appended to ``log``; on failure an error naming the module."""
    with log.open("a") as out:
        out.write(f"\n$ {' '.join(args)}  (in {cwd})\n")
        out.flush()
        proc = subprocess.run(
            args, cwd=cwd, env=_go_env(component, extra_env), stdout=out, stderr=subprocess.STDOUT, check=False
        )
    if proc.returncode != 0:
        tail = log.read_text(errors="replace").strip().splitlines()[-15:]
        raise GoBuildError(
            f"{component.name}: {what} failed for {component.module}@{component.version} "
            f"(exit {proc.returncode}):\n    " + "\n    ".join(tail),
            hint=f"full log: {log}",
        )


def _download(cache: GoCache, component: Component, log: Path) -> dict[str, Any]:
    """``go mod download -json``: the module's Dir and GoMod in the module cache."""
    args = ["go", "mod", "download", "-json", f"{component.module}@{component.version}"]
    proc = subprocess.run(args, cwd=cache.root, env=_go_env(component), capture_output=True, text=True, check=False)
    with log.open("a") as out:
        out.write(f"$ {' '.join(args)}\n{proc.stdout}{proc.stderr}")
    try:
        info: dict[str, Any] = json.loads(proc.stdout) if proc.stdout.strip() else {}
    except json.JSONDecodeError:
        info = {}
    if proc.returncode != 0 or info.get("Error") or not info.get("Dir"):
        reason = (info.get("Error") or proc.stderr.strip() or "no output").strip()
        raise GoBuildError(
            f"{component.name}: the Go module proxy did not serve {component.module}@{component.version}: {reason}",
            hint=f"pin a version the proxy serves in {cache.recipes} (GOPROXY={_go_env().get('GOPROXY') or 'default'})",
        )
    return info


def _local_replaces(gomod: Path, component: Component) -> list[str]:
    """``go mod edit`` flags: each ``replace X => ../path`` pointed at ``X@version`` (or dropped)."""
    proc = subprocess.run(
        ["go", "mod", "edit", "-json", str(gomod)], capture_output=True, text=True, check=True, env=_go_env()
    )
    edits: list[str] = []
    for rep in json.loads(proc.stdout).get("Replace") or []:
        target = rep["New"]["Path"]
        if not target.startswith(("./", "../")):
            continue  # forks and pins stay as the module has them
        old = rep["Old"]["Path"]
        if old in component.drop_replace:
            edits.append(f"-dropreplace={old}")
            continue
        version = component.replace.get(old) or component.fill(component.local_version or "{version}")
        edits.append(f"-replace={old}={old}@{version}")
    return edits


def _prepare_source(component: Component, info: dict[str, Any], src: Path, log: Path) -> None:
    if src.exists():
        _make_writable(src)
        shutil.rmtree(src)
    shutil.copytree(info["Dir"], src, symlinks=True)
    _make_writable(src)
    edits = _local_replaces(src / "go.mod", component)
    # A dependency whose required version the proxy refuses, pinned to one it serves.
    edits += [f"-replace={module}={module}@{version}" for module, version in sorted(component.pin.items())]
    if edits:
        args = ["go", "mod", "edit", *edits]
        _run_go(args, src, log, component, what="pointing local replaces at published modules")


def _make_writable(tree: Path) -> None:
    """The module cache is read-only; a copy must be writable to be edited and removed."""
    for root, dirs, files in os.walk(tree):
        for name in dirs + files:
            p = Path(root, name)
            if not p.is_symlink():
                p.chmod(p.stat().st_mode | stat.S_IWUSR)
    tree.chmod(tree.stat().st_mode | stat.S_IWUSR)


def build(cache: GoCache, component: Component, *, force: bool = False) -> BuildResult:
    """Build one component (or reuse the cached build of the same recipe)."""
    out_dir = cache.build_dir(component)
    binary = out_dir / component.binary
    record = out_dir / "build.json"
    if binary.exists() and record.exists() and not force:
        return BuildResult(
            component, binary, cached=True, seconds=0.0, steps=json.loads(record.read_text()).get("steps", {})
        )
    missing = {path: package for path, package in component.needs.items() if not Path(path).exists()}
    if missing:
        raise GoBuildError(
            f"{component.name}: building {component.module}@{component.version} needs {', '.join(missing)}",
            hint="install the Debian package(s) " + " ".join(sorted(set(missing.values()))),
        )
    require_tool(
        "go",
        f"to build {component.name} from the Go module proxy",
        "install Go 1.24 or newer (Debian: golang-go from bookworm-backports, or go.dev/dl)",
    )
    cache.root.mkdir(parents=True, exist_ok=True)
    logs = cache.root / "logs"
    logs.mkdir(exist_ok=True)
    log = logs / f"{component.key}.log"
    log.write_text("")
    steps: dict[str, float] = {}
    started = time.monotonic()

    def timed(name: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        t0 = time.monotonic()
        say(f"    {component.name}: {name} ...")
        value = fn(*args, **kwargs)
        steps[name] = round(time.monotonic() - t0, 1)
        say(f"    {component.name}: {name} done in {steps[name]:.1f}s")
        return value

    src = cache.root / "src" / component.key
    info = timed("download module", _download, cache, component, log)
    if component.copy:
        return _install_file(component, info, out_dir, started, steps)
    timed("prepare source", _prepare_source, component, info, src, log)
    for cmd in component.generate:
        timed(
            f"generate ({' '.join(cmd)})",
            _run_go,
            list(cmd),
            src,
            log,
            component,
            what=" ".join(cmd),
            extra_env=component.generate_env,
        )
    tmp = out_dir.with_name(out_dir.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    args = _build_args(component, tmp / component.binary)
    timed(" ".join(args[:2]), _run_go, args, src, log, component, what=" ".join(args[:2]))
    seconds = round(time.monotonic() - started, 1)
    (tmp / "build.json").write_text(
        json.dumps(
            {
                "module": component.module,
                "version": component.version,
                "binary": component.binary,
                "go": subprocess.run(["go", "version"], capture_output=True, text=True, check=False).stdout.strip(),
                "seconds": seconds,
                "steps": steps,
                "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            },
            indent=2,
        )
    )
    shutil.rmtree(out_dir, ignore_errors=True)
    tmp.rename(out_dir)
    _make_writable(src)
    shutil.rmtree(src, ignore_errors=True)  # the module cache keeps the source; the copy is only for the build
    return BuildResult(component, binary, cached=False, seconds=seconds, steps=steps)


def _install_file(
    component: Component, info: dict[str, Any], out_dir: Path, started: float, steps: dict[str, float]
) -> BuildResult:
    """A ``copy`` component: the module's file ``package``, installed executable as ``binary``."""
    source = Path(info["Dir"]) / component.package
    if not source.is_file():
        raise GoBuildError(
            f"{component.name}: {component.module}@{component.version} has no file {component.package}",
            hint="name a file the module ships in the recipe's package",
        )
    tmp = out_dir.with_name(out_dir.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    shutil.copyfile(source, tmp / component.binary)
    (tmp / component.binary).chmod(0o755)
    seconds = round(time.monotonic() - started, 1)
    record = {"module": component.module, "version": component.version, "file": component.package, "steps": steps}
    (tmp / "build.json").write_text(json.dumps(record, indent=2))
    shutil.rmtree(out_dir, ignore_errors=True)
    tmp.rename(out_dir)
    return BuildResult(component, out_dir / component.binary, cached=False, seconds=seconds, steps=steps)


def _build_args(component: Component, output: Path) -> list[str]:
    """``go build`` (or ``go test -c`` for a test binary) with the recipe's tags and link flags."""
    args = ["go", "test", "-c"] if component.test else ["go", "build"]
    args += ["-trimpath", "-o", str(output)]
    if component.tags:
        args += ["-tags", ",".join(component.tags)]
    if component.ldflags:
        args += ["-ldflags", component.fill(component.ldflags)]
    args.append("." if component.package in (".", "") else "./" + component.package)
    return args


def link(cache: GoCache, result: BuildResult) -> None:
    """Point ``bin/<binary>`` at the build, so one PATH entry serves every component."""
    assert result.path is not None
    cache.bin_dir.mkdir(parents=True, exist_ok=True)
    target = cache.bin_dir / result.component.binary
    if target.is_symlink() or target.exists():
        target.unlink()
    target.symlink_to(result.path)


@contextlib.contextmanager
def exclusive(folder: Path, what: str) -> Iterator[None]:
    """Hold ``folder``'s lock: a second build into the same cache waits instead of building the same thing twice."""
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / ".lock").open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say(f"    waiting for another build of {what} into {folder} to end")
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def build_all(cache: GoCache, components: Iterable[Component], *, force: bool = False) -> list[BuildResult]:
    """Build each component in turn; a failure is recorded and the others still build."""
    with exclusive(cache.root, "Go binaries"):
        return _build_each(cache, components, force=force)


def _build_each(cache: GoCache, components: Iterable[Component], *, force: bool) -> list[BuildResult]:
    results: list[BuildResult] = []
    for component in components:
        say(f"==> {component.name}: {component.module}@{component.version}")
        t0 = time.monotonic()
        try:
            result = build(cache, component, force=force)
        except GoBuildError as exc:
            result = BuildResult(component, None, cached=False, seconds=round(time.monotonic() - t0, 1), error=str(exc))
            say(f"<== {component.name}: FAILED after {result.seconds:.1f}s\n{exc}")
        else:
            link(cache, result)
            how = "cached" if result.cached else f"built in {result.seconds:.1f}s"
            say(f"<== {component.name}: {how} -> {result.path}")
        results.append(result)
    return results


def installed(cache: GoCache, components: Iterable[Component]) -> dict[str, Path | None]:
    """Which pinned components have a cached build (without building anything)."""
    found: dict[str, Path | None] = {}
    for c in components:
        path = cache.build_dir(c) / c.binary
        found[c.name] = path if path.exists() else None
    return found
