"""Known mistakes and correct alternatives of sprint6.micrograd.

Each variant is a whole Value class; results are made with type(self), so that a mistake
that changes one method keeps the rest of its class around it.
"""

import math
from collections import deque

import torch

from grader.variants import alternative, mistake

# --- a correct base that the mistakes change in one place ----------------------------------


class _Core:
    """Everything but the reflected operators (a number on the left)."""

    def __init__(self, data):
        self.data = float(data)
        self.grad = 0.0
        self._prev = ()
        self._locals = ()

    def _make(self, data, prev, local_grads):
        out = type(self)(data)
        out._prev, out._locals = prev, local_grads
        return out

    def _wrap(self, x):
        return x if isinstance(x, _Core) else type(self)(x)

    def __add__(self, other):
        other = self._wrap(other)
        return self._make(self.data + other.data, (self, other), (1.0, 1.0))

    def __mul__(self, other):
        other = self._wrap(other)
        return self._make(self.data * other.data, (self, other), (other.data, self.data))

    def __pow__(self, n):
        return self._make(self.data**n, (self,), (n * self.data ** (n - 1),))

    def __neg__(self):
        return self * -1

    def __sub__(self, other):
        return self + -self._wrap(other)

    def __truediv__(self, other):
        return self * self._wrap(other) ** -1

    def relu(self):
        return self._make(self.data if self.data > 0 else 0.0, (self,), (float(self.data > 0),))

    def tanh(self):
        t = math.tanh(self.data)
        return self._make(t, (self,), (1 - t**2,))

    def exp(self):
        e = math.exp(self.data)
        return self._make(e, (self,), (e,))

    def log(self):
        return self._make(math.log(self.data), (self,), (1 / self.data,))

    def _order(self):
        """Iterative post-order depth-first search."""
        topo, seen, stack = [], set(), [(self, False)]
        while stack:
            v, done = stack.pop()
            if done:
                topo.append(v)
            elif id(v) not in seen:
                seen.add(id(v))
                stack.append((v, True))
                stack.extend((c, False) for c in v._prev)
        return topo

    def _propagate(self, v):
        for child, local in zip(v._prev, v._locals):
            child.grad += local * v.grad

    def backward(self):
        topo = self._order()
        for v in topo:
            if v._prev:
                v.grad = 0.0
        self.grad += 1.0
        for v in reversed(topo):
            self._propagate(v)


class _Value(_Core):
    def __radd__(self, other):
        return self + other

    def __rmul__(self, other):
        return self * other

    def __rsub__(self, other):
        return self._wrap(other) - self

    def __rtruediv__(self, other):
        return self._wrap(other) / self


# --- mistakes: the walk of the graph ------------------------------------------------------


@mistake("Value")
class RecursiveTopologicalSort(_Value):
    """the topological sort recurses into each child: a chain of 10,000 operations passes
    Python's recursion limit and raises RecursionError"""

    def _order(self):
        topo, seen = [], set()

        def build(v):
            if id(v) not in seen:
                seen.add(id(v))
                for child in v._prev:
                    build(child)
                topo.append(v)

        build(self)
        return topo


@mistake("Value")
class GradAssigned(_Value):
    """each child's grad is assigned, not added to: a Value used twice (x * x, a node
    feeding two branches) keeps only the contribution of its last use"""

    def _propagate(self, v):
        for child, local in zip(v._prev, v._locals):
            child.grad = local * v.grad


@mistake("Value")
class BreadthFirst(_Value):
    """backward walks breadth-first from the output, passing each Value's grad on as it
    is reached: a Value reached by a short path passes its grad on before a longer path
    has added to it"""

    def backward(self):
        for v in self._order():
            if v._prev:
                v.grad = 0.0
        self.grad += 1.0
        queue, seen = deque([self]), {id(self)}
        while queue:
            v = queue.popleft()
            self._propagate(v)
            for child in v._prev:
                if id(child) not in seen:
                    seen.add(id(child))
                    queue.append(child)


@mistake("Value")
class DepthFirstWithoutSort(_Value):
    """backward walks depth-first from the output and passes each Value's grad on when it
    is first reached (pre-order), not in reverse topological order"""

    def backward(self):
        for v in self._order():
            if v._prev:
                v.grad = 0.0
        self.grad += 1.0
        stack, seen = [self], {id(self)}
        while stack:
            v = stack.pop()
            self._propagate(v)
            for child in v._prev:
                if id(child) not in seen:
                    seen.add(id(child))
                    stack.append(child)


@mistake("Value")
class NoVisitedSet(_Value):
    """the topological sort keeps no set of visited Values: a Value reached along two paths
    is listed, and passes its grad on, twice"""

    def _order(self):
        topo, stack = [], [(self, False)]
        while stack:
            v, done = stack.pop()
            if done:
                topo.append(v)
            else:
                stack.append((v, True))
                stack.extend((c, False) for c in v._prev)
        return topo


@mistake("Value")
class NoSeed(_Value):
    """backward() never sets the output's own grad to 1.0 first: every gradient is 0"""

    def backward(self):
        topo = self._order()
        for v in topo:
            if v._prev:
                v.grad = 0.0
        for v in reversed(topo):
            self._propagate(v)


@mistake("Value")
class InteriorGradsKept(_Value):
    """backward() sets the output's grad to 1.0 and leaves the other Values' grads as they
    are: a second backward() adds the interior grads of the first on top (micrograd's
    original behaviour), so the leaves get more than twice their gradient"""

    def backward(self):
        topo = self._order()
        self.grad = 1.0
        for v in reversed(topo):
            self._propagate(v)


# --- mistakes: one operation --------------------------------------------------------------


@mistake("Value")
class RsubSwapped(_Value):
    """the reflected subtraction swaps its operands: 2.5 - a computes a - 2.5"""

    def __rsub__(self, other):
        return self - other


@mistake("Value")
class RtruedivSwapped(_Value):
    """the reflected division swaps its operands: 2.5 / a computes a / 2.5"""

    def __rtruediv__(self, other):
        return self / other


@mistake("Value")
class NoReflectedOperators(_Core):
    """no reflected operators (__radd__, __rsub__, ...): a number on the left raises
    TypeError"""


@mistake("Value")
class TanhDerivativeOfInput(_Value):
    """tanh's local derivative written with the input x where it takes tanh(x)"""

    def tanh(self):
        return self._make(math.tanh(self.data), (self,), (1 - self.data**2,))


@mistake("Value")
class TanhFromExp(_Value):
    """tanh computed as (e^2x - 1) / (e^2x + 1): math.exp overflows for x past ~355"""

    def tanh(self):
        e = math.exp(2 * self.data)
        t = (e - 1) / (e + 1)
        return self._make(t, (self,), (1 - t**2,))


@mistake("Value")
class ReluGradAtZero(_Value):
    """relu's gradient is 1 from 0 on (x >= 0): torch's is 0 at exactly 0"""

    def relu(self):
        return self._make(max(self.data, 0.0), (self,), (float(self.data >= 0),))


@mistake("Value")
class PowerRuleOffByOne(_Value):
    """the power rule keeps the exponent: n * x ** n instead of one power less"""

    def __pow__(self, n):
        return self._make(self.data**n, (self,), (n * self.data**n,))


@mistake("Value")
class NegationDetached(_Value):
    """unary minus returns a fresh Value with no link to its operand: the gradient stops"""

    def __neg__(self):
        return type(self)(-self.data)


@mistake("Value")
class DataNotConverted(_Value):
    """data stored as given and grad starting at the int 0: Value(3).data is an int, and
    so is the relu of a negative (max(0, x))"""

    def __init__(self, data):
        super().__init__(data)
        self.data = data
        self.grad = 0

    def relu(self):
        return self._make(max(0, self.data), (self,), (float(self.data > 0),))


@mistake("Value")
class TorchInside:
    """each Value holds a float64 tensor and backward() lets torch's autograd do the work:
    the kata is pure Python"""

    def __init__(self, data, _t=None, _leaves=None):
        self._t = torch.tensor(float(data), dtype=torch.float64, requires_grad=True)
        if _t is not None:
            self._t = _t
        self.data = self._t.item()
        self.grad = 0.0
        self._leaves = [self] if _leaves is None else _leaves

    def _apply(self, other, fn):
        other = other if isinstance(other, TorchInside) else TorchInside(other)
        t = fn(self._t, other._t)
        leaves = list({id(v): v for v in self._leaves + other._leaves}.values())
        return TorchInside(t.item(), t, leaves)

    def __add__(self, o):
        return self._apply(o, lambda a, b: a + b)

    def __radd__(self, o):
        return self._apply(o, lambda a, b: b + a)

    def __sub__(self, o):
        return self._apply(o, lambda a, b: a - b)

    def __rsub__(self, o):
        return self._apply(o, lambda a, b: b - a)

    def __mul__(self, o):
        return self._apply(o, lambda a, b: a * b)

    def __rmul__(self, o):
        return self._apply(o, lambda a, b: b * a)

    def __truediv__(self, o):
        return self._apply(o, lambda a, b: a / b)

    def __rtruediv__(self, o):
        return self._apply(o, lambda a, b: b / a)

    def __pow__(self, n):
        return self._apply(0.0, lambda a, b: a**n)

    def __neg__(self):
        return self._apply(0.0, lambda a, b: -a)

    def relu(self):
        return self._apply(0.0, lambda a, b: a.relu())

    def tanh(self):
        return self._apply(0.0, lambda a, b: a.tanh())

    def exp(self):
        return self._apply(0.0, lambda a, b: a.exp())

    def log(self):
        return self._apply(0.0, lambda a, b: a.log())

    def backward(self):
        self._t.backward(retain_graph=True)
        for leaf in self._leaves:
            if leaf._t.grad is not None:
                leaf.grad = leaf._t.grad.item()


# --- alternatives -------------------------------------------------------------------------


@alternative("Value")
class KahnWithClosures:
    """Each result keeps a closure that passes its grad to its inputs (micrograd's route);
    subtraction and division are operations of their own; the order comes from Kahn's
    algorithm: a Value is handled once every Value that uses it is done."""

    def __init__(self, data):
        self.data = float(data)
        self.grad = 0.0
        self._prev = ()
        self._backward = lambda: None

    @staticmethod
    def _of(x):
        return x if isinstance(x, KahnWithClosures) else KahnWithClosures(x)

    def _result(self, data, prev, backward):
        out = KahnWithClosures(data)
        out._prev = prev
        out._backward = lambda: backward(out.grad)
        return out

    def __add__(self, other):
        other = self._of(other)

        def backward(g):
            self.grad += g
            other.grad += g

        return self._result(self.data + other.data, (self, other), backward)

    def __sub__(self, other):
        other = self._of(other)

        def backward(g):
            self.grad += g
            other.grad -= g

        return self._result(self.data - other.data, (self, other), backward)

    def __mul__(self, other):
        other = self._of(other)

        def backward(g):
            self.grad += other.data * g
            other.grad += self.data * g

        return self._result(self.data * other.data, (self, other), backward)

    def __truediv__(self, other):
        other = self._of(other)

        def backward(g):
            self.grad += g / other.data
            other.grad -= g * self.data / other.data**2

        return self._result(self.data / other.data, (self, other), backward)

    def __radd__(self, other):
        return self._of(other) + self

    def __rsub__(self, other):
        return self._of(other) - self

    def __rmul__(self, other):
        return self._of(other) * self

    def __rtruediv__(self, other):
        return self._of(other) / self

    def __neg__(self):
        def backward(g):
            self.grad -= g

        return self._result(-self.data, (self,), backward)

    def __pow__(self, n):
        def backward(g):
            self.grad += n * self.data ** (n - 1) * g

        return self._result(self.data**n, (self,), backward)

    def relu(self):
        def backward(g):
            if self.data > 0:
                self.grad += g

        return self._result(max(0.0, self.data), (self,), backward)

    def tanh(self):
        # from exp, without overflow: e^(-2|x|) is at most 1
        e = math.exp(-2 * abs(self.data))
        t = math.copysign((1 - e) / (1 + e), self.data)

        def backward(g):
            self.grad += (1 - t * t) * g

        return self._result(t, (self,), backward)

    def exp(self):
        e = math.exp(self.data)

        def backward(g):
            self.grad += e * g

        return self._result(e, (self,), backward)

    def log(self):
        def backward(g):
            self.grad += g / self.data

        return self._result(math.log(self.data), (self,), backward)

    def backward(self):
        users = {id(self): 0}  # how many operations use each Value
        nodes, stack = [self], [self]
        while stack:
            for child in stack.pop()._prev:
                if id(child) not in users:
                    users[id(child)] = 0
                    nodes.append(child)
                    stack.append(child)
                users[id(child)] += 1
        for v in nodes:
            if v._prev:
                v.grad = 0.0
        self.grad += 1.0
        ready = deque([self])
        while ready:
            v = ready.popleft()
            v._backward()
            for child in v._prev:
                users[id(child)] -= 1
                if users[id(child)] == 0:
                    ready.append(child)


@alternative("Value")
class GradientsInADict(_Value):
    """The pass sums the gradients in a dict of its own, then writes them out: added to
    the leaves, set on the others; the order from a depth-first search over iterators."""

    def _order(self):
        topo, seen = [], {id(self)}
        stack = [(self, iter(self._prev))]
        while stack:
            v, children = stack[-1]
            child = next(children, None)
            if child is None:
                topo.append(v)
                stack.pop()
            elif id(child) not in seen:
                seen.add(id(child))
                stack.append((child, iter(child._prev)))
        return topo

    def backward(self):
        topo = self._order()
        grads = {id(v): 0.0 for v in topo}
        grads[id(self)] = 1.0
        for v in reversed(topo):
            for child, local in zip(v._prev, v._locals):
                grads[id(child)] += local * grads[id(v)]
        for v in topo:
            if v._prev:
                v.grad = grads[id(v)]
            else:
                v.grad += grads[id(v)]
