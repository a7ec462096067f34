"""Module and Parameter from scratch: what nn.Module does with the weights you give it.

A Module registers the Parameters and sub-modules assigned to its attributes, names them
with dotted paths ("layers.0.weight"), hands them to an optimizer, switches train/eval
mode through the whole tree, and saves and loads them as a state dict whose keys and
order are torch's for the same model. Nothing here may subclass or call torch.nn.Module
or torch.nn.Parameter.
"""

from collections.abc import Iterator, Mapping
from typing import Any

import torch
from torch import Tensor


class Parameter(torch.Tensor):
    """A tensor that a Module registers as one of its weights: Parameter(data).

    A torch.Tensor subclass, so torch.optim takes it as it is. Parameter(data,
    requires_grad=True) is a leaf tensor that shares data's storage (no copy) with the
    same shape, dtype and device, and requires grad (unless requires_grad=False) even
    when data does not or is itself the output of a graph. data is left as it was: its
    requires_grad and grad do not change.

    Ops on a Parameter give plain tensors, as with nn.Parameter: type(p * 2), p.sum(),
    p[0] and p.detach() are torch.Tensor, never Parameter, so a tensor computed from a
    weight and assigned to a Module is not registered as a weight. copy.deepcopy and
    pickling are not asked for.

    Off limits (neither subclassed nor called; the tests check the class too):
    torch.nn.Parameter.__new__.
    """

    def __new__(cls, data: Tensor, requires_grad: bool = True) -> "Parameter":
        raise NotImplementedError("sprint6.module.Parameter")

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        """Every torch op on a Parameter runs as on a plain tensor and returns plain tensors."""
        raise NotImplementedError("sprint6.module.Parameter")


class Module:
    """The base class of a model, as nn.Module (which it does not subclass or call).

    Subclasses call super().__init__() before assigning attributes and define forward;
    calling the module, model(*args, **kwargs), returns forward(*args, **kwargs).

    Attributes. Assigning a Parameter to an attribute registers it as a parameter, and
    assigning a Module registers it as a sub-module; either stays readable as that
    attribute (model.fc is the very Module assigned). Anything else is a plain attribute:
    a plain tensor, a number, None, and a list, tuple or dict even when it holds Modules
    or Parameters (as in torch; for a list of modules, use a Module whose attributes are
    named "0", "1", ..., by setattr(self, str(i), m): that is how nn.ModuleList names
    them). Re-assigning a registered name replaces what it holds and keeps its place in
    the order; assigning a plain value (None, say) to it, or deleting it with del,
    unregisters it. `training` is True after __init__.

    Order and names, as torch's. named_parameters() yields a module's own parameters
    first, in the order they were registered, then each sub-module's, sub-modules in the
    order they were registered, recursively, each under its dotted path from this module
    ("fc.weight", "layers.0.bias"). A parameter reached twice (a weight tied between two
    layers, or one module assigned under two names) is yielded once, under the first
    name, unless remove_duplicate=False: then under every name. state_dict() holds every
    name, a tied weight under each of its names, as torch's does.

    Off limits (torch.nn.Module is not subclassed, and none of these is called):
    torch.nn.Module.__setattr__, torch.nn.Module.__getattr__,
    torch.nn.Module.named_parameters, torch.nn.Module.parameters,
    torch.nn.Module.zero_grad, torch.nn.Module.train, torch.nn.Module.state_dict,
    torch.nn.Module.load_state_dict.
    """

    def __init__(self):
        raise NotImplementedError("sprint6.module.Module")

    def __setattr__(self, name: str, value: Any) -> None:
        """Set the attribute; register a Parameter or Module, unregister what it replaces."""
        raise NotImplementedError("sprint6.module.Module")

    def __delattr__(self, name: str) -> None:
        """Delete the attribute and unregister it."""
        raise NotImplementedError("sprint6.module.Module")

    def __call__(self, *args, **kwargs):
        """forward(*args, **kwargs), returning what it returns."""
        raise NotImplementedError("sprint6.module.Module")

    def named_parameters(self, remove_duplicate: bool = True) -> Iterator[tuple[str, Parameter]]:
        """An iterator (a generator, as torch's) of (dotted name, Parameter), in the order
        above; the Parameter objects themselves, not copies."""
        raise NotImplementedError("sprint6.module.Module")

    def parameters(self) -> Iterator[Parameter]:
        """An iterator of the Parameters of named_parameters(), in its order, each once:
        what torch.optim.SGD(model.parameters(), lr=...) trains."""
        raise NotImplementedError("sprint6.module.Module")

    def zero_grad(self) -> None:
        """Set the grad of every parameter to None (torch's default, set_to_none=True),
        not to zeros."""
        raise NotImplementedError("sprint6.module.Module")

    def train(self, mode: bool = True) -> "Module":
        """Set training = mode on this module and every sub-module, recursively; returns self."""
        raise NotImplementedError("sprint6.module.Module")

    def eval(self) -> "Module":
        """train(False): training = False on the whole tree; returns self."""
        raise NotImplementedError("sprint6.module.Module")

    def state_dict(self) -> dict[str, Tensor]:
        """{dotted name: tensor} for every parameter under every name it has (a tied weight
        under each), in named_parameters' order. Each value is the parameter detached
        (p.detach(): a plain tensor with requires_grad False that shares the parameter's
        storage, as torch's does), so it changes when the model trains: copy it to keep
        a snapshot. Plain tensor attributes are not in it."""
        raise NotImplementedError("sprint6.module.Module")

    def load_state_dict(
        self, state: Mapping[str, Tensor], strict: bool = True
    ) -> tuple[list[str], list[str]]:
        """Copy state's tensors into the parameters of the same names, in place.

        Each value is copied into the existing Parameter (converted to its dtype and
        device), never replacing it, so an optimizer built before the load trains the
        loaded values. Returns (missing_keys, unexpected_keys), two lists of str in any
        order: the names of state_dict() absent from state, and state's keys that are
        not names of state_dict() (torch returns a named tuple of the same two fields).
        strict=True (the default) raises RuntimeError naming every missing and unexpected
        key; strict=False loads the names that match and ignores the rest. A value whose
        shape differs from its parameter's raises RuntimeError naming its key, whatever
        strict (even a shape that copy_ would broadcast). After an error, which entries
        were copied is not specified. state is left as it was (its keys and tensors).
        """
        raise NotImplementedError("sprint6.module.Module")
