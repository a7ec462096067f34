"""Grades sprint6.micrograd against torch's autograd in float64 on the same expressions.

Each operation alone (numbers on either side, relu at 0, tanh far out), Values used
more than once, random expression graphs whose every leaf's grad must equal torch's, a
chain of 10,000 operations, backward() called twice (leaves accumulate as torch's .grad
does), Python's own errors for a division by zero and a log of 0, exact float types, and
no torch call from inside Value.
"""

import gc
import math
import operator
import random

import torch

from grader import kata, target_module
from grader.checks import count_torch_calls, expect_raises, fail
from tests.kata_helpers import kata_call

micrograd = target_module("sprint6.micrograd")

# Both sides compute in float64 and differ only in rounding: another route (a / b as
# a * b ** -1, tanh from exp, the uses of a node summed in another order) moves a result
# by ~1e-16 relative an operation, ≲1e-13 over these graphs, where every known mistake is
# off by a sizeable fraction of the value.
REL, ABS = 1e-9, 1e-9

GRAPH_WALK = (
    "a walk of the graph that is not a reverse topological order (a breadth-first walk "
    "from the output, or a depth-first one without a topological sort, passes a node's "
    "grad on before every use of it has added to it), a node passed through twice, or a "
    "grad assigned where each use must add to it"
)
NO_SEED = "backward() never sets the output's own gradient (d out / d out = 1.0) to start with"


def close(got: float, want: float) -> bool:
    return math.isclose(got, want, rel_tol=REL, abs_tol=ABS)


def check_float(got, want: float, where: str, what: str, mistake: str = "") -> None:
    """got is a Python float (exactly) close to want."""
    if type(got) is not float:
        fail(
            where,
            f"{what} is {type(got).__name__} {got!r}, expected a Python float",
            "a result kept as an int, a numpy number or a tensor: data and grad are floats",
        )
    if not close(got, want):
        fail(
            where,
            f"{what} is {got:.10g}, expected {want:.10g} (torch float64; "
            f"tolerance rel {REL:g}, abs {ABS:g})",
            mistake,
        )


def check_floats(got: list, want: list[float], names: list[str], where: str, mistake: str, out):
    """Each got[i] is a float close to want[i]; the message names the first that is not.
    `out` is the Value backward() ran from: a grad of 0.0 there tells why all are wrong."""
    for name, g in zip(names, got):
        if type(g) is not float:
            check_float(g, 0.0, where, name)
    bad = [i for i, (g, w) in enumerate(zip(got, want)) if not close(g, w)]
    if not bad:
        return
    i = bad[0]
    if out.grad == 0.0:
        mistake = NO_SEED
    fail(
        where,
        f"{names[i]} is {got[i]:.10g}, expected {want[i]:.10g} (torch float64 autograd; "
        f"{len(bad)} of {len(got)} differ)",
        mistake,
    )


def run(where: str, call, mistake: str = ""):
    """call(), with any error of the kata's (NotImplementedError aside) a teaching failure."""
    try:
        return call()
    except (NotImplementedError, AssertionError):  # a stub, a failure, the guard's refusal
        raise
    except RecursionError:
        fail(
            where,
            "raised RecursionError",
            "a recursive walk of the graph (a recursive topological sort): a chain deeper "
            "than Python's recursion limit (1000 frames) breaks it; walk with a stack or a "
            "queue of your own",
        )
    except Exception as exc:
        fail(where, f"raised {type(exc).__name__}: {exc}", mistake)


def torch_grads(build, datas: list[float], *, twice: bool = False):
    """out.data and d out / d x for each x, from torch's autograd in float64 (0.0 where
    out does not depend on x, as for a Value that keeps its grad of 0.0)."""
    xs = [torch.tensor(d, dtype=torch.float64, requires_grad=True) for d in datas]
    out = build(*xs)
    out.backward(retain_graph=twice)
    if twice:
        out.backward()
    grads = [0.0 if x.grad is None else x.grad.item() for x in xs]
    return out.item(), grads


# --- each operation alone -----------------------------------------------------------------

POWER_RULE = (
    "the power rule's exponent off by one: the derivative of x ** n is n times x to the power n - 1"
)
TANH_SLOPE = (
    "tanh's derivative written with the input where it takes the output: it is "
    "1 - tanh(x)**2, not 1 - x**2"
)
REFLECTED = (
    "no reflected operator (__radd__, __rsub__, __rmul__, __rtruediv__): with a number on "
    "the left, Python hands the operation to the Value through those"
)
A, B = 0.7, -1.3  # distinct magnitudes and signs: a swapped operand changes the result
OPS = [  # (expression, build, what a wrong result there most often comes from)
    ("a + b", lambda a, b: a + b, ""),
    ("a + 2.5", lambda a, b: a + 2.5, ""),
    ("2.5 + a", lambda a, b: 2.5 + a, ""),
    ("a * b", lambda a, b: a * b, "the product's derivatives swapped or squared: d(a·b)/da "
     "is the other factor"),
    ("a * 2.5", lambda a, b: a * 2.5, ""),
    ("2.5 * a", lambda a, b: 2.5 * a, ""),
    ("-a", lambda a, b: -a, "unary minus making a fresh Value that is not linked to a: "
     "the gradient stops there"),
    ("a - b", lambda a, b: a - b, ""),
    ("a - 2.5", lambda a, b: a - 2.5, ""),
    ("2.5 - a", lambda a, b: 2.5 - a, "the reflected subtraction (a number on the left) "
     "with its operands swapped: it computes a minus the number"),
    ("a ** 3", lambda a, b: a**3, POWER_RULE),
    ("b ** -2", lambda a, b: b**-2, POWER_RULE),
    ("a ** 0.5", lambda a, b: a**0.5, POWER_RULE),
    ("a / b", lambda a, b: a / b, ""),
    ("a / 2.5", lambda a, b: a / 2.5, ""),
    ("2.5 / a", lambda a, b: 2.5 / a, "the reflected division (a number on the left) with "
     "its operands swapped: it computes a over the number"),
    ("a.relu()", lambda a, b: a.relu(), ""),
    ("b.relu()", lambda a, b: b.relu(), "relu passing a gradient below 0, where it is flat"),
    ("a.tanh()", lambda a, b: a.tanh(), TANH_SLOPE),
    ("b.tanh()", lambda a, b: b.tanh(), TANH_SLOPE),
    ("b.exp()", lambda a, b: b.exp(), "exp's derivative is exp(x) itself"),
    ("a.log()", lambda a, b: a.log(), "log's derivative is 1 / x"),
]  # fmt: skip


def check_operation(
    text: str, build, datas: tuple[float, ...], mistake: str, raised: str = ""
) -> None:
    """out = build(Values of datas), then out.backward(): out.data and every grad as torch's.
    `mistake` is the usual cause of wrong numbers there, `raised` of an error."""
    names = "ab"[: len(datas)]
    given = ", ".join(f"{n} = Value({d})" for n, d in zip(names, datas))
    where = f"{kata_call.name}: {given}; out = {text}; out.backward()"
    values = [micrograd.Value(d) for d in datas]
    out = run(where, lambda: build(*values), raised)
    run(where, out.backward, raised)
    want_data, want_grads = torch_grads(build, list(datas))
    check_float(out.data, want_data, where, "out.data", mistake)
    check_floats(
        [v.grad for v in values],
        want_grads,
        [f"{n}.grad" for n in names],
        where,
        mistake,
        out,
    )
    for n, v, d in zip(names, values, datas):
        if v.data != d:
            fail(where, f"{n}.data became {v.data}, was {d}: an operation changed its operand")


@kata("Value")
class TestValue:
    def test_holds_floats(self):
        where = kata_call(3)
        x = run(where, lambda: micrograd.Value(3))
        check_float(x.data, 3.0, where, ".data", "the data stored as given, an int staying an int")
        check_float(x.grad, 0.0, where, ".grad", "grad starting at the int 0")
        cases = {
            "Value(2) * 3": lambda: micrograd.Value(2) * 3,
            "Value(-2).relu()": lambda: micrograd.Value(-2).relu(),
            "Value(4) ** 2": lambda: micrograd.Value(4) ** 2,
            "1 - Value(1)": lambda: 1 - micrograd.Value(1),
        }
        for text, build in cases.items():
            where = f"{kata_call.name}: {text}"
            out = run(where, build, REFLECTED if text[0].isdigit() else "")
            if not isinstance(out, micrograd.Value):
                fail(where, f"returned {type(out).__name__}, expected a Value")
            want = {"Value(2) * 3": 6.0, "Value(4) ** 2": 16.0}.get(text, 0.0)
            check_float(out.data, want, where, ".data", "an int result (max(0, x), a product "
                        "of ints) stored without converting it to float")  # fmt: skip
        where = f"{kata_call.name}: a, b = Value(2.0), Value(5.0); out = a * 3; out.backward()"
        a, b = micrograd.Value(2.0), micrograd.Value(5.0)
        out = a * 3
        run(where, out.backward)
        check_floats(
            [a.grad, b.grad],
            [3.0, 0.0],
            ["a.grad", "b.grad (b is not in the graph)"],
            where,
            "",
            out,
        )

    def test_each_operation(self):
        for text, build, mistake in OPS:
            raised = REFLECTED if text[0].isdigit() else ""
            check_operation(text, build, (A, B), mistake, raised)

    def test_relu_at_zero_and_tanh_far_out(self):
        # torch's relu passes no gradient at exactly 0; tanh saturates without overflow
        check_operation(
            "a.relu()",
            lambda a: a.relu(),
            (0.0,),
            "relu passing a gradient at exactly 0, where torch's passes none (the test "
            "for the positive side includes 0)",
        )
        for x in (1000.0, -1000.0):
            check_operation(
                "a.tanh()",
                lambda a: a.tanh(),
                (x,),
                TANH_SLOPE,
                raised="tanh built from exp(2x), which overflows far from 0, where tanh "
                "itself is simply -1 or 1",
            )

    def test_a_value_used_twice(self):
        check_operation(
            "a * a",
            lambda a: a * a,
            (1.5,),
            "a grad assigned where it must be added: a Value used twice keeps only the "
            "contribution of its last use",
        )
        check_operation(
            "a + a + a",
            lambda a: a + a + a,
            (1.5,),
            "a grad assigned where it must be added: a Value used twice keeps only the "
            "contribution of its last use",
        )

    def test_a_node_feeding_two_branches(self):
        # h feeds the output straight away and through a longer branch: its grad is
        # complete only once both branches have added to it
        def build(x, y):
            h = x * y + 1.0
            return (h.tanh() * 2.0).exp() * h + h

        text = "h = a * b + 1.0; out = (h.tanh() * 2.0).exp() * h + h"
        where = f"{kata_call.name}: a, b = Value({A}), Value({B}); {text}; out.backward()"
        a, b = micrograd.Value(A), micrograd.Value(B)
        h = a * b + 1.0
        t = h.tanh()
        out = (t * 2.0).exp() * h + h
        run(where, out.backward)
        want_data, want_grads = torch_grads(build, [A, B])
        check_float(out.data, want_data, where, "out.data")
        check_floats([a.grad, b.grad], want_grads, ["a.grad", "b.grad"], where, GRAPH_WALK, out)
        # the interior Values hold d out / d v too, as torch's retain_grad() shows
        x, y = (torch.tensor(d, dtype=torch.float64, requires_grad=True) for d in (A, B))
        th = x * y + 1.0
        tt = th.tanh()
        th.retain_grad(), tt.retain_grad()
        ((tt * 2.0).exp() * th + th).backward()
        check_floats(
            [h.grad, t.grad, out.grad],
            [th.grad.item(), tt.grad.item(), 1.0],
            ["h.grad", "h.tanh().grad", "out.grad"],
            where,
            GRAPH_WALK,
            out,
        )

    def test_random_graphs_equal_torch(self):
        for seed in range(6):
            leaves, steps = random_graph(seed)
            text = graph_text(leaves, steps)
            where = f"{kata_call.name} on the graph (seed {seed})\n    {text}\nthen out.backward()"
            values = [micrograd.Value(d) for d in leaves]
            out = run(where, lambda s=steps, v=values: evaluate(s, v))
            run(where, out.backward)
            want_data, want_grads = torch_grads(lambda *xs, s=steps: evaluate(s, xs), leaves)
            check_float(out.data, want_data, where, "out.data")
            names = [f"v{i}.grad" for i in range(len(leaves))]
            check_floats([v.grad for v in values], want_grads, names, where, GRAPH_WALK, out)
            if any(v.data != d for v, d in zip(values, leaves)):
                fail(where, "a leaf's data changed: an operation changed its operand")

    def test_chain_of_10000(self):
        n, r = 10_000, 1.0001
        where = f"{kata_call.name}: x = Value(0.5); then {n} times x = x * {r}; x.backward()"
        check_pure(where, lambda: micrograd.Value(0.5) * r)  # before 10,000 torch calls
        gc.disable()  # 20,000 Values would set off full collections over torch's whole heap
        try:
            x = micrograd.Value(0.5)
            v = x
            for _ in range(n):
                v = v * r
            run(where, v.backward)
        finally:
            gc.enable()
        check_floats([x.grad], [r**n], ["the first x's grad"], where, GRAPH_WALK, v)

    def test_backward_twice_accumulates_in_leaves(self):
        def build(x, y):
            h = x * y
            return h.tanh() * h + h

        text = "h = a * b; out = h.tanh() * h + h"
        where = f"{kata_call.name}: a, b = Value({A}), Value({B}); {text}; out.backward() twice"
        a, b = micrograd.Value(A), micrograd.Value(B)
        h = a * b
        out = h.tanh() * h + h
        run(where, out.backward)
        _, once = torch_grads(build, [A, B])
        check_floats(
            [a.grad, b.grad],
            once,
            ["a.grad", "b.grad"],
            where + " (after the first)",
            GRAPH_WALK,
            out,
        )
        run(where, out.backward)
        _, want = torch_grads(build, [A, B], twice=True)
        check_floats(
            [a.grad, b.grad],
            want,
            ["a.grad", "b.grad"],
            where,
            "the Values inside the graph keep the grads of the first backward(), so the "
            "second adds them again on the way down: only the leaves accumulate, each "
            "call starts the others afresh",
            out,
        )
        # a second output built on the first: the leaves add up both calls' gradients
        calls = "y = a.tanh(); y.backward(); z = y * 3.0; z.backward()"
        where = f"{kata_call.name}: a = Value({A}); {calls}"
        a = micrograd.Value(A)
        y = a.tanh()
        run(where, y.backward)
        z = y * 3.0
        run(where, z.backward)
        want = 4.0 * (1.0 - math.tanh(A) ** 2)  # 1 from y, 3 from z
        check_float(
            a.grad,
            want,
            where,
            "a.grad",
            "y keeps its grad of 1.0 from y.backward(), so z.backward() passes on 1.0 + 3.0: "
            "each call starts the Values inside its graph afresh",
        )
        check_float(y.grad, 3.0, where, "y.grad (d z / d y)")

    def test_python_errors(self):
        Value = micrograd.Value
        cases = [
            (ZeroDivisionError, "Value(1.0) / Value(0.0)", lambda: Value(1.0) / Value(0.0)),
            (ZeroDivisionError, "Value(1.0) / 0", lambda: Value(1.0) / 0),
            (ZeroDivisionError, "2.0 / Value(0.0)", lambda: 2.0 / Value(0.0)),
            (ValueError, "Value(0.0).log()", lambda: Value(0.0).log()),
            (ValueError, "Value(-1.0).log()", lambda: Value(-1.0).log()),
        ]
        for error, text, call in cases:
            expect_raises(
                error,
                call,
                f"{kata_call.name}: {text}",
                "Python's float errors stand, as the docstring says",
            )

    def test_pure_python(self):
        where = f"{kata_call.name}: every operation and backward() (a, b = Value({A}), Value({B}))"

        def every_operation():
            a, b = micrograd.Value(A), micrograd.Value(B)
            out = run(where, lambda: sum_all([build(a, b) for _, build, _ in OPS]))
            run(where, out.backward)

        check_pure(where, every_operation)


def check_pure(where: str, call) -> None:
    """call() makes no torch call at all."""
    with count_torch_calls() as calls:
        call()
    if calls.count:
        fail(
            where,
            f"made {calls.count} torch calls, expected none",
            "Value built on torch (a tensor for the data, torch's functions for the maths): "
            "the kata is pure Python floats, with the math module",
        )


def sum_all(values):
    total = values[0]
    for v in values[1:]:
        total = total + v
    return total


# --- random expression graphs ------------------------------------------------------------

KINDS = ["+", "-", "*", "/", "c+", "+c", "c-", "-c", "c*", "*c", "c/", "/c"]
KINDS += ["**", "neg", "relu", "tanh", "exp", "log"]
BINARY = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv}
POWERS = [2, 3, -1, 0.5, 1.5, -1.5]


def float_of(kind: str, x: float, y: float) -> float | None:
    """The data a step would give, or None where it is undefined or too large."""
    op = kind.strip("c")
    if op in BINARY:
        if op == "/" and abs(y) < 0.3:
            return None
        out = BINARY[op](x, y)
    elif kind == "**":
        if (y != int(y) and x < 0.2) or (y < 0 and abs(x) < 0.3):
            return None
        out = x**y
    elif kind == "log":
        out = math.log(x) if x >= 0.2 else None
    elif kind == "exp":
        out = math.exp(x) if x <= 2.5 else None
    else:
        out = {"neg": -x, "relu": max(x, 0.0), "tanh": math.tanh(x)}[kind]
    return None if out is None or abs(out) > 30 else out


def random_graph(seed: int, n_leaves: int = 4):
    """Leaf data and steps (kind, i, j_or_number): every kind of step at least once,
    operands drawn among the recent Values and all of them, so that Values are reused."""
    rng = random.Random(seed)  # a generator of its own: the global ones stay untouched
    leaves = [round(rng.uniform(-2, 2), 2) for _ in range(n_leaves)]
    data = list(leaves)
    steps = []

    def pick() -> int:
        if rng.random() < 0.5:
            return rng.randrange(max(0, len(data) - 3), len(data))
        return rng.randrange(len(data))

    kinds = KINDS[:]
    rng.shuffle(kinds)
    for kind in kinds + rng.sample(KINDS, 4):
        for _ in range(30):
            i = pick()
            if kind in BINARY:
                j = pick()
                x, y = data[i], data[j]
            elif kind.startswith("c") or kind.endswith("c"):
                j = round(rng.choice([-1, 1]) * rng.uniform(0.5, 2.5), 2)
                x, y = (j, data[i]) if kind.startswith("c") else (data[i], j)
            else:
                j = rng.choice(POWERS) if kind == "**" else None
                x, y = data[i], j
            out = float_of(kind, x, y)
            if out is not None:
                data.append(out)
                steps.append((kind, i, j))
                break
    return leaves, steps


def evaluate(steps, values: list):
    """Run the steps on Values or on tensors alike; out is the sum of every Value that no
    later step uses, so that each one reaches the output."""
    values = list(values)
    used = set()
    for kind, i, j in steps:
        v = values[i]
        used.add(i)
        if kind in BINARY:
            used.add(j)
            out = BINARY[kind](v, values[j])
        elif kind.startswith("c"):
            out = BINARY[kind[1]](j, v)
        elif kind.endswith("c"):
            out = BINARY[kind[0]](v, j)
        elif kind == "**":
            out = v**j
        elif kind == "neg":
            out = -v
        else:
            out = getattr(v, kind)()
        values.append(out)
    return sum_all([v for k, v in enumerate(values) if k not in used])


def graph_text(leaves: list[float], steps) -> str:
    lines = [f"v{k} = Value({d})" for k, d in enumerate(leaves)]
    used = set()
    for k, (kind, i, j) in enumerate(steps, start=len(leaves)):
        used.add(i)
        if kind in BINARY:
            used.add(j)
            expr = f"v{i} {kind} v{j}"
        elif kind.startswith("c"):
            expr = f"{j} {kind[1]} v{i}"
        elif kind.endswith("c"):
            expr = f"v{i} {kind[0]} {j}"
        elif kind == "**":
            expr = f"v{i} ** {j}"
        elif kind == "neg":
            expr = f"-v{i}"
        else:
            expr = f"v{i}.{kind}()"
        lines.append(f"v{k} = {expr}")
    sinks = [f"v{k}" for k in range(len(leaves) + len(steps)) if k not in used]
    lines.append("out = " + " + ".join(sinks))
    return "; ".join(lines)
