"""A warm process that forks pytest children, so that a grade does not import torch again.

`python -m grader.watch` starts one `Server`. Its process (`python -m grader.forkserver`)
imports torch, pytest, the grader's pytest plugin and the graded tests' imports once,
runs no torch op and no learner code, then waits. For each grade it forks a child that
runs `pytest.main(ARGS)` as `python -m pytest ARGS` would (the project's root as cwd, the
requested environment, stdout to /dev/null, stderr to the caller's file, a session of
its own, killed if the server dies, under the limits its environment names) and reports
the child's pid and exit status. The server is a child subreaper: whatever a child
started, even in a session of its own, is killed and reaped before its exit is reported.

`Server.launch` has `runner.spawn`'s interface: `runner.run(..., launch=server.launch)`.
The server dies with the process that started it; a server that died is started again.
This module's top level is standard library only: torch is imported in the server.
"""

from __future__ import annotations

import ast
import contextlib
import gc
import importlib
import json
import os
import select
import selectors
import signal
import socket
import subprocess
import sys
import time
import traceback
from pathlib import Path

from grader import processes, runner
from grader.catalog import ROOT

MESSAGE_LIMIT = 1 << 20  # bytes of one request (arguments and environment as JSON)
START_LIMIT = 120.0  # seconds for a server to import torch and fork its first child
WAIT_STEP = 1.0  # seconds between checks that a child waited for still exists
RUN_ONLY = (  # variables that may differ per grade without a new server
    "KATA_SELECT",
    "KATA_BROKEN_IMPORTS",
    "KATA_MEMORY_LIMIT",
    "KATA_FILE_LIMIT",
)
ALWAYS = (  # what every grading child needs, whatever the tests import
    "ctypes",
    "numpy",
    "torch",
    "torch.nn",
    "torch.nn.functional",
    "pytest",
    "grader.plugin",
    "grader.checks",
    "grader.guard",
    "grader.variants",
)
SKIP_ROOTS = {"tests", "exercises", "solutions", "__future__"}  # never imported ahead


def available() -> bool:
    """Whether this platform has what the server needs (fork, prctl, pidfd_open)."""
    return sys.platform.startswith("linux") and hasattr(os, "pidfd_open")


# --- the caller's side ----------------------------------------------------------------


class Child:
    """A grading child seen from the caller: the part of Popen's interface runner uses."""

    def __init__(self, server: Server, pid: int):
        self.server = server
        self.pid = pid
        self.returncode: int | None = None

    @property
    def helpers(self) -> tuple[int, ...]:
        """The server: a process of the launcher's, not the run's (runner leaves it be)."""
        proc = self.server.proc
        return (proc.pid,) if proc is not None else ()

    def poll(self) -> int | None:
        if self.returncode is None:
            self.server.collect(0)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.returncode is None:
            left = WAIT_STEP if deadline is None else deadline - time.monotonic()
            if left <= 0:
                raise subprocess.TimeoutExpired(f"pytest child {self.pid}", timeout)
            self.server.collect(min(left, WAIT_STEP))
            if self.returncode is None and not _exists(self.pid):
                self.server.collect(WAIT_STEP)  # its exit may be on its way
                if self.returncode is None:  # its report was lost (an interrupted read)
                    self.returncode = -signal.SIGKILL
        return self.returncode


class Server:
    """The caller's handle on one warm server; `launch` stands in for `runner.spawn`."""

    def __init__(self, env: dict[str, str], sprints: list[str] = ()):
        self.env = _base(env)  # the server's environment, less what may change per grade
        self.sprints = list(sprints)  # whose tests' imports it loads ahead
        self.proc: subprocess.Popen | None = None
        self.sock: socket.socket | None = None
        self.children: dict[int, Child] = {}  # pid → child not yet reported ended

    def start(self) -> None:
        """Start the server process; it loads torch while the caller goes on."""
        self.stop()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        with theirs:
            command = [sys.executable, "-m", "grader.forkserver", str(theirs.fileno())]
            self.proc = subprocess.Popen(
                [*command, str(os.getpid()), *self.sprints],
                cwd=ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,  # it prints nothing; its children write to files
                pass_fds=[theirs.fileno()],
                start_new_session=True,  # a Ctrl-C at the terminal is the caller's to handle
            )  # no preexec_fn (unsafe beside the caller's threads): it sets PDEATHSIG itself
        self.sock = ours

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None and self.sock is not None

    def stop(self) -> None:
        """Kill the server and every child it still runs; safe to call twice."""
        for child in list(self.children.values()):
            _kill_group(child.pid)
        self._lost()
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
            self.proc.wait()
            self.proc = None

    def launch(self, args: list[str], env: dict[str, str], stderr) -> Child | subprocess.Popen:
        """Fork a child that runs pytest with ARGS; like `runner.spawn`, and falls back to
        it when no server can be started."""
        if _base(env) != self.env:
            self.env = _base(env)
            self.stop()
        for _ in range(2):  # a dead server is replaced once per launch
            if not self.alive():
                self.start()
            pid = self._request(args, env, stderr)
            if pid is not None:
                self.children[pid] = Child(self, pid)
                return self.children[pid]
            self.stop()
        return runner.spawn(args, env, stderr)

    def _request(self, args: list[str], env: dict[str, str], stderr) -> int | None:
        """Ask for a child; its pid, or None when the server is gone."""
        request = json.dumps({"args": args, "env": env, "cwd": str(ROOT)}).encode()
        try:
            socket.send_fds(self.sock, [request], [stderr.fileno()])
        except OSError:
            return None
        deadline = time.monotonic() + START_LIMIT
        while self.sock is not None:
            message = self._receive(deadline - time.monotonic())
            if message is None:
                return None
            if "pid" in message:
                return message["pid"]
        return None

    def collect(self, timeout: float | None) -> None:
        """Read what the server reports, waiting up to `timeout` for the first message."""
        while self.sock is not None and self._receive(timeout) is not None:
            timeout = 0

    def _receive(self, timeout: float | None) -> dict | None:
        """One message; None when none came in time, or the server is gone. Exits are
        recorded on their children as they come."""
        if timeout is not None and not select.select([self.sock], [], [], max(timeout, 0))[0]:
            return None
        try:
            data = self.sock.recv(MESSAGE_LIMIT)
        except OSError:
            data = b""
        if not data:
            self._lost()
            return None
        message = json.loads(data)
        if "exit" in message:
            child = self.children.pop(message["exit"], None)
            if child is not None:
                child.returncode = message["code"]
        return message

    def _lost(self) -> None:
        """The server is gone: its children died with it (PR_SET_PDEATHSIG)."""
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        for child in self.children.values():
            child.returncode = -signal.SIGKILL
        self.children.clear()


def _base(env: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if k not in RUN_ONLY}


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


# --- the server's side ----------------------------------------------------------------


def heavy_imports(sprints: list[str], root: Path = ROOT) -> list[str]:
    """The modules to load ahead: ALWAYS, then the absolute top-level imports of the
    sprints' tests and reference solutions (never the learner's tree, nor tests/ itself)."""
    names = list(ALWAYS)
    files = []
    for sprint in sprints:
        files += sorted((root / "tests" / sprint).glob("test_*.py"))
        files += sorted((root / "solutions" / sprint).glob("*.py"))
    for path in files:
        try:
            body = ast.parse(path.read_text()).body
        except (OSError, SyntaxError, ValueError):
            continue
        for node in body:
            if isinstance(node, ast.Import):
                names += [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.append(node.module)
    return [n for n in dict.fromkeys(names) if n.split(".")[0] not in SKIP_ROOTS]


def preload(names: list[str]) -> None:
    """Import each module (one that fails to import is left to the child to report)."""
    gc.disable()  # as in grader.child: no full collection walks what the imports make
    for name in names:
        with contextlib.suppress(Exception):
            importlib.import_module(name)
    gc.freeze()  # children then leave these objects' pages alone (less copy-on-write)
    gc.enable()


def serve(sock: socket.socket) -> None:
    """Fork a child per request and report its pid, then its exit; return when the
    caller closes its end."""
    selector = selectors.DefaultSelector()
    selector.register(sock, selectors.EVENT_READ)
    while True:
        for key, _ in selector.select():
            if key.fileobj is not sock:
                _reap(key.fileobj, key.data, sock, selector)
                continue
            try:
                data, fds, _, _ = socket.recv_fds(sock, MESSAGE_LIMIT, 1)
            except OSError:
                return
            if not data:
                return
            pid = _fork(json.loads(data), fds[0], sock, selector)
            os.close(fds[0])
            selector.register(os.pidfd_open(pid), selectors.EVENT_READ, pid)
            _send(sock, pid=pid)


def _send(sock: socket.socket, **message) -> None:
    try:
        sock.send(json.dumps(message).encode())
    except OSError:
        sys.exit(0)  # the caller is gone; the children die with this process


def _reap(pidfd: int, pid: int, sock: socket.socket, selector) -> None:
    """A child ended: reap it, then kill and reap what it left (the processes now under
    the server that are not its other children), then report its exit."""
    selector.unregister(pidfd)
    os.close(pidfd)
    _, status = os.waitpid(pid, 0)
    running = {key.data for key in selector.get_map().values() if key.fileobj is not sock}
    processes.reap_descendants(keep=running)
    _send(sock, exit=pid, code=os.waitstatus_to_exitcode(status))


def _fork(request: dict, stderr: int, sock: socket.socket, selector) -> int:
    """Fork the child; return its pid once it is in a session of its own, so that the
    caller's kill of its process group reaches it."""
    server = os.getpid()
    ready_read, ready_write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(ready_read)
        inherited = [k.fileobj for k in selector.get_map().values() if k.fileobj is not sock]
        _child(request, stderr, server, ready_write, [sock, selector, *inherited])
    os.close(ready_write)
    os.read(ready_read, 1)  # end of file: the child has its session (or has died)
    os.close(ready_read)
    return pid


def _child(request: dict, stderr: int, server: int, ready: int, inherited: list) -> None:
    """In the forked child: become `python -m pytest ARGS`, then exit with its code."""
    code = 1
    try:
        os.setsid()
        processes.die_with_parent()
        if os.getppid() != server:  # it died before the line above
            os._exit(1)
        os.close(ready)
        for thing in inherited:  # the server's socket, selector and pidfds
            if isinstance(thing, int):
                os.close(thing)
            else:
                thing.close()
        _redirect(stderr)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        processes.apply_limits(processes.Limits.from_env(request["env"]).rlimits())
        code = _pytest_main(request["args"])
    except SystemExit as exc:  # as the interpreter would end on it
        if exc.code is None or isinstance(exc.code, int):
            code = exc.code or 0
        else:
            print(exc.code, file=sys.stderr)
    except BaseException:
        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(int(code))


def _redirect(stderr: int) -> None:
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    os.dup2(stderr, 2)
    os.close(devnull)
    os.close(stderr)


def _pytest_main(args: list[str]) -> int:
    import pytest  # loaded by preload: no cost here

    sys.argv = [str(Path(pytest.__file__).with_name("__main__.py")), *args]
    return int(pytest.main(args))


def main(argv: list[str]) -> None:
    """`python -m grader.forkserver FD PARENT [SPRINT...]`: die with PARENT, load what
    the SPRINTs' tests need, and serve on the socket FD."""
    sock = socket.socket(fileno=int(argv[0]))
    processes.die_with_parent()
    processes.become_subreaper()
    if os.getppid() != int(argv[1]):  # it died before the line above
        return
    preload(heavy_imports(argv[2:]))
    serve(sock)


if __name__ == "__main__":
    main(sys.argv[1:])
