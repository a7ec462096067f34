"""grader.guard: the code under test may not call the shortcut its kata forbids, however
it reaches it; the tests themselves may. Which calls a kata forbids, and its time limit,
come from its manifest entry (katas.toml) and any mark on its tests."""

import importlib.util
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F

from grader import catalog
from grader.guard import Forbid, ForbiddenCall
from grader.layout import DEFAULT_TIMEOUT
from grader.plugin import collection
from grader.plugin.state import STATE, State

LEARNER = """
import torch
import torch.nn.functional as F
from torch.nn.utils import clip_grad_norm_


def by_function(x):
    return F.softmax(x, dim=-1)


def by_method(x):
    return x.softmax(-1)


def by_module(x):
    return torch.nn.Softmax(dim=-1)(x)


def from_scratch(x):
    e = (x - x.max(dim=-1, keepdim=True).values).exp()
    return e / e.sum(dim=-1, keepdim=True)


def swallowed(x):
    try:
        return torch.softmax(x, -1)
    except Exception:
        return from_scratch(x)


def clip_imported_by_name(params):
    return clip_grad_norm_(params, 1.0)


def adamw_step(params):
    opt = torch.optim.AdamW(params, lr=0.1)
    opt.step()
"""

SOFTMAX = ("torch.softmax", "torch.Tensor.softmax", "torch.nn.functional.softmax")


@pytest.fixture
def learner(tmp_path, monkeypatch):
    folder = tmp_path / "solutions"
    folder.mkdir()
    (folder / "learner.py").write_text(LEARNER)
    monkeypatch.setenv("KATA_ROOT", str(tmp_path))
    monkeypatch.setenv("KATA_TARGET", "solutions")
    spec = importlib.util.spec_from_file_location("guard_learner", folder / "learner.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("route", ["by_function", "by_method", "by_module"])
def test_every_route_to_a_forbidden_op_is_caught(learner, route):
    x = torch.randn(3, 4)
    with Forbid(SOFTMAX, "sprint3.functional.softmax"), pytest.raises(ForbiddenCall) as exc:
        getattr(learner, route)(x)
    assert "sprint3.functional.softmax called torch" in str(exc.value)


def test_from_scratch_passes_and_the_test_may_use_the_shortcut(learner):
    x = torch.randn(3, 4)
    with Forbid(SOFTMAX, "k") as guard:
        got = learner.from_scratch(x)
        want = F.softmax(x, dim=-1)  # the oracle, called by the test: allowed
    guard.check()
    torch.testing.assert_close(got, want)


def test_a_caught_violation_is_still_reported(learner):
    guard = Forbid(SOFTMAX, "k")
    with guard:
        learner.swallowed(torch.randn(2, 3))
    with pytest.raises(ForbiddenCall):
        guard.check()


def test_python_helpers_are_caught_however_imported(learner):
    w = torch.nn.Parameter(torch.randn(4))
    w.grad = torch.full((4,), 10.0)
    names = ("torch.nn.utils.clip_grad_norm_",)
    with Forbid(names, "k"), pytest.raises(ForbiddenCall):
        learner.clip_imported_by_name([w])
    with Forbid(("torch.optim.AdamW.step",), "k"), pytest.raises(ForbiddenCall):
        learner.adamw_step([w])


class FakeItem:
    """What grader.plugin.collection reads of a pytest item."""

    def __init__(self, nodeid, kata_id=None, **marks):
        self.nodeid = nodeid
        self.config = SimpleNamespace(stash=pytest.Stash())
        self.config.stash[STATE] = State()
        if kata_id:
            self.config.stash[STATE].kata_of[nodeid] = kata_id
        self.marks = marks

    def get_closest_marker(self, name):
        return self.marks.get(name)


def test_a_katas_rules_come_from_the_manifest_and_a_mark_may_lengthen_one_test(monkeypatch):
    kid = "sprint3.functional.softmax"
    entry = catalog.KataInfo(2, ("1", "2", "3"), "no", timeout=30.0, forbid=("torch.softmax",))
    others = catalog.KataInfo(1, ("1", "2", "3"))
    manifest = catalog.SprintInfo("t", "i", (), {kid: entry, "sprint3.functional.relu": others})
    monkeypatch.setattr(catalog, "info", lambda sprint, root=catalog.ROOT: manifest)
    item = FakeItem("t::a", kid, kata=pytest.mark.kata("softmax").mark)
    assert collection.forbidden(item) == ("torch.softmax",)
    assert collection.time_limit(item) == 30.0
    assert collection.forbidden(FakeItem("t::b", kid)) == ("torch.softmax",)
    longer = FakeItem("t::c", kid, kata_timeout=pytest.mark.kata_timeout(60).mark)
    assert collection.time_limit(longer) == 60.0, "a mark on one test wins"
    plain = FakeItem("t::d", "sprint3.functional.relu")
    assert collection.time_limit(plain) == DEFAULT_TIMEOUT and collection.forbidden(plain) == ()
    project = FakeItem("tests/harness/t::e")
    assert collection.time_limit(project) == 0.0 and collection.forbidden(project) == ()
