"""The global state a kata might change, kept before any learner code runs and put back
around every test.

* `guard_grading`: in a session that grades, before any learner code runs: the target
  pinned, the katas' contracts read, grader.audit's hook installed, and the import system
  and the namespaces the checks rely on recorded;
* `reset_globals`: default dtype and device, grad and anomaly mode, seeds, threads, cwd,
  recursion limit, and (in a session that grades) the import system, no module of the
  reference while exercises/ is graded, and after each kata the functions and classes of
  torch, Python's builtins, the tests and the grader as they were: one that learner code
  replaced is put back, and the kata's last test fails (`GlobalStateChanged`);
* `check_globals_untouched`: the default dtype and grad mode after a kata's call.

grader.plugin.isolation calls them from the test's phases.
"""

from __future__ import annotations

import os
import random
import sys

from grader import layout, target
from grader.plugin.namespaces import Namespace, relied_on, restore
from grader.plugin.state import State


class GlobalStateChanged(AssertionError):
    """Learner code left a global torch setting changed."""


def guard_grading(state: State, module_ids: set[str]) -> None:
    """Before any learner code runs in a session that grades: the target pinned (learner
    code cannot switch it to the reference), the katas' contracts read (they come from
    solutions/, which grader.audit keeps from learner code), the audit hook installed,
    and the import system's state kept, to be put back before every test."""
    from grader import audit

    name, root = target.pin()
    for module_id in sorted(module_ids):
        target.contract(module_id)
    audit.install(name, root / name, layout.ROOT)
    state.baseline["imports"] = {
        attr: (getattr(sys, attr), list(getattr(sys, attr)))
        for attr in ("path", "meta_path", "path_hooks")
    }
    state.baseline["refuse_reference"] = name == "exercises"
    state.baseline["modules"] = -1  # how many there were when sys.modules was last checked
    state.baseline["namespaces"] = [Namespace(owner) for owner in relied_on()]


def _restore_imports(state: State) -> None:
    """sys.path, sys.meta_path and sys.path_hooks as they were before any learner code
    ran (compared by identity: an entry's own == could say anything), and while
    exercises/ is graded no module of the reference in sys.modules (where it would be
    found without asking the import guard; grader.audit keeps its source from being read,
    so this is a second line)."""
    base = state.baseline
    for attr, (kept, items) in base["imports"].items():
        if getattr(sys, attr) is not kept:
            setattr(sys, attr, kept)
        if len(kept) != len(items) or any(a is not b for a, b in zip(kept, items, strict=True)):
            kept[:] = items
    if base["refuse_reference"] and len(sys.modules) != base["modules"]:  # a scan costs 0.2 ms
        for name in [m for m in sys.modules if str(m).partition(".")[0] == "solutions"]:
            del sys.modules[name]
        base["modules"] = len(sys.modules)


def reset_globals(state: State, namespaces: bool = False) -> None:
    """Put every global setting a kata might touch back to its canonical value. With
    `namespaces` (after a kata's last test), also put back the functions the checks rely
    on, and raise GlobalStateChanged, once everything is put back, if learner code had
    replaced one: that kata fails, and the next one is graded as if nothing happened.
    (Reading ~3,300 names costs ~1 ms between tests, with the caches cold: once a kata
    saves a few percent of a grading run.)"""
    replaced = ""
    if "imports" in state.baseline:
        if namespaces:
            replaced = restore(state.baseline["namespaces"])
        _restore_imports(state)
    random.seed(0)
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        numpy.random.seed(0)
    torch = sys.modules.get("torch")
    if torch is None:
        return
    torch.set_default_dtype(torch.float32)
    torch.set_default_device(None)
    torch.set_grad_enabled(True)
    torch.autograd.set_detect_anomaly(False)
    if torch.are_deterministic_algorithms_enabled():  # the setter costs ~2 s on first use
        torch.use_deterministic_algorithms(False)
    _seed_torch(torch)
    base = state.baseline
    if base:
        if torch.get_num_threads() != base["threads"]:
            torch.set_num_threads(base["threads"])
        if os.getcwd() != base["cwd"]:
            os.chdir(base["cwd"])
        sys.setrecursionlimit(base["recursion"])
    if replaced:
        raise GlobalStateChanged(
            f"the code replaced {replaced}, which the checks and the tests rely on: a kata "
            "may not change torch, Python's builtins, the tests or the grader (it is put back)"
        )


def _seed_torch(torch) -> None:
    """torch.manual_seed(0), at a fraction of its cost after the first time.

    Where CUDA has not started, torch.manual_seed queues the seeding of each device kind
    (CUDA, XPU, MTIA) for later, formatting the stack each time: ~1.5 ms under pytest's
    deep stack, half a second of Sprint 3's grading. Queued once, seed 0 is what CUDA gets
    when it starts; after that only the CPU generator needs seeding, unless CUDA runs
    already or learner code queued a seed of its own since (torch keeps only the latest
    queued seed, in `_lazy_seed_tracker`; without it, every call is the full one)."""
    tracker = getattr(torch.cuda, "_lazy_seed_tracker", None)
    same = tracker is not None and _same_calls(tracker.get_calls(), _queued_seeds)
    if not same or torch.cuda.is_initialized():
        torch.manual_seed(0)
        if tracker is not None:
            _queued_seeds[:] = tracker.get_calls()
    else:
        torch.default_generator.manual_seed(0)


_queued_seeds: list = [object()]  # CUDA's queued seeds after our last full seeding (none yet)


def _same_calls(calls: list, kept: list) -> bool:
    """The very same objects (held here, so no id can be reused by a newer call)."""
    return len(calls) == len(kept) and all(a is b for a, b in zip(calls, kept))


def check_globals_untouched(kid: str) -> None:
    torch = sys.modules.get("torch")
    if torch is None:
        return
    if torch.get_default_dtype() != torch.float32:
        raise GlobalStateChanged(
            f"{kid} left the default dtype set to {torch.get_default_dtype()}: a kata must not "
            "change global settings (torch.set_default_dtype); pass dtype= where you need one"
        )
    if not torch.is_grad_enabled():
        raise GlobalStateChanged(
            f"{kid} left gradient recording switched off: use `with torch.no_grad():` "
            "so that it is switched back on when the block ends"
        )
