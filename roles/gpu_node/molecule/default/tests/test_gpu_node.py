"""What gpu_node leaves on a host without a GPU, and its metrics collector's reading of nvidia-smi."""

import json

FAKE_SMI = """#!/bin/sh
echo '0, GPU-1111, NVIDIA H100 80GB HBM3, 41, 37, 12, 20480, 81559, 312.45'
echo '1, GPU-2222, NVIDIA H100 80GB HBM3, 39, 0, 0, 0, 81559, 71.02'
"""


def test_nouveau_is_blacklisted(host):
    conf = host.file("/etc/modprobe.d/blacklist-nouveau.conf").content_string
    assert "blacklist nouveau" in conf and "options nouveau modeset=0" in conf


def test_nonfree_components_are_enabled(host):
    sources = host.file("/etc/apt/sources.list.d/werkraum-nonfree.list").content_string
    assert "bookworm contrib non-free non-free-firmware" in sources
    assert host.run("apt-cache policy nvidia-driver").stdout.find("Candidate: 535") >= 0


def test_no_container_runtime_is_touched_with_runtime_none(host):
    """gpu_container_runtime: none (a GPU node serving OpenStack VMs, and this scenario): no
    containerd is installed and no drop-in written. The drop-in beside the containerd role's
    configuration is verified on the lab's Kubernetes worker (make test-kubernetes)."""
    assert not host.file("/etc/containerd/conf.d/nvidia.toml").exists
    assert not host.package("containerd").is_installed
    assert not host.package("nvidia-container-toolkit").is_installed


def test_time_slicing_configuration(host):
    conf = host.file("/etc/werkraum/gpu/device-plugin.yaml").content_string
    assert "timeSlicing:" in conf and "replicas: 3" in conf
    assert not host.file("/etc/werkraum/gpu/mig.yaml").exists


def test_status_reports_what_was_skipped(host):
    status = json.loads(host.file("/etc/werkraum/gpu/status.json").content_string)
    assert status["gpus"] == [] and status["sharing"] == "time-slicing"
    skipped = " ".join(status["skipped"])
    assert "driver packages" in skipped and "persistence daemon" in skipped and "container toolkit" in skipped
    assert not host.package("nvidia-driver").is_installed  # nothing pretends to be there


def test_metrics_timer_reports_no_gpu(host):
    assert host.service("werkraum-gpu-metrics.timer").is_enabled
    assert host.service("werkraum-gpu-metrics.timer").is_running
    assert host.run("systemctl start werkraum-gpu-metrics.service").rc == 0
    prom = host.file("/var/lib/prometheus/node-exporter/nvidia_gpu.prom").content_string
    assert prom.strip() == "werkraum_gpu_exporter_up 0"


def test_metrics_collector_reads_nvidia_smi(host):
    host.run("install -m 755 /dev/null /usr/local/bin/nvidia-smi")
    host.run(f"cat > /usr/local/bin/nvidia-smi <<'EOF'\n{FAKE_SMI}EOF")
    try:
        assert host.run("/usr/local/lib/werkraum/gpu-metrics /tmp/gpu.prom").rc == 0
        prom = host.file("/tmp/gpu.prom").content_string
    finally:
        host.run("rm -f /usr/local/bin/nvidia-smi /tmp/gpu.prom")
    assert "werkraum_gpu_exporter_up 1" in prom
    assert "werkraum_gpu_count 2" in prom
    assert 'werkraum_gpu_utilization_ratio{gpu="0",uuid="GPU-1111",name="NVIDIA H100 80GB HBM3"} 0.37' in prom
    assert 'werkraum_gpu_memory_used_bytes{gpu="0",uuid="GPU-1111",name="NVIDIA H100 80GB HBM3"} 2.14748e+10' in prom
    assert 'werkraum_gpu_power_watts{gpu="1",uuid="GPU-2222",name="NVIDIA H100 80GB HBM3"} 71.02' in prom
