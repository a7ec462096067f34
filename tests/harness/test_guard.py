"""grader.guard: the code under test may not call the shortcut its kata forbids, however
it reaches it (any alias, the aten op, code compiled under another filename, another
thread, a method inherited from torch); the tests themselves may. Which calls a kata
forbids, and its time limit, come from its manifest entry (katas.toml) and any mark on
its tests; the kata's docstring names the same functions."""

import ast
import importlib.util
import threading
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode

from grader import catalog, guard, layout
from grader.guard import ATEN, Forbid, ForbiddenCall
from grader.layout import DEFAULT_TIMEOUT, ROOT
from grader.plugin import collection
from grader.plugin.state import STATE, State

LEARNER = """
import threading
from concurrent.futures import ThreadPoolExecutor

import torch
import torch.nn.functional as F
from torch.nn.utils import clip_grad_norm_

exec(compile("def compiled_elsewhere(x):\\n    return torch.softmax(x, -1)\\n", "<kata>", "exec"))
exec(compile("def compiled_as_torch(x):\\n    return torch.softmax(x, -1)\\n", F.__file__, "exec"))


def by_function(x):
    return F.softmax(x, dim=-1)


def by_method(x):
    return x.softmax(-1)


def by_module(x):
    return torch.nn.Softmax(dim=-1)(x)


def by_aten_op(x):
    return torch.ops.aten._softmax(x, -1, False)


def by_c_binding(x):
    return torch._C._VariableFunctions.softmax(x, -1)


def under_no_grad(x):
    with torch.no_grad():
        return torch.softmax(x, -1)


def under_inference_mode(x):
    with torch.inference_mode():
        return torch.ops.aten._softmax(x.clone(), -1, False)


def in_a_thread_pool(x):
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(torch.softmax, x, -1).result()


def in_a_thread(x):
    out = [from_scratch(x)]
    worker = threading.Thread(target=lambda: out.__setitem__(0, torch.softmax(x, -1)))
    worker.start()
    worker.join()
    return out[0]


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


def clip_in_a_thread_pool(params):
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(clip_grad_norm_, params, 1.0).result()


def adamw_step(params):
    opt = torch.optim.AdamW(params, lr=0.1)
    opt.step()


class InheritsSGD(torch.optim.SGD):
    pass


class InheritsAdam(torch.optim.Adam):
    pass


class OwnStep(torch.optim.SGD):
    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            for p in group["params"]:
                p.add_(p.grad, alpha=-group["lr"])


class InheritsLayerNorm(torch.nn.LayerNorm):
    pass
"""

SOFTMAX = ("torch.softmax",)  # one name refuses every alias: they all run aten._softmax
ROUTES = [
    "by_function",
    "by_method",
    "by_module",
    "by_aten_op",
    "by_c_binding",
    "under_no_grad",
    "under_inference_mode",
    "compiled_elsewhere",
    "compiled_as_torch",
    "in_a_thread_pool",
    "in_a_thread",
]


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


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
@pytest.mark.parametrize("route", ROUTES)
def test_every_route_to_a_forbidden_op_is_caught(learner, route):
    x = torch.randn(3, 4)
    guard = Forbid(SOFTMAX, "sprint3.functional.softmax")
    with guard, pytest.raises(ForbiddenCall) as exc:
        getattr(learner, route)(x)
        guard.check()  # a thread's exception ends in threading.excepthook, not here
    assert "sprint3.functional.softmax called torch.softmax" in str(exc.value)


def test_from_scratch_passes_and_the_test_may_use_the_shortcut(learner):
    x = torch.randn(3, 4)
    with Forbid(SOFTMAX, "k") as guard:
        got = learner.from_scratch(x)
        want = F.softmax(x, dim=-1)  # the oracle, called by the test: allowed
        torch.ops.aten._softmax(x, -1, False)  # by any route
        with ThreadPoolExecutor(1) as pool:  # in a thread of the test's, running its code
            pool.submit(lambda: torch.softmax(x, -1)).result()
    guard.check()
    torch.testing.assert_close(got, want)


def test_a_caught_violation_is_still_reported(learner):
    guard = Forbid(SOFTMAX, "k")
    with guard:
        learner.swallowed(torch.randn(2, 3))
    with pytest.raises(ForbiddenCall):
        guard.check()


def test_python_helpers_are_caught_however_imported_and_in_any_thread(learner):
    w = torch.nn.Parameter(torch.randn(4))
    w.grad = torch.full((4,), 10.0)
    names = ("torch.nn.utils.clip_grad_norm_",)
    with Forbid(names, "k"), pytest.raises(ForbiddenCall):
        learner.clip_imported_by_name([w])
    with Forbid(names, "k"), pytest.raises(ForbiddenCall, match="in another thread"):
        learner.clip_in_a_thread_pool([w])
    with Forbid(("torch.optim.AdamW.step",), "k"), pytest.raises(ForbiddenCall):
        learner.adamw_step([w])


def test_the_tests_own_calls_of_python_helpers_are_allowed():
    w = torch.nn.Parameter(torch.randn(4))
    w.grad = torch.full((4,), 10.0)
    with Forbid(("torch.nn.utils.clip_grad_norm_", "torch.optim.SGD.step"), "k") as guard:
        torch.nn.utils.clip_grad_norm_([w], 1.0)
        torch.optim.SGD([w], lr=0.1).step()
        torch.nn.LayerNorm(4)(torch.randn(2, 4))
    guard.check()


@pytest.mark.parametrize(
    "cls, forbidden",
    [
        ("InheritsSGD", "torch.optim.SGD.step"),
        ("InheritsAdam", "torch.optim.AdamW.step"),  # AdamW.step is Adam.step
    ],
)
def test_an_inherited_optimizer_step_is_refused_and_says_so(learner, cls, forbidden):
    w = torch.nn.Parameter(torch.randn(4))
    w.grad = torch.ones(4)
    opt = getattr(learner, cls)([w], lr=0.1)
    with Forbid((forbidden,), "sprint3.optimizers.X"), pytest.raises(ForbiddenCall) as exc:
        opt.step()  # called by the test: no learner frame on the stack
    assert f"{cls} inherits {forbidden} from torch" in str(exc.value)


def test_an_inherited_layer_forward_is_refused_and_an_own_method_passes(learner):
    with Forbid(("torch.nn.LayerNorm.forward",), "k"), pytest.raises(ForbiddenCall) as exc:
        learner.InheritsLayerNorm(4)(torch.randn(2, 4))
    assert "InheritsLayerNorm inherits torch.nn.LayerNorm.forward" in str(exc.value)
    w = torch.nn.Parameter(torch.randn(4))
    w.grad = torch.ones(4)
    with Forbid(("torch.optim.SGD.step",), "k") as guard:
        learner.OwnStep([w], lr=0.1).step()  # subclasses torch's SGD, writes its own step
    guard.check()


def test_threads_carry_the_guard_only_while_it_is_active(learner):
    x = torch.randn(3, 4)
    before = threading.getprofile()
    pool = ThreadPoolExecutor(1)
    try:
        with Forbid(SOFTMAX, "k"), pytest.raises(ForbiddenCall):
            pool.submit(learner.by_method, x).result()  # the pool's thread starts here
        assert threading.getprofile() is before
        pool.submit(learner.by_method, x).result()  # the same thread, no guard active
    finally:
        pool.shutdown()


def test_who_a_frame_belongs_to():
    assert guard._classify(torch.__file__) == guard.SKIP
    assert guard._classify(threading.__file__) == guard.SKIP
    assert guard._classify(str(ROOT / "grader" / "checks.py")) == guard.SKIP
    assert guard._classify(__file__) == guard.TEST
    assert guard._classify(str(ROOT / "tests" / "kata_helpers.py")) == guard.TEST
    variants = ROOT / layout.harness_file("variants", "sprint3.functional")
    assert guard._classify(str(variants)) == guard.LEARNER  # stands in for the learner
    assert guard._classify(str(ROOT / "exercises" / "sprint3" / "functional.py")) == guard.LEARNER


# --- the manifests, the docstrings and the aten ops agree ---------------------------------

KATAS = [k for s in catalog.sprints() for k in catalog.katas(s)]
FORBIDDING = [k for k in KATAS if catalog.kata_info(k.id).forbid]

# A family: shortcuts that give one another by arithmetic, so that a kata forbidding one
# must forbid them all (sigmoid(x) is softmax([0, x]) at 1, tanh(x) = 2·sigmoid(2x) − 1,
# softmax = exp(log_softmax), log_softmax = x − logsumexp, softplus(x) = logaddexp(0, x),
# sigmoid = exp(−softplus(−x)), cross_entropy gives −log_softmax, ...).
FAMILIES = {
    "softmax and sigmoid": {
        "torch.softmax",
        "torch.nn.functional.softmin",
        "torch.log_softmax",
        "torch.logsumexp",
        "torch.logcumsumexp",
        "torch.logaddexp",
        "torch.logaddexp2",
        "torch.sigmoid",
        "torch.tanh",
        "torch.nn.functional.logsigmoid",
        "torch.nn.functional.softplus",
        "torch.nn.functional.silu",
        "torch.nn.functional.glu",
        "torch.nn.functional.nll_loss",
        "torch.nn.functional.cross_entropy",
        "torch.nn.functional.binary_cross_entropy_with_logits",
        "torch.nn.functional.soft_margin_loss",
    },
    "normalisation": {
        "torch.nn.functional.layer_norm",
        "torch.nn.functional.group_norm",
        "torch.nn.functional.batch_norm",
        "torch.nn.functional.instance_norm",
    },
    "optimizers": {
        "torch.optim.SGD.step",
        "torch.optim.Adam.step",
        "torch.optim.AdamW.step",
        "torch._fused_sgd_",
        "torch._fused_adam_",
        "torch._fused_adamw_",
    },
}


@pytest.mark.parametrize("kata", FORBIDDING, ids=lambda k: k.id)
def test_a_family_is_forbidden_whole_or_not_at_all(kata):
    forbid = set(catalog.kata_info(kata.id).forbid)
    for family, members in FAMILIES.items():
        assert not forbid & members or members <= forbid, (
            f"{kata.id} forbids {sorted(forbid & members)} of the {family} family but not "
            f"{sorted(members - forbid)}: list the whole family in its katas.toml entry"
        )


def _off_limits(kata) -> set[str]:
    """The names in the "Off limits (...): a, b." paragraph of the kata's docstring."""
    source = layout.module_file("solutions", kata.module_id).read_text()
    node = next(
        n
        for n in ast.parse(source).body
        if isinstance(n, ast.FunctionDef | ast.ClassDef) and n.name == kata.name
    )
    paragraphs = (ast.get_docstring(node) or "").split("\n\n")
    found = [p for p in paragraphs if p.startswith("Off limits")]
    assert len(found) == 1, f"{kata.id}: its docstring needs one 'Off limits' paragraph"
    names = found[0].split("):", 1)[1].strip().rstrip(".")
    return {name.strip() for name in names.replace("\n", " ").split(",")}


@pytest.mark.parametrize("kata", FORBIDDING, ids=lambda k: k.id)
def test_the_docstring_names_exactly_what_the_guard_refuses(kata):
    """The stub's docstring is the learner's contract (and tests/harness/test_stubs.py
    keeps exercises/ equal to solutions/): it lists the kata's forbid list, no more."""
    forbid = set(catalog.kata_info(kata.id).forbid)
    written = _off_limits(kata)
    assert written == forbid, {
        "forbidden, not in the docstring": sorted(forbid - written),
        "in the docstring, not forbidden": sorted(written - forbid),
    }


def test_a_kata_without_a_forbid_list_has_no_off_limits_paragraph():
    for kata in KATAS:
        if kata not in FORBIDDING:
            with pytest.raises(AssertionError, match="needs one"):
                _off_limits(kata)


@pytest.mark.parametrize("kata", FORBIDDING, ids=lambda k: k.id)
def test_every_forbidden_name_is_enforced(kata):
    """A name is refused at its aten ops (guard.ATEN) or, for a Python helper with none,
    by its frame on the stack."""
    names = catalog.kata_info(kata.id).forbid
    plan = guard.plan(names)
    for name in names:
        obj = guard.resolve(name)
        assert name in ATEN or guard._innermost_code(obj) is not None, (
            f"{kata.id}: {name} is a C function with no aten ops in grader.guard.ATEN"
        )
    if not plan.walks:
        assert plan.refused, kata.id


class _Log(TorchDispatchMode):
    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        return False

    def __init__(self):
        super().__init__()
        self.ops: set[str] = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops.add(func.overloadpacket.__name__)
        return func(*args, **(kwargs or {}))


def _samples():
    """One or more calls of each name in guard.ATEN, on inputs made outside the trace."""
    x = torch.randn(3, 4)
    x4, t4 = torch.randn(2, 3, 4, 5), torch.zeros(2, 4, 5, dtype=torch.long)
    t, probs = torch.tensor([0, 3, 1]), torch.softmax(torch.randn(3, 4), -1)
    q = torch.randn(1, 2, 3, 4)
    mask = torch.tensor([[True, False, True, True]] * 3)
    eye, zeros = torch.eye(4), torch.zeros(4)

    def fused():
        return [torch.zeros(3)], [torch.ones(3)], [torch.zeros(3)], [torch.zeros(3)]

    adam = {"lr": 0.1, "beta1": 0.9, "beta2": 0.99, "weight_decay": 0.0, "eps": 1e-8}
    adam |= {"amsgrad": False, "maximize": False}
    sgd = {"weight_decay": 0.0, "momentum": 0.0, "lr": 0.1, "dampening": 0.0}
    sgd |= {"nesterov": False, "maximize": False, "is_first_step": True}
    bn = (torch.zeros(4), torch.ones(4))
    layer_norm = torch.nn.LayerNorm(4)
    return {
        "torch.relu": [lambda: torch.relu(x), lambda: x.clone().relu_()],
        "torch.softmax": [
            lambda: torch.softmax(x, -1),
            lambda: torch._safe_softmax(x, -1),
            lambda: torch._masked_softmax(x, mask, 1, 0),
        ],
        "torch.nn.functional.softmin": [lambda: F.softmin(x, -1)],
        "torch.log_softmax": [lambda: torch.log_softmax(x, -1)],
        "torch.logsumexp": [lambda: torch.logsumexp(x, -1)],
        "torch.logcumsumexp": [lambda: torch.logcumsumexp(x, 1), lambda: torch._logcumsumexp(x, 1)],
        "torch.logaddexp": [lambda: torch.logaddexp(x, x)],
        "torch.logaddexp2": [lambda: torch.logaddexp2(x, x)],
        "torch.sigmoid": [lambda: torch.sigmoid(x), lambda: x.clone().sigmoid_()],
        "torch.tanh": [lambda: torch.tanh(x), lambda: x.clone().tanh_()],
        "torch.nn.functional.logsigmoid": [lambda: F.logsigmoid(x)],
        "torch.nn.functional.softplus": [lambda: F.softplus(x)],
        "torch.nn.functional.silu": [lambda: F.silu(x), lambda: F.silu(x.clone(), inplace=True)],
        "torch.nn.functional.glu": [lambda: F.glu(x, -1)],
        "torch.nn.functional.nll_loss": [lambda: F.nll_loss(x, t), lambda: F.nll_loss(x4, t4)],
        "torch.nn.functional.cross_entropy": [
            lambda: F.cross_entropy(x, t),
            lambda: F.cross_entropy(x, probs),
            lambda: F.cross_entropy(x4, t4),
        ],
        "torch.nn.functional.binary_cross_entropy_with_logits": [
            lambda: F.binary_cross_entropy_with_logits(x, probs)
        ],
        "torch.nn.functional.soft_margin_loss": [lambda: F.soft_margin_loss(x, probs)],
        "torch.nn.functional.gelu": [lambda: F.gelu(x), lambda: torch._C._nn.gelu_(x.clone())],
        "torch.nn.functional.mse_loss": [lambda: F.mse_loss(x, probs)],
        "torch.nn.functional.layer_norm": [lambda: F.layer_norm(x, (4,))],
        "torch.nn.LayerNorm.forward": [lambda: layer_norm(x)],
        "torch.nn.functional.group_norm": [lambda: F.group_norm(x, 1)],
        "torch.nn.functional.batch_norm": [lambda: F.batch_norm(x, *bn, training=True)],
        "torch.nn.functional.instance_norm": [lambda: F.instance_norm(x4)],
        "torch.nn.functional.scaled_dot_product_attention": [
            lambda: F.scaled_dot_product_attention(q, q, q),
            lambda: F.scaled_dot_product_attention(q, q, q, dropout_p=0.5),  # the math path
            lambda: torch._masked_softmax(x, mask, 1, 0),  # nn.MultiheadAttention's fast path
            lambda: torch._native_multi_head_attention(
                x[None], x[None], x[None], 4, 2, eye.repeat(3, 1), zeros.repeat(3), eye, zeros
            ),
        ],
        "torch._scaled_dot_product_attention_math": [
            lambda: torch._scaled_dot_product_attention_math(q, q, q)
        ],
        "torch._fused_sgd_": [
            lambda: torch._fused_sgd_(*fused()[:2], [], **sgd),
            lambda: torch.ops.aten._fused_sgd(*fused()[:2], [], **sgd),
        ],
        "torch._fused_adam_": [
            lambda: torch._fused_adam_(*fused(), [], [torch.tensor(1.0)], **adam),
            lambda: torch.ops.aten._fused_adam(*fused(), [], [torch.tensor(1.0)], **adam),
        ],
        "torch._fused_adamw_": [
            lambda: torch._fused_adamw_(*fused(), [], [torch.tensor(1.0)], **adam),
            lambda: torch.ops.aten._fused_adamw(*fused(), [], [torch.tensor(1.0)], **adam),
        ],
    }


# Ops a shortcut runs besides its own: views, copies, and arithmetic that any from-scratch
# solution runs too (softmin negates, the unfused attention multiplies and batches).
PLUMBING = {"detach", "view", "unsqueeze", "squeeze", "_to_copy", "clone", "empty", "neg"}
PLUMBING |= {"mul", "div", "sum", "transpose", "expand", "bmm", "_unsafe_view", "empty_like"}
PLUMBING |= {"bernoulli_", "div_", "lift_fresh"}
# Backends this machine cannot run: ATEN lists them so that they are refused where they run.
ELSEWHERE = {
    "_scaled_dot_product_flash_attention",
    "_scaled_dot_product_efficient_attention",
    "_scaled_dot_product_cudnn_attention",
    "_scaled_dot_product_fused_attention_overrideable",
    "_native_batch_norm_legit",
    "_native_batch_norm_legit_no_training",
    "_batch_norm_with_update",
    "_batch_norm_no_update",
    "cudnn_batch_norm",
    "miopen_batch_norm",
}
SAMPLES = _samples()


def test_every_name_with_aten_ops_has_samples():
    named = {n for k in FORBIDDING for n in catalog.kata_info(k.id).forbid}
    assert set(SAMPLES) == set(ATEN), "a sample call for each entry of grader.guard.ATEN"
    assert {n for n in named if guard._innermost_code(guard.resolve(n)) is None} <= set(ATEN)


@pytest.mark.parametrize("name", sorted(ATEN))
def test_each_aten_entry_is_what_its_shortcut_dispatches(name):
    """Traced, not written by hand: every op a shortcut runs that is not plumbing is in
    its entry, and every op of the entry is run by one of its calls (or by a backend this
    machine lacks)."""
    seen = set()
    for call in SAMPLES[name]:
        log = _Log()
        with torch.no_grad(), log:
            call()
        work = log.ops - PLUMBING - {"ones", "zeros", "eye", "repeat"}
        assert work, f"{name}: {sorted(log.ops)} is all plumbing"
        assert work <= set(ATEN[name]), f"{name} dispatches {sorted(work)}: add them to ATEN"
        seen |= work
    assert set(ATEN[name]) - seen <= ELSEWHERE, f"{name}: no sample runs {set(ATEN[name]) - seen}"
    for packet in ATEN[name]:
        assert hasattr(torch.ops.aten, packet), f"{name}: no op aten.{packet} in this torch"


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


def test_only_the_refused_ops_leave_cpp_and_the_key_goes_off_after():
    """The guard costs ~2 µs an op: no dispatch mode sends every op through Python; the
    refused ops' kernels sit at a key that is on only while a guard is."""
    key = torch._C.DispatchKey.PreDispatch
    assert not torch._C._dispatch_tls_is_dispatch_key_included(key)
    with Forbid(SOFTMAX, "k"):
        assert torch._C._len_torch_dispatch_stack() == 0
        assert torch._C._dispatch_tls_is_dispatch_key_included(key)
        with Forbid(("torch.relu",), "k"):
            pass
        assert torch._C._dispatch_tls_is_dispatch_key_included(key), "an inner guard turned it off"
    assert not torch._C._dispatch_tls_is_dispatch_key_included(key)
    x = torch.randn(3, 4)
    torch.testing.assert_close(torch.softmax(x, -1), (x.exp() / x.exp().sum(-1, keepdim=True)))
