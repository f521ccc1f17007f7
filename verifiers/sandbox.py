"""The trusted side of code execution: start a jailed candidate, call it, tear it all down.

`CandidateProcess` starts `_child/jail.py`, which puts the candidate's interpreter inside the
strongest walls this machine allows (see its docstring), sends the program, and then makes
calls over a pipe of its own, each with a deadline that is part of one wall-clock budget for
the whole run. It never runs candidate code itself and never believes what the child says
about the outcome: callers get decoded values (exact built-in types) and decide.

The candidate can replace its own encoder, so a reply may hold anything. What the parent does
with one is bounded whatever it holds: a reply line is at most `MAX_REPLY_BYTES`, and decoding
(`wire.decode`) refuses hash-colliding keys and stops at the run's deadline.

Teardown always runs, whatever happened: the jail's waiter is asked to kill the candidate's
namespace, the process group is killed if it does not go, any process still running under the
run's own uid (`verifiers.uid_slots`) is killed, and the run's private directory is removed.

This module knows nothing about test cases or verdicts; `verifiers.code` does.
"""
from __future__ import annotations

import json
import math
import os
import secrets
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

from verifiers import uid_slots
from verifiers._child import wire

CHILD_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_child")
MAX_REPLY_BYTES = 2 * 1024 * 1024  # one reply line; results of test calls are far smaller
MAX_NAMES = 1000  # as many as the harness reports


@dataclass(frozen=True)
class SandboxLimits:
    timeout_s: float = 5.0  # wall clock for the whole run: start, load and every call
    memory_mb: int = 512  # address space of each candidate process
    max_processes: int = 16  # processes and threads the candidate's uid may hold at once
    max_file_mb: int = 4  # largest file the candidate may write (stdout included)
    max_open_files: int = 64  # open file descriptors per process
    tmpfs_mb: int = 32  # all files the candidate may create, together (namespaces mode)
    output_bytes: int = 16 * 1024  # how much of stdout and stderr is kept for the detail

    def __post_init__(self) -> None:
        if not 0 < self.timeout_s <= 3600:
            raise ValueError(f"timeout_s must be in (0, 3600], got {self.timeout_s}")
        for name in ("memory_mb", "max_processes", "max_file_mb", "max_open_files", "tmpfs_mb"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.memory_mb < 64:
            raise ValueError("memory_mb below 64 cannot start a Python interpreter")


class SandboxError(Exception):
    """The run could not go on. `status` is a Verdict status: timeout, memory or error."""

    def __init__(self, status: str, detail: str):
        super().__init__(detail)
        self.status, self.detail = status, detail


@dataclass
class CallResult:
    ok: bool  # the call returned a value (which may still be wrong)
    value: object = None  # decoded: exact built-in types only
    error: str = ""  # exception type name when not ok
    message: str = ""


class SandboxUnavailable(RuntimeError):
    """This machine cannot run candidate code safely. Not a verdict: nothing was judged."""


_ISOLATION: list[str] = []


def isolation_mode() -> str:
    """'namespaces' where a real jailed run works here, else 'plain'. SELFPLAY_SANDBOX overrides.

    The probe runs a trivial program through the whole jail once per process, so a machine
    that allows `unshare` but not the mounts is found out here, not by failing every verdict.
    """
    forced = os.environ.get("SELFPLAY_SANDBOX", "")
    if forced:
        if forced not in ("namespaces", "plain"):
            raise ValueError(f"SELFPLAY_SANDBOX must be 'namespaces' or 'plain', got {forced!r}")
        return forced
    if not _ISOLATION:
        _ISOLATION.append("namespaces" if _namespaces_work() else "plain")
    return _ISOLATION[0]


def _namespaces_work() -> bool:
    if not sys.platform.startswith("linux") or os.geteuid() != 0:
        return False
    try:
        with CandidateProcess("def probe():\n    return 1\n", SandboxLimits(timeout_s=30), isolation="namespaces") as run:
            return run.call("probe", []).value == 1
    except (SandboxError, SandboxUnavailable, OSError):
        return False


def interpreter() -> str:
    return os.path.realpath(sys.executable)


def _python_paths() -> list[str]:
    """What the jail must show so the interpreter and its standard library work."""
    paths = {os.path.realpath(sys.base_prefix), os.path.dirname(interpreter())}
    system = ("/usr/", "/bin/", "/lib/", "/lib64/", "/sbin/")
    return sorted(path for path in paths if not (path + "/").startswith(system))


@dataclass
class _Pipe:
    """The parent's end of a line protocol, with deadlines on every read."""

    read_fd: int
    write_fd: int
    nonce: str  # every reply must carry it: only this run's channel can answer this run
    buffer: bytearray = field(default_factory=bytearray)

    def send(self, message: dict, deadline: float) -> None:
        data = wire.dumps_line(message)
        while data:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise SandboxError("timeout", "time limit reached while sending to the candidate")
            _, writable, _ = select.select([], [self.write_fd], [], remaining)
            if writable:
                try:
                    data = data[os.write(self.write_fd, data[: 1 << 16]):]
                except (BrokenPipeError, OSError):
                    raise SandboxError("error", "the candidate process went away") from None

    def receive(self, deadline: float) -> dict:
        end = self.buffer.find(b"\n")
        while end < 0:
            if len(self.buffer) > MAX_REPLY_BYTES:
                raise SandboxError("error", "the candidate's reply is too large")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise SandboxError("timeout", "time limit reached waiting for the candidate")
            readable, _, _ = select.select([self.read_fd], [], [], remaining)
            if not readable:
                continue
            chunk = os.read(self.read_fd, 1 << 16)
            if not chunk:
                raise SandboxError("error", "the candidate process exited before answering")
            end = chunk.find(b"\n")  # only the new bytes: the search stays linear in the reply
            if end >= 0:
                end += len(self.buffer)
            self.buffer += chunk
        if end > MAX_REPLY_BYTES:
            raise SandboxError("error", "the candidate's reply is too large")
        line = bytes(self.buffer[:end])
        del self.buffer[:end + 1]
        try:
            message = wire.loads_line(line)
        except wire.WireError as error:
            raise SandboxError("error", f"malformed reply from the candidate: {error}") from None
        if message.get("nonce") != self.nonce:
            raise SandboxError("error", "a reply without this run's nonce")
        return message


class CandidateProcess:
    """One jailed interpreter running one program. Use as a context manager.

    >>> with CandidateProcess("def f(x): return x + 1", SandboxLimits()) as candidate:
    ...     candidate.call("f", [1]).value
    2
    """

    def __init__(self, program: str, limits: SandboxLimits, isolation: str | None = None):
        if not isinstance(program, str):
            raise TypeError(f"program must be a str, got {type(program).__name__}")
        self.program, self.limits = program, limits
        self.isolation = isolation or isolation_mode()
        self.deadline = time.monotonic() + limits.timeout_s
        self.names: list[str] = []
        self.stdout = self.stderr = ""
        self._next_id = 0
        self._process: subprocess.Popen | None = None
        self._slot: uid_slots.Slot | None = None
        self._dir: str | None = None
        self._pipe: _Pipe | None = None
        self._status_fd: int | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def __enter__(self) -> "CandidateProcess":
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def _start(self) -> None:
        if not sys.platform.startswith("linux"):
            raise SandboxUnavailable(f"running candidate code needs Linux, this is {sys.platform}")
        if self.isolation == "plain" and os.geteuid() == 0:
            raise SandboxUnavailable("refusing to run candidate code as root without namespaces: process "
                                     "limits do not bind root (run as a normal user, or allow namespaces)")
        self._dir = tempfile.mkdtemp(prefix=f"selfplay-sandbox-{os.getpid()}-")
        os.chmod(self._dir, 0o700)
        request_read, request_write = os.pipe()
        reply_read, reply_write = os.pipe()
        self._status_fd, status_write = os.pipe()
        config = dict(self._config(keep_fds=[request_read, reply_write]), status_fd=status_write)
        with open(os.path.join(self._dir, "stdout"), "wb") as out, open(os.path.join(self._dir, "stderr"), "wb") as err:
            self._process = subprocess.Popen(
                [interpreter(), "-I", "-S", "-B", os.path.join(CHILD_DIR, "jail.py"), json.dumps(config)],
                stdin=subprocess.DEVNULL, stdout=out, stderr=err, pass_fds=(request_read, reply_write, status_write),
                start_new_session=True, close_fds=True, env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
            )
        for fd in (request_read, reply_write, status_write):
            os.close(fd)
        self._pipe = _Pipe(reply_read, request_write, nonce=secrets.token_hex(16))
        self._pipe.send({"program": self.program, "nonce": self._pipe.nonce}, self.deadline)
        hello = self._receive_or_explain()
        if hello.get("event") == "load_error":
            raise SandboxError(_status_of(hello.get("error")), f"program failed to load: {_error_text(hello)}")
        names = hello.get("names")
        if hello.get("event") != "ready" or type(names) is not list:
            raise SandboxError("error", "the candidate process did not start properly")
        self.names = [name for name in names[:MAX_NAMES] if type(name) is str and name.isidentifier()]

    def _config(self, keep_fds: list[int]) -> dict:
        limits = self.limits
        rlimits = {
            "RLIMIT_AS": limits.memory_mb << 20,
            "RLIMIT_CPU": math.ceil(limits.timeout_s) + 1,
            "RLIMIT_FSIZE": limits.max_file_mb << 20,
            "RLIMIT_NOFILE": limits.max_open_files,
            "RLIMIT_CORE": 0,
            "RLIMIT_NPROC": limits.max_processes,
        }
        config = {"mode": self.isolation, "python": interpreter(), "child_dir": CHILD_DIR, "keep_fds": keep_fds,
                  "rlimits": rlimits, "uid": None,
                  "env": {"PATH": "/usr/bin:/bin", "HOME": "/tmp", "TMPDIR": "/tmp", "LANG": "C.UTF-8",
                          "PYTHONHASHSEED": "0"}}
        if self.isolation == "namespaces":
            try:
                self._slot = uid_slots.Slot()
            except uid_slots.NoFreeSlot as error:
                raise SandboxError("error", str(error)) from None
            root = os.path.join(self._dir, "root")
            os.mkdir(root)
            config.update(uid=self._slot.uid, root=root, tmpfs_mb=limits.tmpfs_mb, tmpfs_inodes=4096,
                          python_paths=_python_paths())
        else:
            workdir = os.path.join(self._dir, "work")
            os.mkdir(workdir)
            rlimits["RLIMIT_NPROC"] = uid_slots.processes_of(os.getuid()) + limits.max_processes
            config.update(workdir=workdir, env=dict(config["env"], HOME=workdir, TMPDIR=workdir))
        return config

    def _receive_or_explain(self) -> dict:
        try:
            return self._pipe.receive(self.deadline)
        except SandboxError as error:
            failure = self._setup_failure() if error.status == "error" else ""
            if failure:  # the jail failed before any candidate code ran: the machine's fault
                raise SandboxUnavailable(failure) from None
            raise

    def _setup_failure(self) -> str:
        """What the jail said on its status pipe, once it has exited; '' if it said nothing."""
        try:
            self._process.wait(timeout=max(0.1, min(2.0, self.remaining())))
        except subprocess.TimeoutExpired:
            return ""
        os.set_blocking(self._status_fd, False)
        try:
            return os.read(self._status_fd, 4096).decode(errors="replace").strip()
        except BlockingIOError:
            return ""

    def close(self) -> None:
        """Tear everything down. Safe to call twice."""
        if self._pipe is not None:
            for fd in (self._pipe.read_fd, self._pipe.write_fd):
                try:
                    os.close(fd)
                except OSError:
                    pass
            self._pipe = None
        if self._status_fd is not None:
            os.close(self._status_fd)
            self._status_fd = None
        if self._process is not None:
            stop_process(self._process, graceful=self.isolation == "namespaces")
            self._process = None
        if self._slot is not None:
            uid_slots.kill_uid(self._slot.uid)
            self._slot.release()
            self._slot = None
        if self._dir is not None:
            self._read_output()
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def _read_output(self) -> None:
        for name in ("stdout", "stderr"):
            try:
                with open(os.path.join(self._dir, name), "rb") as handle:
                    text = handle.read(self.limits.output_bytes).decode("utf-8", "replace")
            except OSError:
                continue
            setattr(self, name, text)

    # -- calls -----------------------------------------------------------------------------

    def call(self, name: str, args: list) -> CallResult:
        """Call `name(*args)` in the candidate. Raises SandboxError when the run cannot go on."""
        if self._pipe is None:
            raise SandboxError("error", "the candidate process is not running")
        self._next_id += 1
        call_id = self._next_id
        self._pipe.send({"id": call_id, "call": name, "args": wire.encode(list(args))}, self.deadline)
        reply = self._pipe.receive(self.deadline)
        if reply.get("id") != call_id:
            raise SandboxError("error", "the candidate's reply does not match the call")
        if reply.get("event") == "result":
            try:
                return CallResult(ok=True, value=wire.decode(reply.get("value"), deadline=self.deadline))
            except wire.WireTimeout as error:
                raise SandboxError("timeout", str(error)) from None
            except wire.WireError as error:
                return CallResult(ok=False, error="WireError", message=str(error))
        if reply.get("event") == "error":
            return CallResult(ok=False, error=_error_text(reply, message=False), message=_error_text(reply))
        raise SandboxError("error", "the candidate sent an unexpected reply")

    def hand_over(self) -> tuple[int, int, str]:
        """Give up the call pipe (for a tester process): returns (request_fd, reply_fd, nonce)."""
        pipe, self._pipe = self._pipe, None
        if pipe.buffer:
            raise SandboxError("error", "the candidate sent data nobody asked for")
        return pipe.write_fd, pipe.read_fd, pipe.nonce


def stop_process(process: subprocess.Popen, graceful: bool) -> None:
    """Ask the jail's waiter to kill the candidate; kill the whole group if it does not go.

    Only the namespaces mode has a trusted waiter to ask; in plain mode the process is the
    candidate itself, which may ignore SIGTERM, so the group is killed at once.
    """
    if graceful and process.poll() is None:
        try:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=2)
        except (subprocess.TimeoutExpired, OSError):
            pass
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass


def _error_text(reply: dict, message: bool = True) -> str:
    kind = reply.get("error")
    kind = kind[:80] if type(kind) is str else "Error"
    text = reply.get("message")
    if message and type(text) is str and text:
        return f"{kind}: {text[:300]}"
    return kind


def _status_of(error_type: object) -> str:
    return "memory" if error_type == "MemoryError" else "error"
