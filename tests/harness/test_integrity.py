"""A kata never passes without the learner writing it.

The attacks below were false passes once: a skip raised from code compiled under another
file name, values whose comparisons lie (or torch patched to agree), a kata that reads
the answer out of the test's frames, the reference reached around the import guard; so
were, or broke grading, the grader's own settings changed from learner code, an emptied
sys.path, a thread left running, an exception that cannot be shown. The graded ones
plant the attacks in a copy of the reference and grade it as a learner would: the
attacks that do not interfere share one run (`cheats`), one attack per kata, and one
test per attack asserts that its kata did not pass, with a message that names what it
did, while every other kata keeps its true status. The rest check one function of the
grader in this process, or the audit hook in a small interpreter of its own.
"""

import json
import os
import subprocess
import sys
import textwrap

import pytest

from grader import catalog
from tests.harness.conftest import XDIST_VARIABLES, Planted, statuses

SPRINT1 = [k.id for k in catalog.katas("sprint1")]
REFERENCE = 'os.path.join(os.getcwd(), "solutions", "sprint1", "{}.py")'  # where a learner finds it


def swap(planted: Planted, kata: str, code: str) -> None:
    """Put `code` (a def, and whatever it needs) in the kata's place; the reference's own
    def stays in the file, under a private name."""
    module_id, name = kata.rsplit(".", 1)
    planted.replace(module_id, f"\ndef {name}(", f"\n{textwrap.dedent(code)}\n\ndef _was_{name}(")


LYING_TENSOR = """
        class _AlwaysClose(torch.Tensor):
            # every comparison the checks make says "equal"
            @classmethod
            def __torch_function__(cls, func, types, args=(), kwargs=None):
                if func is torch.isclose:
                    return torch.ones(args[1].shape, dtype=torch.bool)
                if func in (torch.Tensor.ne, torch.Tensor.__ne__):
                    return torch.zeros(args[1].shape, dtype=torch.bool)
                return super().__torch_function__(func, types, args, kwargs)

"""

CHEATS = {  # kata → the code that stands in for it
    # 1. a skip or an xfail raised from code compiled under a name outside exercises/
    "sprint1.tensors.gather_rows": """
        import textwrap

        _SOURCE = '''
            import pytest

            def gather_rows(x, index):
                if not x.is_floating_point():
                    pytest.skip('no CUDA device on this machine')
                return x.gather(1, index.unsqueeze(1)).squeeze(1)
        '''
        exec(compile(textwrap.dedent(_SOURCE), "<frozen kata>", "exec"))
        """,
    "sprint1.tensors.pick_device": """
        import textwrap

        _SOURCE = '''
            import pytest
            import torch

            def pick_device():
                if torch.cuda.is_available() or torch.backends.mps.is_available():
                    pytest.xfail('later')
                return torch.device('cpu')
        '''
        exec(compile(textwrap.dedent(_SOURCE), "<frozen kata>", "exec"))
        """,
    # 2. values whose comparisons lie
    "sprint1.tensors.channels_last": LYING_TENSOR
    + """
        def channels_last(images):
            N, C, H, W = images.shape
            return torch.zeros(N, H, W, C).as_subclass(_AlwaysClose)
        """,
    "sprint1.tensors.arange_grid": LYING_TENSOR
    + """
        def arange_grid(rows, cols):
            return torch.zeros(rows, cols, dtype=torch.int64).as_subclass(_AlwaysClose)
        """,
    "sprint1.first_network.count_params": """
        class _AnyInt(int):
            def __eq__(self, other):
                return True

            def __ne__(self, other):
                return False

            __hash__ = int.__hash__


        def count_params(params):
            return _AnyInt(0)
        """,
    "sprint1.autograd.derivative": """
        class _NoDifference(float):
            def __sub__(self, other):
                return 0.0


        def derivative(f, x):
            return _NoDifference(0.0)
        """,
    "sprint1.tensors.merge_heads": """
        def merge_heads(x):
            # every comparison says "equal" from here on, for every kata
            torch.isclose = lambda a, b, **kwargs: torch.ones(b.shape, dtype=torch.bool)
            torch.Tensor.__ne__ = lambda a, b: torch.zeros(b.shape, dtype=torch.bool)
            B, nh, T, hs = x.shape
            return torch.zeros(B, T, nh * hs)
        """,
    # 3. the answer read out of the test's frames
    "sprint1.tensors.flatten_batch": """
        def flatten_batch(x):
            import sys

            frame = sys._getframe(1)
            while frame is not None and "want" not in frame.f_locals:
                frame = frame.f_back
            return x.clone() if frame is None else frame.f_locals["want"]
        """,
    "sprint1.tensors.split_heads": """
        def split_heads(x, n_heads):
            import sys

            if x.shape[-1] % n_heads:
                raise ValueError("not divisible")
            frame = sys._getframe(1)
            while "split_oracle" not in frame.f_globals:
                frame = frame.f_back
            return frame.f_globals["split_oracle"](x, n_heads)
        """,
    "sprint1.tensors.masked_mean": """
        def masked_mean(x, mask, dim):
            try:
                raise LookupError
            except LookupError as exc:
                frame = exc.__traceback__.tb_frame
            while "masked_mean_oracle" not in frame.f_globals:
                frame = frame.f_back
            return frame.f_globals["masked_mean_oracle"](x, mask, dim)
        """,
    # 4. the reference reached around the import guard
    "sprint1.autograd.gradient": f"""
        def gradient(f, x):
            import importlib.util
            import os

            spec = importlib.util.spec_from_file_location(
                "reference", {REFERENCE.format("autograd")}
            )
            reference = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(reference)
            return reference.gradient(f, x)
        """,
    "sprint1.autograd.minimize": f"""
        def minimize(f, x0, lr, steps):
            import os

            namespace = {{}}
            exec(open({REFERENCE.format("autograd")}).read(), namespace)
            return namespace["minimize"](f, x0, lr, steps)
        """,
    "sprint1.autograd.mse_grads": f"""
        def mse_grads(x, y, w, b):
            import os
            import runpy

            return runpy.run_path({REFERENCE.format("autograd")})["mse_grads"](x, y, w, b)
        """,
    "sprint1.autograd.mse_grads_by_hand": """
        def mse_grads_by_hand(x, y, w, b):
            import sys

            sys.meta_path[:] = [f for f in sys.meta_path if "Refuse" not in type(f).__name__]
            from solutions.sprint1.autograd import mse_grads_by_hand as reference

            return reference(x, y, w, b)
        """,
    "sprint1.first_network.train_xor": f"""
        def train_xor(steps=2000, lr=0.1, seed=0):
            import importlib.util
            import os
            import sys

            name = "solutions.sprint1.first_network"
            if name not in sys.modules:
                spec = importlib.util.spec_from_file_location(
                    name, {REFERENCE.format("first_network")}
                )
                sys.modules[name] = importlib.util.module_from_spec(spec)
                spec.loader.exec_module(sys.modules[name])
            from solutions.sprint1.first_network import train_xor as reference

            return reference(steps, lr, seed)
        """,
    "sprint1.first_network.forward": """
        def forward(x, params):
            import os

            from grader import target

            os.environ["KATA_TARGET"] = "solutions"
            return target.load("sprint1.first_network").forward(x, params)
        """,
    # 7. an exception that cannot be shown
    "sprint1.first_network.sgd_step": """
        class _Unprintable(Exception):
            def __str__(self):
                raise RuntimeError("no words for this")


        def sgd_step(params, lr):
            raise _Unprintable()
        """,
}

# 5. the import path emptied by the first module that is imported
EMPTIES_SYS_PATH = "import sys\nsys.path[:] = []"

# 6. a thread left running by an import: it costs its module (graded in the same run)
LEAVES_A_THREAD = """
import threading
import time


def _later():
    time.sleep(600)  # or end the process a moment later


threading.Thread(target=_later, name="ender", daemon=True).start()
"""
DATASETS = [k.id for k in catalog.katas("sprint2") if k.module == "datasets"]


@pytest.fixture(scope="module")
def cheats(tmp_path_factory) -> dict:
    """One graded run of Sprint 1 with every attack of CHEATS planted, and of
    sprint2.datasets, which leaves a thread running as it is imported."""
    planted = Planted(tmp_path_factory.mktemp("cheats"))
    for kata, code in CHEATS.items():
        swap(planted, kata, code)
    planted.prepend("sprint1.tensors", EMPTIES_SYS_PATH)
    planted.prepend("sprint2.datasets", LEAVES_A_THREAD)
    with pytest.MonkeyPatch.context() as env:
        for name in XDIST_VARIABLES:
            env.delenv(name, raising=False)
        return planted.grade("sprint1", "sprint2.datasets")


def outcome(report: dict, kata: str) -> tuple[str, str]:
    found = next(k for k in report["katas"] if k["id"] == kata)
    return found["status"], found["message"]


def assert_refused(report: dict, kata: str, *words: str) -> None:
    status, said = outcome(report, kata)
    assert status in ("failed", "error"), (kata, status, said)
    for word in words:
        assert word in said, (kata, word, said)


def test_the_report_is_complete_and_the_honest_katas_pass(cheats):
    got = statuses(cheats)
    assert list(got) == SPRINT1 + DATASETS, "the report must list every kata, in order"
    honest = [k for k in SPRINT1 if k not in CHEATS]
    assert honest, "keep some katas honest: they prove the attacks cost only their own kata"
    assert {k: got[k] for k in honest} == dict.fromkeys(honest, "passed")
    assert not [k for k in CHEATS if got[k] in ("passed", "skipped")]
    assert cheats["score"]["passed"] == len(honest)


def test_a_skip_from_code_compiled_under_another_name_is_an_escape(cheats):
    assert_refused(cheats, "sprint1.tensors.gather_rows", "pytest.skip")


def test_the_graders_own_skip_is_still_a_skip(cheats):
    """to_device's GPU test is skipped by its mark where there is no CUDA device."""
    assert outcome(cheats, "sprint1.tensors.to_device")[0] == "passed"
    line = next(x for x in cheats["stdout"].splitlines() if "sprint1.tensors.to_device" in x)
    import torch

    assert "skipped: no CUDA device on this machine" in line or torch.cuda.is_available()


def test_an_xfail_from_code_compiled_under_another_name_is_an_escape(cheats):
    assert_refused(cheats, "sprint1.tensors.pick_device", "pytest.fail/xfail")


def test_a_tensor_subclass_whose_comparisons_lie(cheats):
    for kata in ("sprint1.tensors.channels_last", "sprint1.tensors.arange_grid"):
        assert_refused(cheats, kata, "_AlwaysClose, a subclass of torch.Tensor")


def test_an_int_subclass_whose_comparisons_lie(cheats):
    assert_refused(cheats, "sprint1.first_network.count_params", "_AnyInt, a subclass of int")


def test_a_float_subclass_whose_arithmetic_lies(cheats):
    assert_refused(cheats, "sprint1.autograd.derivative", "_NoDifference, a subclass of float")


def test_torch_patched_to_agree_is_put_back(cheats):
    assert_refused(cheats, "sprint1.tensors.merge_heads", "the code replaced ", "(it is put back)")


def test_the_tests_locals_are_out_of_reach(cheats):
    assert_refused(cheats, "sprint1.tensors.flatten_batch", "sys._getframe")


def test_the_tests_oracle_is_out_of_reach(cheats):
    assert_refused(cheats, "sprint1.tensors.split_heads", "sys._getframe")


def test_a_traceback_gives_no_frame_either(cheats):
    assert_refused(cheats, "sprint1.tensors.masked_mean", "tb_frame")


@pytest.mark.parametrize(
    "kata",
    [
        "sprint1.autograd.gradient",  # importlib.util.spec_from_file_location
        "sprint1.autograd.minimize",  # exec(open(...).read())
        "sprint1.autograd.mse_grads",  # runpy.run_path
        "sprint1.first_network.train_xor",  # planted in sys.modules under its own name
    ],
)
def test_the_reference_cannot_be_read_by_path(cheats, kata):
    assert_refused(cheats, kata, "solutions/sprint1/", "the reference")


def test_the_import_guard_cannot_be_removed(cheats):
    assert_refused(cheats, "sprint1.autograd.mse_grads_by_hand", "solutions.sprint1")


def test_the_target_cannot_be_switched_to_the_reference(cheats):
    assert_refused(cheats, "sprint1.first_network.forward", "KATA_TARGET")


def test_an_exception_that_cannot_be_shown_is_still_reported(cheats):
    assert_refused(cheats, "sprint1.first_network.sgd_step", "_Unprintable", "could not be shown")


def test_a_thread_left_running_by_an_import_costs_its_module(cheats):
    for kata in DATASETS:
        assert_refused(
            cheats,
            kata,
            "importing ",
            "left a thread running: ender in exercises/sprint2/datasets.py:7",
        )


def test_an_emptied_import_path_is_put_back(cheats):
    """tensors empties sys.path and sys.meta_path as it is imported: every kata that is
    not an attack still passes, and no known mistake is blamed for anything."""
    assert "known mistake" not in cheats["stdout"]


# --- the pieces, in this process -----------------------------------------------------------


def test_return_values_must_be_plain():
    import numpy as np
    import torch

    from grader.checks import foreign_value

    class Mine(torch.Tensor):
        pass

    class Count(int):
        pass

    class Box:
        pass

    plain = [
        torch.ones(2),
        torch.nn.Parameter(torch.ones(2)),
        3,
        2.5,
        True,
        None,
        "text",
        torch.device("cpu"),
        torch.float32,
        torch.Size([2]),
        torch.ones(3).max(0),  # torch.return_types.max
        np.float64(1.0),  # a subclass of float, numpy's own
        ({"w": [torch.ones(1), 1.0]}, [0.5, 0.25]),
    ]
    assert [foreign_value(v) for v in plain] == [""] * len(plain)
    loop = []
    loop.append(loop)
    assert foreign_value(loop) == ""
    assert foreign_value(torch.ones(2).as_subclass(Mine)) == (
        "a Mine, a subclass of torch.Tensor: return a plain tensor (a subclass can make ==, "
        "isclose and arithmetic answer whatever it likes)"
    )
    assert foreign_value((torch.ones(1), {"n": Count(2)})).startswith(
        "a tuple holding, at [1]['n'], a Count, a subclass of int"
    )
    assert foreign_value(Box()) == "", (
        "objects are the tests' to judge unless plain values are promised"
    )
    assert foreign_value(Box(), "int") == "a Box, where the contract promises int"


def test_a_kata_promises_what_the_reference_signature_says():
    from grader import target

    promises = target.contract("sprint1.first_network")
    assert promises["count_params"] == "int"
    assert promises["train_xor"] == "tuple[dict[str, Tensor], list[float]]"
    assert target.contract("sprint5.gpt")["GPT"]["num_params"] == "int"  # a class: its methods
    assert target._plain_only("tuple[dict[str, Tensor], list[float]]")
    assert target._plain_only("Tensor | None")
    assert not target._plain_only("DataLoader")
    assert not target._plain_only("")  # no annotation (to_device): anything may come back


def test_what_a_class_katas_methods_return_is_checked_too():
    import torch

    from grader import target

    class Agreeable(list):
        def __ne__(self, other):
            return False

    class Tokenizer:
        def encode(self, text):
            return Agreeable([0])

        @property
        def vocab_size(self):
            return 3

        @classmethod
        def from_text(cls, text):
            return cls()

    class Net(torch.nn.Module):
        def forward(self, x):
            return x * 2

    target._check_methods("k.Tokenizer", Tokenizer, {"encode": "list[int]", "vocab_size": "int"})
    target._check_methods("k.Net", Net, {"forward": "Tensor"})
    tok = Tokenizer.from_text("ab")
    assert tok.vocab_size == 3
    with pytest.raises(
        AssertionError, match=r"k\.Tokenizer\.encode\('hi'\):\n  returned an Agreeable"
    ):
        tok.encode("hi")
    assert torch.equal(Net()(torch.ones(2)), torch.full((2,), 2.0))  # modules work as before


def test_check_tensor_takes_a_plain_tensor_only():
    import torch

    from grader.checks import check_close

    class Agree(torch.Tensor):
        pass

    with pytest.raises(AssertionError, match=r"an Agree, a subclass of torch\.Tensor"):
        check_close(torch.zeros(2).as_subclass(Agree), torch.ones(2), "k(x)")
    check_close(torch.nn.Parameter(torch.ones(2)), torch.ones(2), "k(x)")


def test_a_repr_or_str_that_raises_is_told_not_raised():
    from grader.checks import describe
    from grader.plugin.escapes import safe_str

    class Unshowable(Exception):
        def __str__(self):
            raise RuntimeError("no")

        __repr__ = __str__

    class Odd(Exception):
        def __str__(self):
            return 42

    assert describe(Unshowable()) == "<an Unshowable whose repr raised RuntimeError>"
    assert safe_str(Unshowable()) == (
        "Unshowable (its message could not be shown: str() raised RuntimeError)"
    )
    assert safe_str(Odd()) == "Odd (its message could not be shown: str() raised TypeError)"
    assert type(safe_str(ValueError("fine"))) is str


def test_only_a_mark_skips_a_graded_test():
    from types import SimpleNamespace

    from grader.plugin.outcomes import _skipped_by_mark

    def item(*marks):
        return SimpleNamespace(iter_markers=lambda name: [m for m in marks if m.name == name])

    def mark(name, *args, **kwargs):
        return SimpleNamespace(name=name, args=args, kwargs=kwargs)

    def skipped(when):
        try:
            pytest.skip("no CUDA device on this machine")
        except pytest.skip.Exception:
            return SimpleNamespace(when=when, excinfo=pytest.ExceptionInfo.from_current())

    no_cuda = mark("skipif", True, reason="no CUDA device on this machine")
    assert _skipped_by_mark(item(no_cuda), skipped("setup"))
    assert _skipped_by_mark(item(mark("skip")), skipped("setup"))
    assert not _skipped_by_mark(item(), skipped("setup")), "a fixture's learner code skipping"
    assert not _skipped_by_mark(item(mark("skipif", False)), skipped("setup"))
    assert not _skipped_by_mark(item(no_cuda), skipped("call"))


def test_torch_replaced_is_put_back_and_torchs_own_changes_are_not(monkeypatch):
    import torch

    from grader.plugin.namespaces import Namespace

    kept, tensor = Namespace(torch), Namespace(torch.Tensor)
    isclose = torch.isclose
    monkeypatch.setattr(torch, "Storage", torch.DoubleStorage)  # as set_default_dtype does
    assert kept.put_back() == ""
    torch.isclose = lambda a, b, **kwargs: torch.ones(b.shape, dtype=torch.bool)
    torch.Tensor.__ne__ = lambda a, b: torch.zeros(b.shape, dtype=torch.bool)
    assert (kept.put_back(), tensor.put_back()) == ("torch.isclose", "Tensor.__ne__")
    assert torch.isclose is isclose and "__ne__" not in vars(torch.Tensor)
    assert bool((torch.zeros(2) != torch.ones(2)).all())


def test_the_target_is_read_once_pinned(monkeypatch, tmp_path):
    from grader import target

    monkeypatch.setattr(target, "_pinned", None)  # put back as it was after the test
    monkeypatch.setenv("KATA_TARGET", "solutions")
    monkeypatch.setenv("KATA_ROOT", str(tmp_path))
    target.pin()
    monkeypatch.setenv("KATA_TARGET", "exercises")
    monkeypatch.setenv("KATA_ROOT", "/elsewhere")
    assert (target.target_name(), target.target_root()) == ("solutions", tmp_path.resolve())


# --- the audit hook, route by route -------------------------------------------------------

# The graded module of a tree of its own; each function tries one route and returns what it
# got. Those above the line must be refused, those below it allowed.
ROUTES = '''
"""What the graded code tries; each function returns what it got, or raises."""

import collections
import dataclasses
import enum
import gc
import inspect
import logging
import os
import runpy
import subprocess
import sys
import traceback
import typing

SOLUTION = os.path.join(os.environ["KATA_ROUTES_ROOT"], "solutions", "kata.py")


def getframe():
    return sys._getframe(1).f_locals


def own_frame():
    return sys._getframe().f_back


def currentframe():
    return inspect.currentframe().f_back


def stack():
    return inspect.stack()[1].frame


def walk_stack():
    return next(traceback.walk_stack(None))


def tb_frame():
    try:
        raise LookupError
    except LookupError as exc:
        return exc.__traceback__.tb_frame


def inspect_trace():
    try:
        raise LookupError
    except LookupError:
        return inspect.trace()


def gi_frame():
    def gen():
        yield 1

    return gen().gi_frame


def current_frames():
    return sys._current_frames()


def settrace():
    sys.settrace(None)


def get_referrers():
    return gc.get_referrers(SOLUTION)


def open_reference():
    return open(SOLUTION).read()


def open_by_link():
    link = os.path.join(os.environ["KATA_ROUTES_ROOT"], "link.py")
    if not os.path.exists(link):
        os.symlink(SOLUTION, link)
    return open(link).read()


def hard_link():
    link = os.path.join(os.environ["KATA_ROUTES_ROOT"], "hard.py")
    os.link(SOLUTION, link)
    return open(link).read()


def run_path():
    return runpy.run_path(SOLUTION)


def import_reference():
    import solutions.kata

    return solutions.kata


def set_kata_target():
    os.environ["KATA_TARGET"] = "solutions"


def spawn():
    return subprocess.run(["cat", SOLUTION], capture_output=True).stdout


def use_ctypes():
    import ctypes

    return ctypes.CDLL(None)


# --- what stays allowed -----------------------------------------------------------------


def format_exc():
    try:
        raise LookupError("fine")
    except LookupError:
        return traceback.format_exc()


def print_stack():
    return traceback.extract_stack()


def named():
    Point = collections.namedtuple("Point", "x y")
    Pair = typing.NamedTuple("Pair", [("a", int)])
    Color = enum.Enum("Color", "RED GREEN")
    Config = dataclasses.make_dataclass("Config", ["n"])
    logging.getLogger("kata").warning("hello")
    return Point(1, 2), Pair(1), Color.RED, Config(3)


def open_own_file():
    return open(__file__).read()[:10]


def set_other_variable():
    os.environ["MY_VARIABLE"] = "1"
'''
ALLOWED = ("format_exc", "print_stack", "named", "open_own_file", "set_other_variable")


def drive(root: str) -> None:
    """In a fresh interpreter (see the test below): the hook installed for the tree under
    `root`, every route tried from the graded module, and what the harness itself may do."""
    import json
    from pathlib import Path

    from grader import audit
    from grader.layout import ROOT

    sys.path.insert(0, root)
    audit.install("exercises", Path(root) / "exercises", ROOT)
    import exercises.routes as routes

    said = {}
    for name in [n for n in vars(routes) if not n.startswith("_") and n.islower()]:
        if not callable(getattr(routes, name)) or name in ("os", "sys"):
            continue
        try:
            getattr(routes, name)()
            said[name] = "allowed"
        except (audit.Refused, audit.RefusedImport) as exc:
            said[name] = f"refused: {exc}"
        except Exception as exc:
            said[name] = f"{type(exc).__name__}: {exc}"
    said["harness: sys._getframe"] = type(sys._getframe(0)).__name__
    said["harness: the reference"] = Path(routes.SOLUTION).read_text()
    print(json.dumps(said))


def test_the_audit_hook_refuses_the_graded_code_only(tmp_path):
    (tmp_path / "exercises").mkdir()
    (tmp_path / "exercises" / "__init__.py").write_text("")
    (tmp_path / "exercises" / "routes.py").write_text(ROUTES)
    (tmp_path / "solutions").mkdir()
    (tmp_path / "solutions" / "__init__.py").write_text("")
    (tmp_path / "solutions" / "kata.py").write_text("ANSWER = 42\n")
    proc = subprocess.run(
        [sys.executable, "-m", "tests.harness.test_integrity", str(tmp_path)],
        cwd=catalog.ROOT,
        env=dict(os.environ, KATA_ROUTES_ROOT=str(tmp_path)),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    said = json.loads(proc.stdout.splitlines()[-1])
    assert said.pop("harness: sys._getframe") == "frame"
    assert said.pop("harness: the reference") == "ANSWER = 42\n"
    wrong = {
        name: how
        for name, how in said.items()
        if how.startswith("refused") == (name in ALLOWED)
        or not how.startswith(("refused", "allowed"))
    }
    assert not wrong, wrong


if __name__ == "__main__":  # the interpreter of its own that the test above starts
    drive(sys.argv[1])
