"""What a grading process may use, and what is left of it when it is done.

* `Limits`: the memory, the size of each file and the processes and threads a grading
  child may take (set in the child before it runs anything: `apply_limits`), and the
  note that names a limit in the error of a test that broke it;
* `become_subreaper` and `reap_descendants`: the process that starts grading children
  adopts whatever they leave behind, even a process in a session of its own (Linux), and
  kills and reaps all of it once a child is done;
* `die_with_parent`: a child is killed when the process that started it dies.

Standard library only: the trusted parent (grader.runner) and the warm fork server
(grader.forkserver) use it.
"""

from __future__ import annotations

import contextlib
import os
import re
import resource
import signal
import sys
import time
from dataclasses import dataclass

REAP_LIMIT = 10.0  # seconds to kill and reap what a child left behind
MEMORY_LIMIT = 4 << 30  # bytes of memory a grading process may take (--memory-limit)
FILE_LIMIT = 256 << 20  # bytes any one file a grading process writes may grow to
PROCESS_MARGIN = 256  # processes and threads a grading process may start on top of the user's
PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36


# --- limits ---------------------------------------------------------------------------------

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*$", re.IGNORECASE)


def parse_size(text: str) -> int | None:
    """Bytes from "4G", "4GiB", "512M", "1.5g" or a plain count of bytes; None for "0",
    "none" or "off" (no limit). ValueError for anything else."""
    if text.strip().lower() in ("0", "none", "off"):
        return None
    found = _SIZE.match(text)
    if not found:
        raise ValueError(f"not a size: {text!r} (say 4G, 512M or none)")
    power = " kmgt".index(found.group(2).lower() or " ")
    return int(float(found.group(1)) * 1024**power)


def show_size(size: int) -> str:
    """4294967296 → "4 GiB"."""
    for unit, power in (("TiB", 4), ("GiB", 3), ("MiB", 2), ("KiB", 1)):
        if size >= 1024**power:
            return f"{size / 1024**power:.3g} {unit}"
    return f"{size} bytes"


@dataclass(frozen=True)
class Limits:
    """What each grading process may use. Breaking a limit is an error of that test, with
    the limit named (`note`). The memory limit is RLIMIT_DATA, not RLIMIT_AS: CUDA reserves
    far more address space than it uses, and those reservations do not count as data."""

    memory: int | None = MEMORY_LIMIT  # bytes of data (heap and private mappings)
    files: int | None = FILE_LIMIT  # bytes any one file may grow to (output floods)
    processes: int | None = PROCESS_MARGIN  # tasks beyond the user's (not for root)

    def to_env(self) -> dict[str, str]:
        """The limits as a child's launcher reads them (spawn, grader.forkserver)."""
        return {
            "KATA_MEMORY_LIMIT": str(self.memory or "none"),
            "KATA_FILE_LIMIT": str(self.files or "none"),
        }

    @classmethod
    def from_env(cls, env: dict[str, str]) -> Limits:
        memory = env.get("KATA_MEMORY_LIMIT")
        files = env.get("KATA_FILE_LIMIT")
        return cls(
            memory=MEMORY_LIMIT if memory is None else parse_size(memory),
            files=FILE_LIMIT if files is None else parse_size(files),
        )

    def rlimits(self) -> list[tuple[int, int]]:
        """(resource, value) pairs to set in a child, soft and hard alike."""
        pairs = []
        if self.memory:
            pairs.append((resource.RLIMIT_DATA, self.memory))
        if self.files:
            pairs.append((resource.RLIMIT_FSIZE, self.files))
        if self.processes and os.getuid() != 0:  # root is never held to RLIMIT_NPROC
            pairs.append((resource.RLIMIT_NPROC, _user_tasks(os.getuid()) + self.processes))
        return pairs

    def out_of_memory(self, message: str) -> bool:
        return bool(self.memory and _OUT_OF_MEMORY.search(message))

    def note(self, message: str) -> str:
        """Why a test's error may be a limit of the grader's, or ""."""
        if self.out_of_memory(message):
            return (
                f"the grader limits each grading process to {show_size(self.memory)} of "
                "memory (--memory-limit)"
            )
        if self.files and "[Errno 27]" in message:
            return (
                f"the grader limits each file a grading process writes to {show_size(self.files)}"
            )
        if self.processes and os.getuid() != 0 and _NO_PROCESS.search(message):
            return (
                f"the grader lets a grading process start at most {self.processes} processes "
                "and threads"
            )
        return ""


_OUT_OF_MEMORY = re.compile(
    r"can't allocate memory|Cannot allocate memory|\bMemoryError\b|bad_alloc"
)
_NO_PROCESS = re.compile(r"\[Errno 11\]|can't start new thread")


def _user_tasks(uid: int) -> int:
    """How many processes and threads the user runs now (what RLIMIT_NPROC counts)."""
    count = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            if entry.stat().st_uid != uid:
                continue
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                count += int(f.read().rsplit(b")", 1)[1].split()[17])  # num_threads
        except (OSError, IndexError, ValueError):
            continue
    return count


def apply_limits(rlimits: list[tuple[int, int]]) -> None:
    """In a child: take on the limits (soft and hard, so that it cannot raise them)."""
    for kind, value in rlimits:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(kind, (value, value))


# --- processes ------------------------------------------------------------------------------


def _prctl(option: int, value: int) -> None:
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0)


def die_with_parent() -> None:
    """In the child, before exec: on Linux, be killed when the parent dies, even by
    SIGKILL, so that a hung child is never left running on its own."""
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def become_subreaper() -> None:
    """Adopt every orphan of this process's descendants (Linux), even one that left their
    session: `reap_descendants` then finds it. Idempotent."""
    _prctl(PR_SET_CHILD_SUBREAPER, 1)


def _parents() -> dict[int, int]:
    """pid → parent pid of every process (Linux /proc; {} elsewhere)."""
    found = {}
    with contextlib.suppress(OSError):
        for entry in os.scandir("/proc"):
            if entry.name.isdigit():
                try:
                    with open(f"/proc/{entry.name}/stat", "rb") as f:
                        found[int(entry.name)] = int(f.read().rsplit(b")", 1)[1].split()[1])
                except (OSError, IndexError, ValueError):
                    continue
    return found


def _below(root: int, parents: dict[int, int], keep: set[int]) -> list[int]:
    """The processes under `root`, less those in `keep` and all under them."""
    children: dict[int, list[int]] = {}
    for pid, ppid in parents.items():
        children.setdefault(ppid, []).append(pid)
    found, todo = [], [p for p in children.get(root, []) if p not in keep]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo += [p for p in children.get(pid, []) if p not in keep]
    return found


def children() -> set[int]:
    """The pids of this process's children now."""
    me = os.getpid()
    return {pid for pid, ppid in _parents().items() if ppid == me}


def reap_descendants(keep: set[int] = frozenset()) -> list[int]:
    """Kill and reap every process under this one but `keep` and theirs; return the pids
    killed. Loops until none is left (a process may fork while it is being killed)."""
    me, killed = os.getpid(), []
    deadline = time.monotonic() + REAP_LIMIT
    while time.monotonic() < deadline:
        parents = _parents()
        victims = _below(me, parents, set(keep))
        if not victims:
            break
        for pid in victims:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        killed += [p for p in victims if p not in killed]
        for pid in victims:
            if parents.get(pid) == me:
                with contextlib.suppress(ChildProcessError, OSError):
                    os.waitpid(pid, os.WNOHANG)
        time.sleep(0.005)
    return killed
