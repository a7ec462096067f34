"""micrograd: a scalar autograd engine in pure Python, the machinery behind loss.backward().

Every Value remembers the Values it was computed from and the local derivative of itself
with respect to each; backward() walks that graph from the output in reverse topological
order and applies the chain rule, as torch's autograd does for tensors.
"""

import math


class Value:
    """A scalar that records how it was computed, so that backward() can differentiate it.

    Value(data) holds `data`, a Python float (an int is converted: Value(3).data is 3.0),
    and `grad`, a float starting at 0.0. Arithmetic builds new Values: `+ - * /` between
    Values or with a Python number on either side (`2 * x`, `1 - x`, `1 / x` work too),
    unary minus, and `x ** n` for a Python int or float n (a Value exponent is not
    supported); the methods relu(), tanh(), exp() and log() give one more Value each. The
    data of every result is a float, and the operands are left unchanged.

    out.backward() fills in d(out)/d(v) for every Value v that out was computed from,
    walking the graph in reverse topological order without recursion (a chain of 10,000
    operations works), so that a Value used more than once (x * x, a node feeding two
    branches) sums the gradients of all its uses. The derivatives are torch's: relu's is 0
    at 0 and below, 1 above; tanh's is 1 - tanh(x)**2; x ** n's is n * x ** (n - 1).
    Leaves (Values made by Value(data), the numbers promoted to Values included) accumulate
    as a torch tensor's .grad does: each backward() adds to their grad, so calling it twice
    doubles them, and two outputs sharing a leaf add up there. Every Value computed by an
    operation (out included, when it is one: out.grad is then 1.0) ends holding its
    gradient from this call only. A Value that out does not depend on keeps its grad.

    Python's float errors stand: a division by zero (x / 0, x / Value(0.0), 2.0 /
    Value(0.0)) raises ZeroDivisionError, and log() of data <= 0 raises ValueError (as
    math.log does); tanh() works for any finite data (tanh of 1000.0 is 1.0). A negative
    base with a non-integer exponent has no real result and is not defined here.

    Pure Python: Value uses no torch at all (no tensors, no torch functions: a test counts
    torch calls and allows none); the math module gives exp, log and tanh.

    Off limits (the grader refuses each, however it is imported):
    torch.autograd.backward, torch.autograd.grad, torch.Tensor.backward.
    """

    def __init__(self, data: float):
        self.data = float(data)
        self.grad = 0.0
        self._children: tuple[Value, ...] = ()  # the Values this one was computed from
        self._local_grads: tuple[float, ...] = ()  # d(self)/d(child), one per child

    def __add__(self, other: "Value | float") -> "Value":
        other = _as_value(other)
        return _node(self.data + other.data, (self, other), (1.0, 1.0))

    def __mul__(self, other: "Value | float") -> "Value":
        other = _as_value(other)
        return _node(self.data * other.data, (self, other), (other.data, self.data))

    def __pow__(self, n: float) -> "Value":
        return _node(self.data**n, (self,), (n * self.data ** (n - 1),))

    def __neg__(self) -> "Value":
        return self * -1.0

    def __sub__(self, other: "Value | float") -> "Value":
        return self + -_as_value(other)

    def __truediv__(self, other: "Value | float") -> "Value":
        return self * _as_value(other) ** -1

    def __radd__(self, other: float) -> "Value":
        return self + other

    def __rmul__(self, other: float) -> "Value":
        return self * other

    def __rsub__(self, other: float) -> "Value":
        return _as_value(other) - self

    def __rtruediv__(self, other: float) -> "Value":
        return _as_value(other) / self

    def relu(self) -> "Value":
        """max(x, 0); its derivative is 1 where x > 0 and 0 elsewhere (at 0 too)."""
        return _node(max(self.data, 0.0), (self,), (1.0 if self.data > 0 else 0.0,))

    def tanh(self) -> "Value":
        """tanh(x), for any finite x; its derivative is 1 - tanh(x)**2."""
        t = math.tanh(self.data)
        return _node(t, (self,), (1.0 - t * t,))

    def exp(self) -> "Value":
        """e**x; its derivative is e**x."""
        e = math.exp(self.data)
        return _node(e, (self,), (e,))

    def log(self) -> "Value":
        """The natural log, for x > 0 (ValueError otherwise); its derivative is 1 / x."""
        return _node(math.log(self.data), (self,), (1.0 / self.data,))

    def backward(self) -> None:
        """Fill in d(self)/d(v) for every Value v that self depends on (see the class)."""
        topo = _topological_order(self)  # every input before the Values computed from it
        for v in topo:
            if v._children:
                v.grad = 0.0  # interior Values hold this call's gradient only
        self.grad += 1.0  # d(self)/d(self)
        for v in reversed(topo):
            for child, local in zip(v._children, v._local_grads):
                child.grad += local * v.grad  # the chain rule, summed over every use


def _as_value(x: "Value | float") -> Value:
    return x if isinstance(x, Value) else Value(x)


def _node(data: float, children: tuple[Value, ...], local_grads: tuple[float, ...]) -> Value:
    """The result of an operation: data, and the derivative with respect to each input."""
    out = Value(data)
    out._children = children
    out._local_grads = local_grads
    return out


def _topological_order(root: Value) -> list[Value]:
    """Every Value root depends on, root last, each after all of its children: a
    depth-first search with an explicit stack, so that a deep graph needs no recursion."""
    topo: list[Value] = []
    visited: set[int] = set()
    stack: list[tuple[Value, bool]] = [(root, False)]
    while stack:
        v, children_done = stack.pop()
        if children_done:
            topo.append(v)  # all its children are already in topo
        elif id(v) not in visited:
            visited.add(id(v))
            stack.append((v, True))
            stack.extend((c, False) for c in v._children if id(c) not in visited)
    return topo
