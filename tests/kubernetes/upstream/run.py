"""A subset of the upstream Kubernetes e2e suite against the lab's cluster (`make test-kubernetes-upstream`).

1. ``e2e.test`` and ``agnhost`` are built from k8s.io/kubernetes at the pinned
   ``kubernetes_version`` (``go test -c`` / ``go build`` through werkraum/mirror/gobuild.py,
   cached in ~/.cache/werkraum/upstream-e2e), the same module the cluster is built from;
2. the suite's images are built here and pushed to the lab registry (images.py says
   what each is against upstream's);
3. the suite runs on this host with the cluster's admin kubeconfig, the tests chosen in
   ``selection.toml``; its JUnit report goes to the lab's state folder, and a summary is
   printed: how many ran, passed, failed, and the name of each failure.

Exit 0 only when at least one test ran and none failed; 1 when a test failed; a build
or lab problem exits with its own code and message.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import tomllib
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from tests.kubernetes.upstream import images
from werkraum.errors import WerkraumError
from werkraum.lab.lab import kubeconfig, lab_pki, lab_state_dir, service_host
from werkraum.lab.rack import load_rack
from werkraum.mirror import files, gobuild
from werkraum.mirror import pins as mirror_pins
from werkraum.mirror.push import lab_push_target, push_refs
from werkraum.paths import cache_dir, repo_root
from werkraum.progress import say, step

HERE = Path(__file__).resolve().parent
RECIPES = HERE / "recipes.toml"
SELECTION = HERE / "selection.toml"


@dataclass
class Selection:
    focus: list[str]
    skip: dict[str, str]

    def args(self) -> list[str]:
        return [*(f"--ginkgo.focus={f}" for f in self.focus), f"--ginkgo.skip={'|'.join(self.skip)}"]


def load_selection(path: Path = SELECTION) -> Selection:
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise WerkraumError(f"{path}: cannot read the test selection: {exc}") from exc
    focus, skip = data.get("focus"), data.get("skip", {})
    if not isinstance(focus, list) or not focus or not all(isinstance(f, str) for f in focus):
        raise WerkraumError(f"{path}: focus must be a non-empty list of regular expressions")
    if not isinstance(skip, dict) or not all(isinstance(v, str) and v for v in skip.values()):
        raise WerkraumError(f"{path}: each skip needs its reason as a string")
    return Selection(focus, skip)


@dataclass
class Report:
    """The suite's JUnit report: the tests that ran (not skipped), and the failures' names and first lines."""

    passed: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    skipped: int = 0


def read_report(folder: Path) -> Report:
    reports = sorted(folder.glob("junit*.xml"))
    if not reports:
        raise WerkraumError(f"{folder}: the suite wrote no JUnit report", hint="see its output above")
    report = Report()
    for path in reports:
        for case in ET.parse(path).getroot().iter("testcase"):
            name = case.get("name", "")
            if not name.startswith("[It] "):
                continue  # the suite's own hooks ([SynchronizedBeforeSuite], [ReportBeforeSuite], ...)
            name = name.removeprefix("[It] ")
            failure = case.find("failure")
            if failure is None:
                failure = case.find("error")
            if case.find("skipped") is not None:
                report.skipped += 1
            elif failure is not None:
                text = (failure.get("message") or failure.text or "").strip()
                report.failed[name] = text.splitlines()[0][:300] if text else "failed"
            else:
                report.passed.append(name)
    return report


def build_binaries(pins: mirror_pins.Pins) -> dict[str, Path]:
    components = gobuild.load_components(RECIPES, pins.versions)
    cache = gobuild.GoCache(root=cache_dir() / "upstream-e2e" / "go", recipes=RECIPES)
    with step("Building e2e.test and agnhost from k8s.io/kubernetes (cached; the first build takes about 30 minutes)"):
        results = gobuild.build_all(cache, components.values())
    broken = [r for r in results if not r.ok]
    if broken:
        raise WerkraumError("; ".join(r.error for r in broken), hint="see the build logs named above")
    return {r.component.name: r.path for r in results if r.path is not None}


def module_dir(pins: mirror_pins.Pins) -> Path:
    """The k8s.io/kubernetes module in the Go module cache (the builds just downloaded it)."""
    gomodcache = subprocess.run(["go", "env", "GOMODCACHE"], capture_output=True, text=True, check=True).stdout.strip()
    path = Path(gomodcache) / "k8s.io" / f"kubernetes@{pins.values['kubernetes_version']}"
    if not path.is_dir():
        raise WerkraumError(f"{path}: the k8s.io/kubernetes module is not in the Go module cache")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-i", "--inventory", type=Path, default=repo_root() / "inventories" / "lab")
    parser.add_argument("--list", action="store_true", help="print the selected tests (a dry run) and exit")
    parser.add_argument("--timeout", default="90m", help="the suite's own timeout (Ginkgo), default 90m")
    opts = parser.parse_args(argv)
    try:
        return run(opts.inventory, list_only=opts.list, timeout=opts.timeout)
    except WerkraumError as exc:
        print(f"error: {exc}", file=sys.stderr)
        if exc.hint:
            print(f"hint: {exc.hint}", file=sys.stderr)
        return exc.exit_code


def run(inventory: Path, *, list_only: bool, timeout: str) -> int:
    selection = load_selection()
    pins = mirror_pins.load(repo_root())
    binaries = build_binaries(pins)
    rack = load_rack(inventory.resolve())
    config = Path("/dev/null") if list_only else kubeconfig(rack)  # a dry run asks no cluster
    stamp = time.strftime("%Y%m%dT%H%M%S")
    out = lab_state_dir(rack) / "upstream-e2e" / stamp
    out.mkdir(parents=True, exist_ok=True)
    if not list_only:
        service = service_host(rack)
        if service is None:
            raise WerkraumError(f"lab {rack.name} has no service host, so no registry for the test images")
        built = images.build(pins, binaries["agnhost"], module_dir(pins))
        to = lab_push_target(rack)
        with step(f"Pushing the suite's {len(built.refs)} images to the lab registry {to.repo}"):
            push_refs(built.pairs(to.repo), to, cert_dir=lab_pki(rack).trust_dir(), again="run the command again")
    args = [
        str(binaries["e2e-test"]),
        f"--kubeconfig={config}",
        "--provider=local",
        f"--report-dir={out}",
        "--ginkgo.no-color",
        f"--ginkgo.timeout={timeout}",
        *selection.args(),
        *(["--ginkgo.dry-run", "--ginkgo.v"] if list_only else []),
    ]
    env = {**os.environ, "PATH": f"{files.cache().bin_dir}:{os.environ.get('PATH', '')}"}
    say(
        f"==> e2e.test of {pins.values['kubernetes_version']}: {len(selection.focus)} focus patterns, "
        f"{len(selection.skip)} skips ({SELECTION.relative_to(repo_root())}); report in {out}"
    )
    started = time.monotonic()
    proc = subprocess.run(args, env=env, cwd=out, check=False)
    seconds = time.monotonic() - started
    report = read_report(out)
    if list_only:
        for name in sorted(report.passed):
            print(name)
        print(f"{len(report.passed)} tests selected")
        return 0 if report.passed else 1
    print(
        f"upstream e2e ({pins.values['kubernetes_version']}): {len(report.passed) + len(report.failed)} ran, "
        f"{len(report.passed)} passed, {len(report.failed)} failed, in {seconds / 60:.1f} min (report: {out})"
    )
    for name, why in sorted(report.failed.items()):
        print(f"FAILED {name}\n    {why}")
    if not report.passed and not report.failed:
        print("error: no test ran: the selection matched nothing", file=sys.stderr)
        return 1
    return 1 if report.failed or proc.returncode != 0 else 0


if __name__ == "__main__":
    sys.exit(main())
