"""werkraum.lifecycle with real, short-lived processes: started, healthy, stopped, timed out, found again; and its
container counterpart (werkraum.lab.podman.Container) against a stand-in for podman."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

from werkraum.lifecycle import NotReady, Process, Service, ServiceError, free_port, http_check, tcp_check


def _http_server(tmp_path: Path, port: int, **kwargs: object) -> Process:
    return Process(
        "test web server",
        [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port)],
        check=http_check(f"http://127.0.0.1:{port}/"),
        awaited=f"http://127.0.0.1:{port}/ answering 200",
        log=tmp_path / "web.log",
        cwd=tmp_path,
        timeout=30,
        **kwargs,  # type: ignore[arg-type]
    )


def _connect_fails(port: int) -> bool:
    try:
        tcp_check("127.0.0.1", port, timeout=1)()
    except OSError:
        return True
    return False


def test_a_process_is_started_healthy_and_stopped(tmp_path: Path) -> None:
    port = free_port()
    (tmp_path / "hello.txt").write_text("hello")
    with _http_server(tmp_path, port) as web:
        assert web.running() and web.pid
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/hello.txt", timeout=5) as reply:
            assert reply.read() == b"hello"
        pid = web.pid
    assert not web.running()
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert _connect_fails(port)
    assert "GET /hello.txt" in (tmp_path / "web.log").read_text()  # its output went to its log


def test_a_process_that_never_becomes_healthy_times_out_by_name(tmp_path: Path) -> None:
    port = free_port()  # nothing will ever listen here
    never = Process(
        "the sleeper",
        [sys.executable, "-c", "import time; print('sleeping', flush=True); time.sleep(60)"],
        check=http_check(f"http://127.0.0.1:{port}/health"),
        awaited=f"http://127.0.0.1:{port}/health answering 200",
        log=tmp_path / "sleeper.log",
        timeout=1.5,
    )
    with pytest.raises(ServiceError) as exc:
        never.start()
    message = str(exc.value)
    assert f"the sleeper was not healthy within 2s: waited for http://127.0.0.1:{port}/health answering 200" in message
    assert "ConnectionRefused" in message or "URLError" in message  # what the last check saw
    assert f"its log: {tmp_path / 'sleeper.log'}" in message
    assert not never.running()  # killed on the timeout, not left behind


def test_a_process_that_exits_while_starting_is_named_with_its_log(tmp_path: Path) -> None:
    broken = Process(
        "the broken one",
        [sys.executable, "-c", "import sys; print('no config file', flush=True); sys.exit(3)"],
        check=lambda: False,
        log=tmp_path / "broken.log",
        timeout=30,
    )
    with pytest.raises(ServiceError, match=r"the broken one exited with code 3 while starting") as exc:
        broken.start()
    assert "no config file" in str(exc.value)
    # A clean exit while starting is a failure too: a service has to keep running.
    done = Process("the quitter", [sys.executable, "-c", "pass"], check=lambda: False, log=tmp_path / "q.log")
    with pytest.raises(ServiceError, match=r"the quitter exited with code 0 while starting"):
        done.start()


def test_a_detached_process_is_found_waited_for_and_stopped_by_a_later_run(tmp_path: Path) -> None:
    port = free_port()
    pidfile = tmp_path / "web.pid"
    first = _http_server(tmp_path, port, pidfile=pidfile).start()
    pid = first.pid
    assert pid and pidfile.read_text().strip() == str(pid)
    # Not marked for mirakuru's clean-up at exit, and in a session of its own: it outlives this program.
    proc = psutil.Process(pid)
    assert "mirakuru_uuid" not in proc.environ()
    assert os.getsid(pid) == pid

    later = _http_server(tmp_path, port, pidfile=pidfile)  # as `werkraum e2e` would build it again
    assert later.running() and later.pid == pid
    later.ensure()  # runs already: waited for, not started twice
    assert later.pid == pid
    later.stop()
    assert not later.running() and not pidfile.exists()
    assert _connect_fails(port)
    later.stop()  # stopping what does not run is harmless


def test_a_dead_pidfile_is_not_running_and_waiting_on_it_names_the_file(tmp_path: Path) -> None:
    pidfile = tmp_path / "gone.pid"
    pidfile.write_text("999999999\n")
    gone = Process("etcd", log=tmp_path / "etcd.log", pidfile=pidfile)
    assert not gone.running()
    with pytest.raises(ServiceError, match=rf"etcd: is not running \(no live process in {pidfile}\)"):
        gone.wait_healthy()


class _Flaky(Service):
    """A service that is not a process: healthy after ``after`` checks, or gone when ``gone``."""

    def __init__(self, after: int, gone: bool = False) -> None:
        self.name, self.awaited, self.log = "thing", "it to say ready", "`thing logs`"
        self.timeout, self.interval = 1, 0.05
        self.after, self.gone, self.checks, self.spawned = after, gone, 0, 0

    def spawn(self) -> None:
        self.spawned += 1

    def running(self) -> bool:
        return not self.gone

    def healthy(self) -> bool:
        self.checks += 1
        if self.checks < self.after:
            raise NotReady(f"state: starting ({self.checks})")
        return True

    def stop(self) -> None:
        self.gone = True


def test_the_shared_wait_for_containers_and_guests() -> None:
    assert _Flaky(after=3).start().checks == 3
    with pytest.raises(ServiceError) as exc:
        _Flaky(after=10**6).start()
    assert "thing was not healthy within 1s: waited for it to say ready (last: state: starting" in str(exc.value)
    assert "its log: `thing logs`" in str(exc.value)
    with pytest.raises(ServiceError, match=r"thing: stopped while starting"):
        _Flaky(after=1, gone=True).start()
    running = _Flaky(after=1)
    running.ensure()
    assert running.spawned == 0  # it ran already


def test_a_werkraum_error_from_a_check_ends_the_wait_at_once() -> None:
    class Degraded(_Flaky):
        def healthy(self) -> bool:
            raise ServiceError("thing booted with failed units: a.service")

    with pytest.raises(ServiceError, match="failed units"):
        Degraded(after=1).wait_healthy(timeout=60)


class _FakePodman:
    """Just enough of podman for a Container: run, start, inspect, exec systemctl, logs, rm."""

    def __init__(self, states: list[str], exits: bool = False) -> None:
        self.states, self.exits, self.calls = states, exits, []  # systemd states, one per check
        self.exists = self.runs = False

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        self.calls.append(args)
        out = ""
        if args[0] in ("run", "start"):
            self.exists = self.runs = True
        elif args[0] == "rm":
            self.exists = self.runs = False
        elif args[:3] == ("exec", "c1", "systemctl") and args[3] == "is-system-running":
            out = self.states.pop(0) if len(self.states) > 1 else self.states[0]
            if self.exits:
                self.runs = False
        elif args[:3] == ("exec", "c1", "systemctl"):
            out = "nftables.service loaded failed failed\n"
        elif args[0] == "logs":
            out = "systemd: Freezing execution.\n"
        return subprocess.CompletedProcess(args, 0, out, "")


@pytest.fixture
def fake_podman(monkeypatch: pytest.MonkeyPatch) -> Callable[..., _FakePodman]:
    from werkraum.lab import podman

    def install(states: list[str], exits: bool = False) -> _FakePodman:
        fake = _FakePodman(states, exits)
        monkeypatch.setattr(podman, "podman", fake)
        monkeypatch.setattr(podman, "container_exists", lambda _name: fake.exists)
        monkeypatch.setattr(podman, "inspect_container", lambda _n: {"State": {"Running": fake.runs, "ExitCode": 255}})
        return fake

    return install


def test_a_container_is_run_detached_and_healthy_once_systemd_has_booted(
    fake_podman: Callable[..., _FakePodman],
) -> None:
    from werkraum.lab.podman import Container

    fake = fake_podman(["starting", "starting", "running"])
    ready = iter([False, True])
    host = Container("c1", "localhost/img:1", ["--network", "n1"], ready=lambda: next(ready), interval=0.01).start()
    assert fake.calls[0] == ("run", "--detach", "--name", "c1", "--network", "n1", "localhost/img:1")
    assert host.running() and host.state == "running"
    host.stop()
    assert fake.calls[-1] == ("rm", "-f", "-t", "5", "c1") and not host.running()
    host.spawn()  # it exists again: `podman start`, not a second `run`
    host.spawn()
    assert fake.calls[-1] == ("start", "c1")


def test_a_container_that_boots_degraded_or_stops_is_named(fake_podman: Callable[..., _FakePodman]) -> None:
    from werkraum.lab.podman import Container

    fake_podman(["degraded"])
    lenient = Container("c1", "img", name="host gpu-01", interval=0.01).start()
    assert lenient.state == "degraded" and lenient.failed_units == ["nftables.service loaded failed failed"]
    fake_podman(["degraded"])
    with pytest.raises(ServiceError, match=r"the API host booted with failed units:\n    nftables.service"):
        Container("c1", "img", name="the API host", degraded_ok=False, interval=0.01).start()
    fake_podman(["starting"], exits=True)
    with pytest.raises(ServiceError) as exc:
        Container("c1", "img", name="host broken", interval=0.01).start()
    assert "host broken: container c1 stopped while booting (exit code 255); last output:" in str(exc.value)
    assert "Freezing execution" in str(exc.value)
    fake_podman(["starting"])
    with pytest.raises(ServiceError) as exc:
        Container("c1", "img", name="host slow", timeout=0.1, interval=0.01).start()
    message = str(exc.value)
    assert "host slow was not healthy within 0s: waited for systemd to finish booting" in message
    assert "(last: systemd state: starting)" in message and "its log: `podman logs c1`" in message
