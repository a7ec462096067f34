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
        raise NotImplementedError("sprint6.micrograd.Value")

    def __add__(self, other: "Value | float") -> "Value":
        raise NotImplementedError("sprint6.micrograd.Value")

    def __mul__(self, other: "Value | float") -> "Value":
        raise NotImplementedError("sprint6.micrograd.Value")

    def __pow__(self, n: float) -> "Value":
        raise NotImplementedError("sprint6.micrograd.Value")

    def __neg__(self) -> "Value":
        raise NotImplementedError("sprint6.micrograd.Value")

    def __sub__(self, other: "Value | float") -> "Value":
        raise NotImplementedError("sprint6.micrograd.Value")

    def __truediv__(self, other: "Value | float") -> "Value":
        raise NotImplementedError("sprint6.micrograd.Value")

    def __radd__(self, other: float) -> "Value":
        raise NotImplementedError("sprint6.micrograd.Value")

    def __rmul__(self, other: float) -> "Value":
        raise NotImplementedError("sprint6.micrograd.Value")

    def __rsub__(self, other: float) -> "Value":
        raise NotImplementedError("sprint6.micrograd.Value")

    def __rtruediv__(self, other: float) -> "Value":
        raise NotImplementedError("sprint6.micrograd.Value")

    def relu(self) -> "Value":
        """max(x, 0); its derivative is 1 where x > 0 and 0 elsewhere (at 0 too)."""
        raise NotImplementedError("sprint6.micrograd.Value")

    def tanh(self) -> "Value":
        """tanh(x), for any finite x; its derivative is 1 - tanh(x)**2."""
        raise NotImplementedError("sprint6.micrograd.Value")

    def exp(self) -> "Value":
        """e**x; its derivative is e**x."""
        raise NotImplementedError("sprint6.micrograd.Value")

    def log(self) -> "Value":
        """The natural log, for x > 0 (ValueError otherwise); its derivative is 1 / x."""
        raise NotImplementedError("sprint6.micrograd.Value")

    def backward(self) -> None:
        """Fill in d(self)/d(v) for every Value v that self depends on (see the class)."""
        raise NotImplementedError("sprint6.micrograd.Value")
