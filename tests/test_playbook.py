"""A failed converge is described by host, task, task file and message (from ansible-runner's events)."""

from __future__ import annotations

from tests.conftest import ROOT
from werkraum.playbook import PlaybookResult, describe_failures, failed_tasks


def _event(kind: str, **data: object) -> dict[str, object]:
    return {"event": kind, "event_data": data}


def test_failed_and_unreachable_tasks_are_named_ignored_ones_are_not() -> None:
    events = [
        _event("runner_on_ok", host="gpu-01", task="Gathering Facts"),
        _event(
            "runner_on_failed", host="ceph-01", task="ceph : Take the monitor map",
            task_path=f"{ROOT}/roles/ceph/tasks/mon.yml:69", res={"msg": "'ceph_mons_existing' is\n undefined"},
        ),
        _event("runner_on_failed", host="gpu-01", task="probe", ignore_errors=True, res={"msg": "expected"}),
        _event("runner_on_unreachable", host="gpu-01", task="Gathering Facts", res={"msg": "Container not found"}),
        _event("runner_on_failed", host="service-01", task="loop", res={"results": [{"failed": True, "stderr": "boom"}]}),
    ]  # fmt: skip
    found = failed_tasks(events)
    assert [(t["host"], t["kind"]) for t in found] == [("ceph-01", "failed"), ("gpu-01", "unreachable"),
                                                       ("service-01", "failed")]  # fmt: skip
    assert found[0]["path"] == "roles/ceph/tasks/mon.yml:69"  # relative to the checkout
    assert found[0]["msg"] == "'ceph_mons_existing' is undefined"
    assert found[2]["msg"] == "boom"  # a loop's failed item speaks for it
    lines = describe_failures(found, ["[ERROR]: something Ansible said"])
    assert lines[0] == "ceph-01: task 'ceph : Take the monitor map' (roles/ceph/tasks/mon.yml:69): " + found[0]["msg"]
    assert lines[-1] == "[ERROR]: something Ansible said"


def test_a_failed_result_names_its_tasks_in_the_error() -> None:
    import pytest

    from werkraum.errors import WerkraumError
    from werkraum.playbook import raise_for_result

    result = PlaybookResult(
        playbook="site.yml", inventory="netbox.yml", started=0, duration_s=1, status="failed", rc=2,
        ok={"ceph-01": 3}, failures={"ceph-01": 1},
        failed_tasks=[{"host": "ceph-01", "task": "ceph : x", "path": "roles/ceph/tasks/mon.yml:69", "msg": "m"}],
    )  # fmt: skip
    with pytest.raises(WerkraumError) as exc:
        raise_for_result(result)
    assert "did not converge: failed: ceph-01" in exc.value.what
    assert "ceph-01: task 'ceph : x' (roles/ceph/tasks/mon.yml:69): m" in exc.value.what
