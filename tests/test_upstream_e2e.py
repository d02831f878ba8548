"""The upstream e2e run's own parts that need no cluster: its selection, the suite's image list, its report."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.kubernetes.upstream import images, run
from werkraum.errors import WerkraumError

JUNIT = """<?xml version="1.0" encoding="UTF-8"?>
<testsuites tests="5" failures="1">
  <testsuite name="Kubernetes e2e suite" tests="5" failures="1">
    <testcase name="[SynchronizedBeforeSuite]" classname="Kubernetes e2e suite" time="3"></testcase>
    <testcase name="[ReportBeforeSuite]" classname="Kubernetes e2e suite" time="0"></testcase>
    <testcase name="[It] [sig-network] Services should serve a basic endpoint from pods [Conformance]" time="20"/>
    <testcase name="[It] [sig-node] Pods should get a host IP [NodeConformance] [Conformance]" time="5"/>
    <testcase name="[It] [sig-network] DNS should provide DNS for services [Conformance]" time="60">
      <failure message="timed out waiting for the condition&#10;second line" type="failed">details</failure>
    </testcase>
    <testcase name="[It] [sig-apps] Job should run a job to completion [Conformance]" time="0">
      <skipped message="skipped"/>
    </testcase>
  </testsuite>
</testsuites>
"""

MANIFEST = """
	configs[AgnhostPrev] = Config{list.PromoterE2eRegistry, "agnhost", "2.55"}
	configs[Agnhost] = Config{list.PromoterE2eRegistry, "agnhost", "2.66.1"}
	configs[BusyBox] = Config{list.PromoterE2eRegistry, "busybox", "1.37.0-2"}
	configs[GlibcDnsTesting] = Config{list.PromoterE2eRegistry, "glibc-dns-testing", "2.1.1"}
"""


def test_the_shipped_selection_compiles_and_gives_each_skip_a_reason() -> None:
    selection = run.load_selection()
    assert selection.focus and all(f.endswith(r"\[Conformance\]") for f in selection.focus)
    for pattern in [*selection.focus, *selection.skip]:
        re.compile(pattern)
    assert all(len(reason) > 20 for reason in selection.skip.values())
    args = selection.args()
    assert args[-1].startswith("--ginkgo.skip=") and "\\[Disruptive\\]" in args[-1]


def test_a_selection_without_focus_or_reasons_is_refused_by_file(tmp_path: Path) -> None:
    path = tmp_path / "selection.toml"
    path.write_text("focus = []\n")
    with pytest.raises(WerkraumError, match=f"{path}: focus must be a non-empty list"):
        run.load_selection(path)
    path.write_text("focus = ['x']\n[skip]\n'y' = ''\n")
    with pytest.raises(WerkraumError, match="each skip needs its reason"):
        run.load_selection(path)


def test_the_report_counts_tests_not_suite_hooks_and_keeps_each_failure(tmp_path: Path) -> None:
    (tmp_path / "junit_01.xml").write_text(JUNIT)
    report = run.read_report(tmp_path)
    assert len(report.passed) == 2
    assert report.skipped == 1
    assert report.failed == {
        "[sig-network] DNS should provide DNS for services [Conformance]": "timed out waiting for the condition"
    }


def test_no_report_is_an_error_not_an_empty_pass(tmp_path: Path) -> None:
    with pytest.raises(WerkraumError, match="wrote no JUnit report"):
        run.read_report(tmp_path)


def test_the_image_tags_come_from_the_suites_own_manifest(tmp_path: Path) -> None:
    manifest = tmp_path / "test" / "utils" / "image" / "manifest.go"
    manifest.parent.mkdir(parents=True)
    manifest.write_text(MANIFEST)
    versions = images.manifest_versions(tmp_path)
    assert versions["Agnhost"] == "2.66.1" and versions["AgnhostPrev"] == "2.55"
    manifest.write_text(MANIFEST.replace("BusyBox", "Busybox2"))
    with pytest.raises(WerkraumError, match="no version for BusyBox"):
        images.manifest_versions(tmp_path)


def test_images_go_to_the_lab_registry_under_the_path_containerd_maps_registry_k8s_io_to() -> None:
    built = images.TestImages(("registry.k8s.io/e2e-test-images/agnhost:2.66.1",))
    assert built.pairs("10.231.0.41:5000") == [
        ("registry.k8s.io/e2e-test-images/agnhost:2.66.1", "10.231.0.41:5000/e2e-test-images/agnhost:2.66.1")
    ]
