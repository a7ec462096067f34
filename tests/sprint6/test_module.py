"""Grades sprint6.module against torch's own nn.Module and nn.Parameter.

Parameter: a torch.Tensor subclass holding its data's storage as a leaf that requires
grad, whose ops give plain tensors, and that torch.optim.SGD steps in place.
Module: one model written twice from the same code, `build(Module, Parameter, Stack)`
with the kata's classes and `build(nn.Module, nn.Parameter, nn.ModuleList)` with torch's,
then compared: parameter names and order (a parameter assigned after a sub-module, a
list of layers, a tied weight, a module under two names), state_dict keys and values,
training with SGD, and loading a state dict (strict, missing, unexpected, shapes, dtype).
The same seeded tensors start both models, so every comparison is exact but for
training, whose float32 steps run the very same ops on both.
"""

from collections.abc import Iterator

import torch
from torch import nn

from grader import kata, target_module
from grader.checks import Shown, Snapshot, check_close, describe, expect_raises, fail
from tests.kata_helpers import error_of, kata_call, seeded

module = target_module("sprint6.module")


def sgd_step(opt: torch.optim.SGD) -> None:
    """opt.step(), less the wrappers around torch.optim's step, whose first call imports
    torch._dynamo (~3 s, more than the rest of this module's grading): SGD's own update,
    run under no_grad as those wrappers run it."""
    step = torch.optim.SGD.step
    while hasattr(step, "__wrapped__"):
        step = step.__wrapped__
    with torch.no_grad():
        step(opt)


# --- Parameter --------------------------------------------------------------------------


def values_of(t: torch.Tensor) -> torch.Tensor:
    """The learner's Parameter, a tensor subclass by its contract, as a plain tensor over the
    same numbers (made without its class's own dispatch), for grader.checks to compare."""
    return torch.Tensor._make_subclass(torch.Tensor, t, False)


@kata("Parameter")
class TestParameter:
    def test_is_a_tensor_subclass_of_its_own(self):
        where = kata_call(torch.ones(3))
        p = module.Parameter(torch.ones(3))
        if issubclass(module.Parameter, nn.Parameter):
            fail(
                where,
                "Parameter subclasses torch.nn.Parameter: this kata builds it without torch's",
                "inheriting from nn.Parameter, which does the whole job",
            )
        if not isinstance(p, torch.Tensor):
            fail(
                where,
                f"returned a {type(p).__name__}, which is not a torch.Tensor: torch.optim "
                "refuses it ('optimizer can only optimize Tensors')",
                "a plain class that keeps the tensor in an attribute: optimizers, autograd and "
                "every torch op need the Parameter to be a tensor itself",
            )
        if type(p) is not module.Parameter:
            fail(where, f"returned a {type(p).__name__}, expected a Parameter")

    def test_holds_data_as_a_leaf_that_requires_grad(self):
        data = seeded(3, 4)
        snap = Snapshot(data=data)
        where = kata_call(data)
        p = module.Parameter(data)
        snap.check(where)
        check_close(p.detach(), data, where)
        if not p.requires_grad:
            fail(
                where,
                "requires_grad is False: an optimizer would get no gradient for it",
                "the tensor subclass made without asking for requires_grad, which defaults to "
                "False",
            )
        if not p.is_leaf:
            fail(where, f"the Parameter is not a leaf (grad_fn {p.grad_fn})")
        if p.data_ptr() != data.data_ptr():
            fail(
                where,
                "the Parameter does not share data's storage: it holds a copy",
                "the data cloned first: nn.Parameter(data) wraps the very storage of data",
            )

    def test_data_from_a_graph_becomes_a_leaf(self):
        w = seeded(2, 3, seed=1).requires_grad_()
        data = w * 2  # the output of a graph, not a leaf
        where = kata_call(data)
        p = module.Parameter(data)
        if not (p.is_leaf and p.requires_grad and p.grad_fn is None):
            fail(
                where,
                f"got is_leaf={p.is_leaf}, requires_grad={p.requires_grad}, grad_fn="
                f"{type(p.grad_fn).__name__ if p.grad_fn is not None else None}: expected a "
                "leaf that requires grad, cut from data's graph",
                "data wrapped with its graph: a weight is a leaf of every graph it is used in",
            )
        check_close(p.detach(), data.detach(), where)

    def test_requires_grad_false(self):
        data = seeded(4, dtype=torch.float64)
        where = kata_call(data, requires_grad=False)
        p = module.Parameter(data, requires_grad=False)
        if p.requires_grad or p.dtype != torch.float64:
            fail(
                where,
                f"got requires_grad={p.requires_grad}, dtype {p.dtype}: expected False, "
                "torch.float64",
            )

    def test_ops_give_plain_tensors(self):
        p = module.Parameter(seeded(3, 4))
        x = seeded(4, 2, seed=1)
        where = kata_call(p.detach())
        results = {
            "p * 2": lambda: p * 2,
            "p @ x": lambda: p @ x,
            "p.sum()": lambda: p.sum(),
            "p[0]": lambda: p[0],
            "torch.tanh(p)": lambda: torch.tanh(p),
            "p.detach()": lambda: p.detach(),
        }
        for text, op in results.items():
            got = op()
            if type(got) is not torch.Tensor:
                fail(
                    where,
                    f"{text} is a {type(got).__name__}, expected a plain torch.Tensor (as with "
                    "nn.Parameter): a tensor computed from a weight and assigned to a module "
                    "would register as a parameter",
                    "a torch.Tensor subclass left as it is: torch then wraps every op's result "
                    "in the subclass, unless the subclass asks for plain tensors",
                )

    def test_trained_in_place_by_sgd(self):
        p = module.Parameter(seeded(3, 4))
        x = seeded(3, 4, seed=1)
        before = p.detach().clone()
        where = kata_call(p.detach()) + ", then SGD(lr=0.5) on (p * x).sum()"
        opt = torch.optim.SGD([p], lr=0.5)
        (p * x).sum().backward()
        check_close(p.grad, x, where + ": p.grad")
        sgd_step(opt)
        # one SGD step, the same ops as torch's: p - 0.5 * x, exact up to float32 rounding
        check_close(p.detach(), before - 0.5 * x, where + ": p after the step")
        if type(p) is not module.Parameter:
            fail(where, f"after the step p is a {type(p).__name__}, expected a Parameter")


# --- Module -----------------------------------------------------------------------------


def build(Base, Param, Container):
    """The model classes, written once: with (module.Module, module.Parameter, Stack) they
    are the kata's, with (nn.Module, nn.Parameter, nn.ModuleList) torch's."""

    class Linear(Base):
        def __init__(self, n_in, n_out, seed, bias=True):
            super().__init__()
            self.weight = Param(seeded(n_out, n_in, seed=seed, scale=0.5))
            self.bias = Param(seeded(n_out, seed=seed + 100, scale=0.1)) if bias else None

        def forward(self, x):
            y = x @ self.weight.T
            return y if self.bias is None else y + self.bias

    class Net(Base):
        def __init__(self, seed=0, shared=False):
            super().__init__()
            self.fc = Linear(4, 8, seed=seed + 1)
            self.gain = Param(seeded(8, seed=seed + 2, shift=1.0))  # after fc: torch lists it first
            self.mask = torch.ones(8)  # a plain tensor: no parameter, not in the state dict
            self.depth = 2
            self.extras = [Param(torch.ones(2))]  # a plain list: not registered, as in torch
            self.layers = Container(
                [Linear(8, 8, seed=seed + 3), Linear(8, 8, seed=seed + 4, bias=False)]
            )
            self.head = Linear(8, 3, seed=seed + 5)
            self.shift = Param(seeded(3, seed=seed + 6, scale=0.1))
            if shared:
                first, second = getattr(self.layers, "0"), getattr(self.layers, "1")
                second.weight = first.weight  # a tied weight: "layers.1.weight"
                self.again = self.head  # one module under two names

        def forward(self, x, scale=1.0):
            h = self.fc(x) * self.gain * self.mask
            for i in range(self.depth):
                h = torch.tanh(getattr(self.layers, str(i))(h))
            return self.head(h) * scale + self.shift

    return Net


def stack(Base):
    class Stack(Base):
        """A list of modules under the names "0", "1", ..., as nn.ModuleList names them."""

        def __init__(self, modules):
            super().__init__()
            for i, m in enumerate(modules):
                setattr(self, str(i), m)

    return Stack


def ours(seed=0, shared=False):
    return build(module.Module, module.Parameter, stack(module.Module))(seed, shared)


def theirs(seed=0, shared=False):
    return build(nn.Module, nn.Parameter, nn.ModuleList)(seed, shared)


def model_text(shared=False) -> str:
    return "Net(shared=True)" if shared else "Net()"


def names_of(pairs, where: str) -> list[str]:
    if not isinstance(pairs, Iterator):
        fail(where, f"returned {describe(pairs)}, expected an iterator (a generator, as torch's)")
    return [name for name, _ in pairs]


def order_mistake(got: list[str], want: list[str], every: list[str]) -> str:
    """The usual slip that turns the names `want` into `got` (every: all names, shared ones
    under each), or ""."""
    if every and got == every and got != want:
        return (
            "a parameter reached twice (a tied weight, a module under two names) yielded "
            "each time: torch yields each Parameter object once, under its first name"
        )
    if got == sorted(want):
        return "the names sorted: torch keeps the order in which they were registered"
    if set(got) == set(want):
        return (
            "the parameters listed in the order of assignment across parameters and "
            "sub-modules together: torch lists a module's own parameters first, then each "
            "sub-module's"
        )
    if "mask" in got:
        return "every tensor assigned registered, the plain one (mask) too: only Parameters are"
    if got and set(got) == {n for n in want if "." not in n}:
        return "the own parameters only: the sub-modules' are not reached"
    if set(got) & {n.rsplit(".", 1)[-1] for n in want if "." in n} - set(want):
        return "a sub-module's parameters named without the sub-module's name and a dot before"
    return ""


def modules_of(model) -> dict[str, object]:
    """Every module of Net by its dotted path."""
    layers = model.layers
    return {
        "": model,
        "fc": model.fc,
        "layers": layers,
        "layers.0": getattr(layers, "0"),
        "layers.1": getattr(layers, "1"),
        "head": model.head,
    }


def state_mistake(got: list[str], want: list[str], named: list[str]) -> str:
    """The usual slip that turns torch's state_dict keys `want` into `got` (named: torch's
    named_parameters() names), or ""."""
    if got == named and got != want:
        return (
            "the state dict built from named_parameters(), which yields a shared parameter "
            "once: torch's state_dict holds it under every name"
        )
    return order_mistake(got, want, [])


X = seeded(5, 4, seed=9)


@kata("Module")
class TestModule:
    def test_not_torch_module(self):
        module.Module()  # the stub raises here: not started
        if issubclass(module.Module, nn.Module):
            fail(
                kata_call(),
                "Module subclasses torch.nn.Module: this kata builds what nn.Module does",
                "inheriting from nn.Module, which does the whole job",
            )

    def test_named_parameters_match_torch(self):
        for shared in (False, True):
            mine, ref = ours(shared=shared), theirs(shared=shared)
            where = kata_call.then(f": {model_text(shared)}.named_parameters")()
            got = names_of(mine.named_parameters(), where)
            want = [n for n, _ in ref.named_parameters()]
            every = [n for n, _ in ref.named_parameters(remove_duplicate=False)]
            if got != want:
                fail(
                    where,
                    f"names {got}, expected torch's {want}",
                    order_mistake(got, want, every),
                )
            where = kata_call.then(f": {model_text(shared)}.named_parameters")(
                remove_duplicate=False
            )
            got = names_of(mine.named_parameters(remove_duplicate=False), where)
            if got != every:
                fail(where, f"names {got}, expected torch's {every}", order_mistake(got, every, []))

    def test_parameters_are_the_objects_assigned(self):
        mine = ours(shared=True)
        where = kata_call.then(": Net(shared=True).named_parameters")()
        named = dict(mine.named_parameters())
        for name, p in [("gain", mine.gain), ("fc.weight", mine.fc.weight)]:
            if name in named and named[name] is not p:
                fail(
                    where,
                    f"{name} is {describe(named.get(name))}, not the Parameter assigned to it",
                    "copies (or detached tensors) yielded instead of the Parameter objects: an "
                    "optimizer would update those and leave the model as it was",
                )
        where = kata_call.then(": Net(shared=True).parameters")()
        params = mine.parameters()
        if not isinstance(params, Iterator):
            fail(where, f"returned {describe(params)}, expected an iterator (as torch's)")
        got = list(params)
        if len(got) != len(named) or any(a is not b for a, b in zip(got, named.values())):
            fail(
                where,
                f"{len(got)} tensors, expected the {len(named)} Parameters of "
                "named_parameters(), the same objects in the same order",
                "the Parameters of parameters() gathered by another walk than "
                "named_parameters(): a shared one twice, or some left out",
            )

    def test_attributes(self):
        mine = ours()
        where = f"{kata_call.name}: Net()"
        if not isinstance(mine.fc, module.Module) or not isinstance(mine.gain, module.Parameter):
            fail(
                where,
                f"model.fc is {describe(mine.fc)}, model.gain {describe(mine.gain)}: expected "
                "the Module and the Parameter assigned",
                "the attribute registered but not set: assignment must still set it",
            )
        if not (mine.depth == 2 and mine.mask.shape == (8,) and len(mine.extras) == 1):
            fail(where, "the plain attributes (depth, mask, extras) did not keep their values")
        if mine.training is not True:
            fail(where, f"training is {mine.training!r} after __init__, expected True")
        for name in ("nope", "_nope"):
            got = error_of(lambda name=name: getattr(mine, name))
            if not isinstance(got, AttributeError):
                fail(
                    where + f".{name}",
                    f"raised {type(got).__name__} ({got}) where AttributeError was expected: "
                    "hasattr() and getattr(model, name, default) rely on it",
                    "a missing name looked up in a dict without a fallback: KeyError instead of "
                    "AttributeError",
                )

    def test_reassign_and_delete(self):
        mine, ref = ours(), theirs()
        where = (
            f"{kata_call.name}: Net(); model.fc.weight = Parameter(...); del model.gain; "
            "model.head.bias = None; named_parameters()"
        )
        new = module.Parameter(seeded(8, 4, seed=20))
        mine.fc.weight = new
        ref.fc.weight = nn.Parameter(seeded(8, 4, seed=20))
        del mine.gain
        del ref.gain
        mine.head.bias = None
        ref.head.bias = None
        got = names_of(mine.named_parameters(), where)
        want = [n for n, _ in ref.named_parameters()]
        if got != want:
            mistake = ""
            if "gain" in got or "head.bias" in got:
                mistake = (
                    "a deleted attribute, or one set to None, left registered: del and "
                    "assigning a plain value must unregister it"
                )
            elif set(got) == set(want) and got.index("fc.weight") > got.index("fc.bias"):
                mistake = "a re-assigned parameter moved to the end: it keeps its place"
            fail(where, f"names {got}, expected torch's {want}", mistake)
        if dict(mine.named_parameters())["fc.weight"] is not new or mine.fc.weight is not new:
            fail(where, "fc.weight is not the Parameter assigned last")
        if hasattr(mine, "gain") or mine.head.bias is not None:
            fail(where, "after del model.gain and head.bias = None, they are still there")
        if "gain" in mine.state_dict():
            fail(where, "the deleted gain is still in state_dict()")

    def test_call_runs_forward(self):
        mine = ours()
        where = kata_call.then(": Net()")(X, scale=2.0)
        got = mine(X, scale=2.0)
        check_close(got, mine.forward(X, scale=2.0), where, rtol=0, atol=0)

    def test_train_and_eval(self):
        mine = ours()
        for call, mode in (("eval", False), ("train", True)):
            where = kata_call.then(f": Net().{call}")()
            back = getattr(mine, call)()
            if back is not mine:
                fail(
                    where,
                    f"returned {describe(back)}, expected the module itself (model = "
                    "Net().eval() and chained calls rely on it)",
                    "nothing returned: torch's train() and eval() return self",
                )
            for path, m in modules_of(mine).items():
                if m.training is not mode:
                    fail(
                        where,
                        f"module {path or '(the model)'} has training={m.training!r}, expected "
                        f"{mode}",
                        "training set on the module itself only: it must reach every "
                        "sub-module, recursively",
                    )
        where = kata_call.then(": Net().train")(False)
        mine.train(False)
        if any(m.training is not False for m in modules_of(mine).values()):
            fail(where, "some module still has training=True")

    def test_zero_grad_sets_none(self):
        mine = ours()
        where = kata_call.then(": Net(); backward; zero_grad")()
        mine(X).sum().backward()
        mine.zero_grad()
        for name, p in mine.named_parameters():
            if p.grad is not None:
                fail(
                    where,
                    f"{name}.grad is {describe(p.grad)}, expected None",
                    "the gradients zeroed in place: the contract (torch's default, "
                    "set_to_none=True) sets them to None"
                    if not p.grad.any()
                    else "some parameters left out (the sub-modules', say)",
                )

    def test_trains_with_sgd_like_torch(self):
        for shared in (False, True):
            mine, ref = ours(shared=shared), theirs(shared=shared)
            where = (
                f"{kata_call.name}: {model_text(shared)}, 3 steps of "
                "SGD(model.parameters(), lr=0.1)"
            )
            opts = [torch.optim.SGD(m.parameters(), lr=0.1) for m in (mine, ref)]
            for _ in range(3):
                for m, opt in zip((mine, ref), opts):
                    opt.zero_grad()
                    (m(X) ** 2).mean().backward()
                    sgd_step(opt)
            got, want = dict(mine.named_parameters()), dict(ref.named_parameters())
            for name, p in want.items():
                # the same float32 ops on the same numbers: equal but for summation order
                check_close(
                    values_of(got.get(name, torch.empty(0))),
                    p.detach(),
                    where + f": {name}",
                    rtol=1e-5,
                    atol=1e-6,
                    mistake="a tied weight handed to the optimizer twice, so it steps twice"
                    if shared
                    else "",
                )

    def test_state_dict_matches_torch(self):
        for shared in (False, True):
            mine, ref = ours(shared=shared), theirs(shared=shared)
            where = kata_call.then(f": {model_text(shared)}.state_dict")()
            sd = mine.state_dict()
            if not isinstance(sd, dict):
                fail(where, f"returned {describe(sd)}, expected a dict")
            want = ref.state_dict()
            if list(sd) != list(want):
                fail(
                    where,
                    f"keys {list(sd)}, expected torch's {list(want)}",
                    state_mistake(list(sd), list(want), [n for n, _ in ref.named_parameters()]),
                )
            params = dict(mine.named_parameters(remove_duplicate=False))
            for name, value in sd.items():
                check_close(value, want[name], where + f"[{name!r}]")
                if value.requires_grad or isinstance(value, module.Parameter):
                    fail(
                        where + f"[{name!r}]",
                        f"the value is {describe(value)}, {type(value).__name__}: expected a "
                        "plain tensor detached from autograd",
                        "the Parameters themselves put in the state dict: torch's holds them "
                        "detached",
                    )
                if value.data_ptr() != params[name].data_ptr():
                    fail(
                        where + f"[{name!r}]",
                        "the value does not share the parameter's storage: torch's state_dict "
                        "is a view of the weights, not a copy",
                        "values cloned: copy the state dict yourself (copy.deepcopy) when you "
                        "need a snapshot",
                    )

    def test_load_state_dict_from_torch(self):
        mine, ref = ours(seed=0), theirs(seed=50)
        state = ref.state_dict()
        keys = list(state)
        snap = Snapshot(**{k.replace(".", "_"): v for k, v in state.items()})
        before = dict(mine.named_parameters())
        where = kata_call.then(": Net().load_state_dict")(
            Shown("torch's Net(seed=50).state_dict()")
        )
        opt = torch.optim.SGD(mine.parameters(), lr=0.1)
        result = mine.load_state_dict(state)
        snap.check(where)
        if list(state) != keys:
            fail(
                where,
                f"the caller's state dict lost keys: {keys} became {list(state)}",
                "entries popped from the state dict to find the unexpected keys",
            )
        if not isinstance(result, tuple) or [list(r) for r in result] != [[], []]:
            fail(
                where,
                f"returned {describe(result)}, expected ([], []): no missing, none unexpected",
            )
        now = dict(mine.named_parameters())
        for name, p in before.items():
            if now.get(name) is not p:
                fail(
                    where,
                    f"{name} is another object than before the load: an optimizer built "
                    "earlier still holds the old one",
                    "a new Parameter assigned for each entry: copy the values into the "
                    "existing ones, in place",
                )
            check_close(p.detach(), state[name], where + f": {name}")
            if p.grad is not None or not p.requires_grad or not p.is_leaf:
                fail(where, f"{name} after the load: {describe(p)}, expected a leaf requiring grad")
        # the optimizer built before the load steps the loaded values, as torch's does
        ref_opt = torch.optim.SGD(ref.parameters(), lr=0.1)
        for m, o in ((mine, opt), (ref, ref_opt)):
            (m(X) ** 2).mean().backward()
            sgd_step(o)
        want = dict(ref.named_parameters())
        for name, p in mine.named_parameters():
            # one float32 step on the same numbers by the same ops
            check_close(
                p.detach(),
                want[name].detach(),
                where + f", then an SGD step by an optimizer built before the load: {name}",
                rtol=1e-5,
                atol=1e-6,
                mistake="the loaded values put in new Parameters: the optimizer still holds "
                "the old ones",
            )

    def test_round_trip_and_dtype(self):
        source, mine = ours(seed=30), ours(seed=0)
        state = {k: v.double() for k, v in source.state_dict().items()}
        where = kata_call.then(": Net().load_state_dict")(Shown("Net(seed=30)'s state as float64"))
        mine.load_state_dict(state)
        for name, p in mine.named_parameters():
            if not isinstance(p, module.Parameter) or p.dtype != torch.float32:
                fail(
                    where,
                    f"{name} became {describe(p)}, {type(p).__name__}: expected the float32 "
                    "Parameter it was, holding the new values",
                    "the state's tensors put in place of the parameters instead of copied into "
                    "them",
                )
            check_close(p.detach(), state[name].float(), where + f": {name}")
        state["fc.weight"].add_(1.0)
        if torch.equal(mine.fc.weight.detach(), state["fc.weight"].float()):
            fail(where, "the model's fc.weight follows later changes to the state's tensor")

    def test_strict_missing_and_unexpected(self):
        mine, ref = ours(seed=0), theirs(seed=50)
        state = dict(ref.state_dict())
        del state["layers.0.bias"], state["shift"]
        state["layers.2.weight"] = torch.zeros(8, 8)
        state["norm.scale"] = torch.ones(8)
        where = kata_call.then(": Net().load_state_dict")(
            Shown(
                "torch's state without layers.0.bias and shift, with layers.2.weight and norm.scale"
            )
        )
        raised = error_of(lambda: mine.load_state_dict(state))
        expect_raises(
            RuntimeError,
            lambda: mine.load_state_dict(state),
            where,
            "strict=True refuses a state dict with missing and unexpected keys, as torch does",
            "keys the model does not know ignored under strict=True" if raised is None else "",
        )
        for key in ("layers.0.bias", "shift", "layers.2.weight", "norm.scale"):
            if key not in str(raised):
                fail(
                    where,
                    f"the RuntimeError says {str(raised)!r}, which does not name {key!r}",
                    "the error names neither the missing nor the unexpected keys: torch's "
                    "names them all",
                )
        partial = dict(state)
        for key in ("layers.2.weight", "norm.scale"):
            del partial[key]
        raised = error_of(lambda: mine.load_state_dict(partial))
        if not isinstance(raised, RuntimeError):
            fail(
                kata_call.then(": Net().load_state_dict")(
                    Shown("torch's state without layers.0.bias and shift")
                ),
                f"{'returned' if raised is None else f'raised {type(raised).__name__}'} where "
                "RuntimeError was expected: strict=True refuses missing keys",
                "only the unexpected keys checked under strict=True",
            )
        fresh = ours(seed=0)
        where = kata_call.then(": Net().load_state_dict")(Shown("the same state"), strict=False)
        result = fresh.load_state_dict(state, strict=False)
        want = ref.load_state_dict(state, strict=False)
        if not isinstance(result, tuple) or len(result) != 2:
            fail(where, f"returned {describe(result)}, expected (missing_keys, unexpected_keys)")
        got = [sorted(r) for r in result]
        if got != [sorted(want.missing_keys), sorted(want.unexpected_keys)]:
            fail(
                where,
                f"returned missing {got[0]}, unexpected {got[1]}, expected torch's "
                f"{sorted(want.missing_keys)}, {sorted(want.unexpected_keys)}",
            )
        untouched = dict(ours(seed=0).named_parameters())
        for name, p in fresh.named_parameters():
            expected = state.get(name, untouched[name])
            check_close(
                p.detach(),
                expected.detach(),
                where + f": {name}",
                mistake="the matching keys left unloaded under strict=False"
                if name in state
                else "",
            )

    def test_shape_mismatch_raises(self):
        for shape, strict in (((1, 4), True), ((8, 5), False)):
            mine, ref = ours(), theirs()
            state = dict(ref.state_dict())
            state["fc.weight"] = torch.ones(shape)
            where = kata_call.then(": Net().load_state_dict")(
                Shown(f"torch's state with fc.weight of shape {shape}"), strict=strict
            )

            def load(mine=mine, state=state, strict=strict):
                return mine.load_state_dict(state, strict=strict)

            raised = error_of(load)
            expect_raises(
                RuntimeError,
                load,
                where,
                f"fc.weight is (8, 4), the state's {shape}",
                ""
                if raised is not None
                else "the shapes left to copy_, which broadcasts (1, 4) over (8, 4) without a word"
                if shape == (1, 4)
                else "a value of another shape passed over without a word: torch refuses it "
                "whatever strict says",
            )
            if "fc.weight" not in str(raised):
                fail(
                    where,
                    f"the RuntimeError says {str(raised)!r}, which does not name 'fc.weight'",
                    "the shapes left to copy_, whose error names no key",
                )
