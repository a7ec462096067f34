"""An audit hook (PEP 578) that keeps the graded code to its own arguments.

`install` runs in a grading session before any code of the graded tree is imported
(grader.plugin.isolation). From then on, whenever the code asking is the graded tree's,
the hook refuses:

* frame objects: `sys._getframe` (and `inspect.currentframe`, `inspect.stack`, ...
  built on it), a traceback's `tb_frame`, a generator's or coroutine's frame,
  `sys._current_frames`. `frame.f_back` is not audited, so any frame, the code's own
  included, leads up to the test's frame: its locals (the expected answer) and globals
  (the test's oracle). Tracing (`sys.settrace`, `sys.setprofile`) and the garbage
  collector's lists of objects (`gc.get_objects`, `get_referrers`, `get_referents`)
  reach the same things, and are refused too;
* changes to the grader's own settings (the `KATA_*` environment variables), and
  ctypes, which reaches anything;
* while `exercises` is graded, the reference: importing `solutions`, opening any file
  under solutions/ (importlib's loaders, runpy and `exec(open(...).read())` all open
  it, a symbolic link leads there) or in the project's git history, giving such a file a
  second name (a hard link, a move), and starting another process (`cat`, `git show`).

"The graded tree's code asking" is decided from the frames on the stack, by their
globals: a frame whose globals are the dict of a module loaded from the graded tree, or
of no module at all (code run by `exec` in a namespace of its own), is the learner's;
the grader's and the tests' modules are the harness; the standard library and installed
packages are libraries, which ask on behalf of whoever called them. The grader itself
reads solutions/ (grader.catalog) and walks frames (grader.guard); that stays allowed.

This is not a sandbox. Code that sets out to impersonate the harness (code compiled and
run inside a harness module's globals, a module registered under a stolen name) is not
stopped, and neither is code that patches torch, the tests or the grader (setting a
module's or a class's attribute raises no audit event: `torch.Tensor.__ne__ = ...` goes
unseen). The hook closes the ways that a learner reaches for on a whim, and leaves the
others plainly deliberate.

The hook runs for every audited event in the process, so the common ones (`exec`,
`import`, `compile`, a function's `__code__`, a frame's `f_code`) return after a set
lookup or two; an event that is checked costs a few microseconds.
"""

from __future__ import annotations

import inspect
import os
import pathlib
import sys
import sysconfig
import traceback
from pathlib import Path

LIBRARY, HARNESS, LEARNER = "library", "harness", "learner"

FRAME_ATTRIBUTES = {
    "tb_frame": "a traceback's tb_frame",
    "gi_frame": "a generator's gi_frame",
    "cr_frame": "a coroutine's cr_frame",
    "ag_frame": "an async generator's ag_frame",
}
PATH_TYPES = {
    *(getattr(pathlib, n) for n in ("PurePath", "PurePosixPath", "PureWindowsPath")),
    *(getattr(pathlib, n) for n in ("Path", "PosixPath", "WindowsPath")),
    os.DirEntry,
}
PATHS = ("open", "os.link", "os.rename")  # a second name for a file is as good as the file
SPAWNS = ("subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "pty.spawn")
CTYPES = (
    "ctypes.addressof", "ctypes.call_function", "ctypes.cdata", "ctypes.cdata/buffer",
    "ctypes.create_string_buffer", "ctypes.create_unicode_buffer", "ctypes.dlopen",
    "ctypes.dlsym", "ctypes.dlsym/handle", "ctypes.get_errno", "ctypes.set_errno",
    "ctypes.PyObj_FromPtr", "ctypes.string_at", "ctypes.wstring_at",
)  # fmt: skip


class Refused(PermissionError):
    """The graded code tried something the grader does not let it do."""


class RefusedImport(ImportError):
    """The graded code tried to import the reference solutions."""


def install(target: str, learner_folder: Path, root: Path) -> None:
    """Add the hook for this process (it cannot be taken away again).

    target: the graded tree's package name; learner_folder: its folder; root: the
    project's root, whose solutions/ and .git/ are the reference while `exercises` is
    graded, and whose grader/, tests/ and benchmarks/ are the harness.
    """
    sys.addaudithook(_hook(target, learner_folder, root))


def _hook(target: str, learner_folder: Path, root: Path):
    # Everything the hook uses is bound here, once: the graded code can rebind the names
    # of a module (sys._getframe, os.path.realpath, this module's globals), not these.
    getframe, modules = sys._getframe, sys.modules
    realpath, fsdecode = os.path.realpath, os.fsdecode
    stdlib_names = sys.stdlib_module_names
    learner = str(learner_folder) + os.sep
    package = target + "."
    harness = tuple(str(root / name) + os.sep for name in ("grader", "tests", "benchmarks"))
    paths = sysconfig.get_paths()
    libraries = tuple(
        {paths[k] + os.sep for k in ("stdlib", "platstdlib", "purelib", "platlib")}
        | {sys.base_prefix + os.sep, sys.prefix + os.sep}
    )
    hands_out = {
        f.__code__
        for f in (
            inspect.currentframe,
            inspect.stack,
            inspect.trace,
            inspect.getouterframes,
            inspect.getinnerframes,
            traceback.walk_stack,
            traceback.walk_tb,
        )
    }
    refuse_reference = target == "exercises"
    reference = tuple(
        {realpath(r / "solutions") + os.sep for r in (root, learner_folder.parent)}
        | {realpath(root / ".git") + os.sep}
    )
    kinds: dict[int, tuple[dict, str]] = {}  # id(globals) → (globals, kind), for modules

    def kind(g: dict) -> str:
        known = kinds.get(id(g))
        if known is not None and known[0] is g:
            return known[1]
        name = g.get("__name__")
        module = modules.get(name) if type(name) is str else None
        if module is None or getattr(module, "__dict__", None) is not g:
            return LEARNER  # run by exec in a namespace of its own: nobody vouches for it
        path = g.get("__file__")
        if name == target or name.startswith(package):
            found = LEARNER
        elif type(path) is not str:
            found = LIBRARY if name.partition(".")[0] in stdlib_names else LEARNER
        elif path.startswith(learner):
            found = LEARNER
        elif path.startswith(harness):
            found = HARNESS
        elif path.startswith(libraries):
            found = LIBRARY
        else:
            found = LEARNER  # a module of the learner's own, outside the tree
        kinds[id(g)] = (g, found)
        return found

    def asker(frame) -> str:
        """Whose request this is: the innermost frame outside the libraries decides."""
        while frame is not None:
            found = kind(frame.f_globals)
            if found != LIBRARY:
                return found
            frame = frame.f_back
        return LIBRARY

    def receiver(frame) -> str:
        """Who gets the frame object that `frame` asked for: the functions of inspect and
        traceback that return frames hand them on to their caller; other libraries keep
        theirs to themselves (logging's caller lookup, namedtuple's module name, ...)."""
        found = kind(frame.f_globals)
        if found != LIBRARY or frame.f_code not in hands_out:
            return found
        while frame is not None and frame.f_code in hands_out:
            frame = frame.f_back
        return LIBRARY if frame is None else kind(frame.f_globals)

    def learner_on_stack(frame) -> bool:
        while frame is not None:
            if kind(frame.f_globals) == LEARNER:
                return True
            frame = frame.f_back
        return False

    def shown(path: str) -> str:
        try:
            return str(Path(path).relative_to(root))
        except ValueError:
            return path

    def check(event: str, args: tuple, caller) -> None:
        if event == "sys._getframe" or event == "object.__getattr__":
            if receiver(caller) == LEARNER:
                what = "sys._getframe" if event == "sys._getframe" else FRAME_ATTRIBUTES[args[1]]
                raise Refused(
                    f"the kata's code asked for a frame object ({what}): a kata works from "
                    "its arguments alone, and a frame leads up to the test's own variables"
                )
        elif event in PATHS:
            if learner_on_stack(caller):
                opened(args[0], {"open": "opened", "os.link": "linked to"}.get(event, "moved"))
        elif event in ("os.putenv", "os.unsetenv"):
            key = args[0] if isinstance(args[0], str) else fsdecode(args[0])
            if asker(caller) == LEARNER:
                raise Refused(
                    f"the kata's code changed {key}, one of the grader's own settings: a kata "
                    "may not change how it is graded"
                )
        elif asker(caller) == LEARNER:
            if event in SPAWNS:
                if refuse_reference:
                    raise Refused(
                        f"the kata's code started a process ({event}): while exercises/ is "
                        "graded, a kata runs in the grader's process only"
                    )
            elif event.startswith("ctypes."):
                raise Refused(f"the kata's code used ctypes ({event}), which reaches anything")
            else:
                raise Refused(
                    f"the kata's code called {event}: a kata works from its arguments alone, "
                    "and this reaches the test's frames and objects"
                )

    def opened(target_path, how: str) -> None:
        if type(target_path) in PATH_TYPES:  # not a subclass: its __fspath__ is the stdlib's
            target_path = os.fspath(target_path)
        if not isinstance(target_path, str | bytes):
            raise Refused(
                "the kata's code opened a file by a path object of its own making: give "
                "open() a str, bytes or pathlib.Path"
            )
        path = realpath(fsdecode(target_path))
        if (path + os.sep).startswith(reference):
            raise Refused(
                f"the kata's code {how} {shown(path)}, the reference solutions: while "
                "exercises/ is graded the reference is off limits. Write the kata yourself."
            )

    checked = {
        "sys._getframe",
        "object.__getattr__",
        *PATHS,
        "os.putenv",
        "os.unsetenv",
        "sys._current_frames",
        "sys.settrace",
        "sys.setprofile",
        "gc.get_objects",
        "gc.get_referrers",
        "gc.get_referents",
        *SPAWNS,
        *CTYPES,
    }

    busy = False  # one flag for all threads: see below

    def hook(event: str, args: tuple) -> None:
        nonlocal busy
        if event == "object.__getattr__":  # the commonest: a function's __code__, a frame's
            if args[1] not in FRAME_ATTRIBUTES:  # f_code (the guard reads it at every op)
                return
        elif event not in checked:
            if event == "import" and refuse_reference:
                name = args[0]
                if name == "solutions" or name.startswith("solutions."):
                    raise RefusedImport(
                        f"import of {name!r} refused: while exercises/ is graded, the "
                        "learner's code may not import the reference solutions. Write the "
                        "kata yourself."
                    )
            return
        elif event in PATHS:
            if not refuse_reference or isinstance(args[0], int):
                return
        elif event == "os.putenv" or event == "os.unsetenv":
            key = args[0]
            if not (key if isinstance(key, str) else fsdecode(key)).startswith("KATA_"):
                return  # pytest sets PYTEST_CURRENT_TEST at every phase of every test
        if busy:
            # The hook's own getframe and attribute reads raise events too. (An event of
            # another thread that comes while this one is in the hook goes unchecked: a
            # thread's own frames lead only to its own stack, never to a test's.)
            return
        busy = True
        try:
            caller = getframe(1)
            known = kinds.get(id(caller.f_globals))
            harness = known is not None and known[0] is caller.f_globals and known[1] == HARNESS
            if not harness or event in PATHS:  # the guard's getframe: the harness's own
                check(event, args, caller)
        finally:
            busy = False

    return hook
