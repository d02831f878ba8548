"""The lab inventory is read through ansible-inventory and checked before anything starts."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT, make_lab_inventory
from werkraum.errors import WerkraumError
from werkraum.lab.rack import load_rack


def test_shipped_lab_inventory_has_one_host_per_node_group() -> None:
    rack = load_rack(ROOT / "inventories" / "lab")
    assert rack.name == "werkraum-lab"
    assert {h.name: h.groups for h in rack.hosts} == {
        "gpu-01": ("gpu",),
        "ceph-01": ("ceph",),
        "control-01": ("control",),
        "service-01": ("service",),
    }
    assert {h.container for h in rack.hosts} == {
        f"werkraum-lab-{h}" for h in ("gpu-01", "ceph-01", "control-01", "service-01")
    }


def test_kubernetes_hosts_run_privileged_with_containerd_on_a_volume_and_the_others_do_not(tmp_path: Path) -> None:
    """The control nodes and the GPU nodes that serve Kubernetes; a GPU node serving OpenStack stays unprivileged."""
    from werkraum.lab.lab import run_options

    inv = _inv(tmp_path, **{"gpu-01": ("gpu", 11), "gpu-02": ("gpu", 12), "control-01": ("control", 31)})
    data = yaml.safe_load((inv / "hosts.yml").read_text())
    data["all"]["children"]["gpu"]["hosts"]["gpu-02"]["werkraum_gpu_substrate"] = "openstack"
    (inv / "hosts.yml").write_text(yaml.safe_dump(data))
    hosts = {h.name: h for h in load_rack(inv).hosts}
    assert {name: h.kubernetes for name, h in hosts.items()} == {"gpu-01": True, "gpu-02": False, "control-01": True}
    control = run_options(hosts["control-01"])
    assert "--privileged" in control and "--cgroupns=private" in control
    # podman's systemd mode would hand a privileged host the machine's name=systemd tree (docs/lab.md)
    assert "--systemd=false" in control and "--systemd=always" not in control
    assert control[control.index("--volume") + 1] == "t-lab-control-01-containerd:/var/lib/containerd"
    assert "--privileged" not in run_options(hosts["gpu-02"]) and "--volume" not in run_options(hosts["gpu-02"])


def _inv(tmp_path: Path, **hosts: tuple[str, int]) -> Path:
    return make_lab_inventory(tmp_path / "inv", "t-lab", "10.250.3", dict(hosts))


def test_address_outside_subnet_is_named(tmp_path: Path) -> None:
    inv = _inv(tmp_path, **{"gpu-01": ("gpu", 11)})
    data = yaml.safe_load((inv / "hosts.yml").read_text())
    data["all"]["children"]["gpu"]["hosts"]["gpu-01"]["werkraum_mgmt_address"] = "192.168.7.3"
    (inv / "hosts.yml").write_text(yaml.safe_dump(data))
    with pytest.raises(WerkraumError, match=r"host gpu-01: werkraum_mgmt_address 192.168.7.3 is not a usable address"):
        load_rack(inv)


def test_gateway_address_is_refused(tmp_path: Path) -> None:
    with pytest.raises(WerkraumError, match="gateway"):
        load_rack(_inv(tmp_path, **{"gpu-01": ("gpu", 1)}))


def test_duplicate_addresses_name_both_hosts(tmp_path: Path) -> None:
    with pytest.raises(WerkraumError, match=r"hosts ceph-01 and gpu-01 share the address 10.250.3.11"):
        load_rack(_inv(tmp_path, **{"gpu-01": ("gpu", 11), "ceph-01": ("ceph", 11)}))


def test_missing_address_is_named(tmp_path: Path) -> None:
    inv = _inv(tmp_path, **{"gpu-01": ("gpu", 11)})
    (inv / "hosts.yml").write_text(yaml.safe_dump({"all": {"children": {"gpu": {"hosts": {"gpu-01": None}}}}}))
    with pytest.raises(WerkraumError, match=r"host gpu-01: werkraum_mgmt_address '' is not an IP address"):
        load_rack(inv)


def test_bad_subnet_is_named(tmp_path: Path) -> None:
    inv = _inv(tmp_path, **{"gpu-01": ("gpu", 11)})
    (inv / "group_vars" / "all" / "lab.yml").write_text("werkraum_lab_name: t-lab\nwerkraum_lab_subnet: 10.1.2/33\n")
    with pytest.raises(WerkraumError, match=r"werkraum_lab_subnet '10.1.2/33' is not a network"):
        load_rack(inv)


def test_empty_inventory_is_an_error_not_an_empty_lab(tmp_path: Path) -> None:
    inv = _inv(tmp_path, **{"gpu-01": ("gpu", 11)})
    (inv / "hosts.yml").write_text("all: {}\n")
    with pytest.raises(WerkraumError, match="holds no hosts"):
        load_rack(inv)


def test_unparseable_inventory_is_an_error(tmp_path: Path) -> None:
    inv = _inv(tmp_path, **{"gpu-01": ("gpu", 11)})
    (inv / "hosts.yml").write_text("all: [this is: not\n")
    with pytest.raises(WerkraumError, match=r"inventory .* (could not be read|holds no hosts)"):
        load_rack(inv)


def test_the_lab_group_vars_find_the_ca_where_werkraum_lab_makes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The folder is named twice (werkraum/lab/lab.py and the lab's group_vars, for converges outside `werkraum lab`)."""
    import json
    import os
    import subprocess

    from werkraum.lab.lab import lab_pki

    inv = _inv(tmp_path / "inv", **{"control-01": ("control", 31)})
    monkeypatch.delenv("WERKRAUM_LAB_PKI", raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    made = lab_pki(load_rack(inv)).folder
    env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible" / "ansible.cfg"), "ANSIBLE_STDOUT_CALLBACK": "json"}
    ansible = Path(os.environ.get("VIRTUAL_ENV", ROOT / ".venv")) / "bin" / "ansible"
    proc = subprocess.run(
        [str(ansible), "control-01", "-i", str(inv / "hosts.yml"), "-m", "debug", "-a", "var=common_ca_certificates"],
        capture_output=True, text=True, env={**env, "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1"}, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    result = json.loads(proc.stdout)["plays"][0]["tasks"][0]["hosts"]["control-01"]
    assert result["common_ca_certificates"][0]["certificate"].strip() == (made / "ca.crt").read_text().strip()
