"""Start something, wait until it is healthy, stop it: one interface for the lab's processes, containers and guests.

A :class:`Service` is started (``start``: spawn, then ``wait_healthy``), found
running (``ensure`` starts it only if it is not), and stopped (``stop``). A
service that exits while it starts, or is not healthy in time, is a
:class:`ServiceError` that names the service, what was awaited, what the last
health check saw, and where its log is.

:class:`Process` runs a program under mirakuru: its executor spawns it in a
session of its own, polls the health check, kills it (and what it spawned) when
the wait times out, and stops it with a signal and then SIGKILL. A process given
a ``pidfile`` is *detached*: it outlives this program (the lab's Kubernetes API
after ``werkraum e2e --keep``, a qemu guest between two ``werkraum lab vm``
calls), and a later run finds, waits for and stops it through that file.
Containers (werkraum.lab.podman.Container) and anything else that is not a child
of this program implement the same interface on the shared wait of
:meth:`Service.wait_healthy`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

import psutil
from mirakuru import Executor, ProcessExitedWithError, SimpleExecutor, TimeoutExpired
from mirakuru.base import ENV_UUID
from mirakuru.exceptions import ProcessFinishedWithError

from werkraum.errors import WerkraumError

# A health check: True once the service is healthy. False, or any exception, means "not yet"; it may raise
# NotReady to say what it saw. A WerkraumError it raises ends the wait at once (the service failed for good).
Check = Callable[[], bool]


class ServiceError(WerkraumError):
    """A service exited while it started, or was not healthy in time."""


class NotReady(Exception):  # noqa: N818 - a state a health check reports, not an error
    """Raised by a health check to say what it saw (``state: starting``); a timeout quotes the last one."""


# --- health checks ------------------------------------------------------------------------


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tcp_check(host: str, port: int, timeout: float = 3) -> Check:
    """Healthy once ``host:port`` accepts a TCP connection."""

    def check() -> bool:
        with socket.create_connection((host, port), timeout=timeout):
            return True

    return check


def http_check(
    url: str,
    *,
    ok: Callable[[int], bool] = lambda status: status == 200,
    context: ssl.SSLContext | None = None,
    timeout: float = 5,
) -> Check:
    """Healthy once ``url`` answers with a status that ``ok`` accepts (by default 200); never through a proxy."""
    handlers: list[urllib.request.BaseHandler] = [urllib.request.ProxyHandler({})]
    if context is not None:
        handlers.append(urllib.request.HTTPSHandler(context=context))
    opener = urllib.request.build_opener(*handlers)

    def check() -> bool:
        try:
            with opener.open(url, timeout=timeout) as reply:
                status = int(reply.status)
        except urllib.error.HTTPError as exc:
            status = exc.code
        if not ok(status):
            raise NotReady(f"{url} answered HTTP {status}")
        return True

    return check


def command_check(argv: Sequence[str], *, timeout: float = 30) -> Check:
    """Healthy once ``argv`` exits 0 (e.g. ``pg_isready``)."""

    def check() -> bool:
        proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, check=False)
        if proc.returncode != 0:
            raise NotReady((proc.stdout + proc.stderr).strip()[-200:] or f"{argv[0]} exited {proc.returncode}")
        return True

    return check


def probe(check: Check) -> tuple[bool, str]:
    """Run one health check: whether it passed, and what it saw when it did not."""
    try:
        return bool(check()), ""
    except WerkraumError:
        raise
    except NotReady as exc:
        return False, str(exc)
    except Exception as exc:  # a service that does not answer yet fails its check in many ways
        return False, f"{type(exc).__name__}: {exc}"


def log_tail(path: Path, lines: int = 12) -> str:
    try:
        tail = path.read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        return "(no log)"
    return "\n    ".join(tail) if tail else "(the log is empty)"


# --- the interface ----------------------------------------------------------------------


class Service(ABC):
    """Something that is started, waited for until healthy, and stopped.

    Subclasses set ``name`` (as messages name it: ``etcd``, ``host gpu-01``),
    ``awaited`` (what healthy means), ``log`` (a file, or the command that shows
    the output), ``timeout``, ``interval`` (between two checks) and optionally
    ``hint`` (what to do when it fails).
    """

    name: str
    awaited: str
    log: str
    timeout: float
    interval: float = 1.0
    hint: str | None = None
    last: str = ""  # what the last failed health check saw

    @abstractmethod
    def spawn(self) -> None:
        """Start it, without waiting."""

    @abstractmethod
    def running(self) -> bool: ...

    @abstractmethod
    def healthy(self) -> bool:
        """One health check (a :data:`Check`)."""

    @abstractmethod
    def stop(self) -> None: ...

    def exited(self) -> str | None:
        """Why it is gone, once it stopped while starting; None while it runs."""
        return None if self.running() else "stopped while starting"

    def start(self) -> Self:
        self.spawn()
        return self.wait_healthy()

    def ensure(self) -> Self:
        """Start it unless it runs already (an earlier run started it), then wait until it is healthy."""
        if not self.running():
            self.spawn()
        return self.wait_healthy()

    def wait_healthy(self, timeout: float | None = None) -> Self:
        timeout = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        while True:
            reason = self.exited()
            if reason:
                raise ServiceError(f"{self.name}: {reason}", hint=self.error_hint())
            ok, self.last = probe(self.healthy)
            if ok:
                return self
            if time.monotonic() >= deadline:
                raise self.timed_out(timeout)
            time.sleep(self.interval)

    def timed_out(self, timeout: float) -> ServiceError:
        seen = f" (last: {self.last})" if self.last else ""
        return ServiceError(
            f"{self.name} was not healthy within {timeout:.0f}s: waited for {self.awaited}{seen}",
            hint=self.error_hint(),
        )

    def error_hint(self) -> str:
        return f"its log: {self.log}" + (f"; {self.hint}" if self.hint else "")

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


# --- processes --------------------------------------------------------------------------


class _Executor(Executor):
    """mirakuru's executor with the service's health check; a detached one outlives this program."""

    def __init__(self, service: Process, output: IO[Any]) -> None:
        self._service = service
        super().__init__(
            list(service.argv),
            cwd=str(service.cwd) if service.cwd else None,
            timeout=service.timeout,
            sleep=service.interval,
            stop_signal=service.stop_signal,
            envvars=service.env,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
        )

    @property
    def envvars(self) -> dict[str, str]:
        env = super().envvars
        if self._service.pidfile:
            # mirakuru kills what carries its mark when this program exits: a detached process must not.
            env.pop(ENV_UUID, None)
        return env

    def spawn(self) -> None:
        SimpleExecutor.start(self)  # Executor.start would wait as well: Process.wait_healthy does that

    def after_start_check(self) -> bool:
        ok, self._service.last = probe(self._service.healthy)
        return ok

    def check_subprocess(self) -> bool:
        # A service must keep running: an exit with 0 while it starts is a failure too (mirakuru allows it).
        code = self.process.poll() if self.process else None
        if code is not None:
            raise ProcessExitedWithError(self, code)
        return self.after_start_check()

    def stop_within(self, timeout: float, sig: int | None) -> None:
        self._timeout = timeout  # mirakuru waits for a stop as long as for a start
        with contextlib.suppress(ProcessFinishedWithError):  # how it ended does not matter once it has
            self.stop(stop_signal=sig)

    def __del__(self) -> None:
        if not self._service.pidfile:  # mirakuru kills an executor's process when the executor goes away
            super().__del__()


class Process(Service):
    """A program run under mirakuru, with its output in ``log``; detached (outlives this program) with a ``pidfile``."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str] = (),
        *,
        check: Check | None = None,
        awaited: str = "",
        log: Path,
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
        timeout: float = 60,
        interval: float = 0.5,
        stop_signal: int = signal.SIGTERM,
        stop_timeout: float = 10,
        pidfile: Path | None = None,
        hint: str | None = None,
    ) -> None:
        self.name = name
        self.argv = tuple(argv)
        self._check = check
        self.awaited = awaited or ("its health check" if check else "it to run")
        self.logfile = log
        self.log = str(log)
        self.cwd = cwd
        self.env = env
        self.timeout = timeout
        self.interval = interval
        self.stop_signal = stop_signal
        self.stop_timeout = stop_timeout
        self.pidfile = pidfile
        self.hint = hint
        self._executor: _Executor | None = None

    def healthy(self) -> bool:
        return self._check() if self._check else True

    def spawn(self) -> None:
        if not self.argv:
            raise WerkraumError(f"{self.name}: no command to start it with")
        self.logfile.parent.mkdir(parents=True, exist_ok=True)
        with self.logfile.open("a") as output:
            executor = _Executor(self, output)
            executor.spawn()
        self._executor = executor
        if self.pidfile and executor.process:
            self.pidfile.write_text(f"{executor.process.pid}\n")

    @property
    def pid(self) -> int | None:
        """The live process: this program's child, else the one the pidfile names (started by an earlier run)."""
        executor = self._executor
        if executor is not None and executor.process is not None and executor.running():
            return int(executor.process.pid)
        if self.pidfile is None:
            return None
        try:
            pid = int(self.pidfile.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None
        return pid if _alive(pid) else None

    def running(self) -> bool:
        return self.pid is not None

    def exited(self) -> str | None:
        if self.running():
            return None
        where = f" (no live process in {self.pidfile})" if self.pidfile else ""
        return f"is not running{where}; last lines of its log:\n    {log_tail(self.logfile)}"

    def wait_healthy(self, timeout: float | None = None) -> Self:
        """Until the health check passes; for a process spawned here, the deadline runs from the spawn."""
        executor = self._executor
        if executor is None or executor.process is None:
            return super().wait_healthy(timeout)  # started by an earlier run: found through its pidfile
        try:
            executor.wait_for(executor.check_subprocess)
        except ProcessExitedWithError as exc:
            executor.kill()
            self.remove_pidfile()
            raise ServiceError(
                f"{self.name} exited with code {exc.exit_code} while starting; last lines of its log:\n    "
                + log_tail(self.logfile),
                hint=self.error_hint(),
            ) from None
        except TimeoutExpired:  # mirakuru has killed it
            self.remove_pidfile()
            raise self.timed_out(self.timeout) from None
        return self

    def stop(self, sig: int | None = None, timeout: float | None = None) -> None:
        """Send ``sig`` (default: its stop signal) to its process group; SIGKILL after ``timeout`` seconds."""
        sig = self.stop_signal if sig is None else sig
        timeout = self.stop_timeout if timeout is None else timeout
        executor, self._executor = self._executor, None
        if executor is not None and executor.process is not None and not self.pidfile:
            executor.stop_within(timeout, sig)
            return
        pid = self.pid
        if pid is not None:
            _stop_pid(pid, sig, timeout)
        self.remove_pidfile()

    def remove_pidfile(self) -> None:
        if self.pidfile:
            self.pidfile.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        proc = psutil.Process(pid)
        if proc.status() != psutil.STATUS_ZOMBIE:
            return True
        with contextlib.suppress(psutil.Error, ChildProcessError):
            proc.wait(timeout=0)  # our own child that exited: reap it
    except psutil.NoSuchProcess:
        pass
    return False


def _signal_group(pid: int, sig: int) -> None:
    """``sig`` to the process group a detached process leads; to the process alone if it leads none."""
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def _stop_pid(pid: int, sig: int, timeout: float) -> None:
    try:
        proc = psutil.Process(pid)
    except psutil.NoSuchProcess:
        return
    _signal_group(pid, sig)
    _, alive = psutil.wait_procs([proc], timeout=timeout)
    if alive:
        _signal_group(pid, signal.SIGKILL)
        psutil.wait_procs(alive, timeout=10)
