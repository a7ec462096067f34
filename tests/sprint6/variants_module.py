"""Known mistakes and correct alternatives of sprint6.module."""

import torch
from torch import nn

from grader import target_module
from grader.variants import alternative, mistake

_module = target_module("sprint6.module")

# --- Parameter --------------------------------------------------------------------------


@mistake("Parameter")
class ParameterWrapsOps(torch.Tensor):
    """a torch.Tensor subclass with nothing to stop torch's default: every op on it (p * 2,
    p.sum(), p.detach()) returns a Parameter too"""

    def __new__(cls, data, requires_grad=True):
        return torch.Tensor._make_subclass(cls, data.detach(), requires_grad)


@mistake("Parameter")
class ParameterHoldsTensor:
    """a plain class keeping the tensor in .data: not a tensor, so torch.optim refuses it"""

    def __init__(self, data, requires_grad=True):
        self.data = data.detach().requires_grad_(requires_grad)
        self.requires_grad = requires_grad


class _Plain(torch.Tensor):
    __torch_function__ = torch._C._disabled_torch_function_impl


@mistake("Parameter")
class ParameterNoGrad(_Plain):
    """_make_subclass without its requires_grad argument, which defaults to False"""

    def __new__(cls, data, requires_grad=True):
        return torch.Tensor._make_subclass(cls, data.detach())


@mistake("Parameter")
class ParameterSwitchesDataOn(_Plain):
    """requires_grad_ called on the caller's own tensor, then that tensor made a Parameter:
    the caller's data now requires grad, and data from a graph stays in it"""

    def __new__(cls, data, requires_grad=True):
        return data.requires_grad_(requires_grad).as_subclass(cls)


@mistake("Parameter")
class ParameterCopies(_Plain):
    """data cloned first: the Parameter no longer shares data's storage"""

    def __new__(cls, data, requires_grad=True):
        return torch.Tensor._make_subclass(cls, data.detach().clone(), requires_grad)


@mistake("Parameter")
class ParameterFromTorch(nn.Parameter):
    """a subclass of nn.Parameter: torch's class does the whole job"""


@alternative("Parameter")
class ParameterAsSubclass(torch.Tensor):
    """as_subclass on a detached alias, and torch's own switch for plain results"""

    __torch_function__ = torch._C._disabled_torch_function_impl

    def __new__(cls, data, requires_grad=True):
        return data.detach().as_subclass(cls).requires_grad_(requires_grad)


# --- Module -----------------------------------------------------------------------------


class _Module:
    """A correct Module that keeps the registries beside the attributes; each mistake
    below changes one thing."""

    def __init__(self):
        object.__setattr__(self, "_params", {})
        object.__setattr__(self, "_children", {})
        self.training = True

    def __setattr__(self, name, value):
        if not isinstance(value, _module.Parameter):
            self._params.pop(name, None)
        if not isinstance(value, _Module):
            self._children.pop(name, None)
        if isinstance(value, _module.Parameter):
            self._params[name] = value
        elif isinstance(value, _Module):
            self._children[name] = value
        object.__setattr__(self, name, value)

    def __delattr__(self, name):
        self._params.pop(name, None)
        self._children.pop(name, None)
        object.__delattr__(self, name)

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def all_named(self, prefix=""):
        for name, p in self._params.items():
            yield prefix + name, p
        for name, child in self._children.items():
            yield from child.all_named(prefix + name + ".")

    def named_parameters(self, remove_duplicate=True):
        seen = set()
        for name, p in self.all_named():
            if remove_duplicate and p in seen:
                continue
            seen.add(p)
            yield name, p

    def parameters(self):
        return (p for _, p in self.named_parameters())

    def zero_grad(self):
        for p in self.parameters():
            p.grad = None

    def train(self, mode=True):
        self.training = mode
        for child in self._children.values():
            child.train(mode)
        return self

    def eval(self):
        return self.train(False)

    def state_dict(self):
        return {name: p.detach() for name, p in self.all_named()}

    def check_keys(self, own, state, strict):
        missing = [k for k in own if k not in state]
        unexpected = [k for k in state if k not in own]
        if strict and (missing or unexpected):
            raise RuntimeError(f"missing {missing}, unexpected {unexpected}")
        return missing, unexpected

    def load_state_dict(self, state, strict=True):
        own = dict(self.all_named())
        missing, unexpected = self.check_keys(own, state, strict)
        with torch.no_grad():
            for name, p in own.items():
                if name in state:
                    if state[name].shape != p.shape:
                        raise RuntimeError(f"size mismatch for {name}")
                    p.copy_(state[name])
        return missing, unexpected


@mistake("Module")
class ModuleOwnOnly(_Module):
    """named_parameters yields the module's own parameters and stops: the sub-modules'
    are never reached"""

    def named_parameters(self, remove_duplicate=True):
        yield from self._params.items()


@mistake("Module")
class ModuleNoPrefix(_Module):
    """the sub-modules' parameters yielded under their own names ("weight"), without the
    sub-module's name and a dot in front"""

    def all_named(self, prefix=""):
        yield from self._params.items()
        for child in self._children.values():
            yield from child.all_named()


@mistake("Module")
class ModuleSharedTwice(_Module):
    """no check for a parameter already yielded: a tied weight comes twice, and an
    optimizer steps it twice"""

    def named_parameters(self, remove_duplicate=True):
        yield from self.all_named()


@mistake("Module")
class ModuleSortedNames(_Module):
    """named_parameters sorted by name, not in the order of registration"""

    def named_parameters(self, remove_duplicate=True):
        return iter(sorted(super().named_parameters(remove_duplicate), key=lambda kv: kv[0]))


@mistake("Module")
class ModuleOneRegistry(_Module):
    """parameters and sub-modules kept in one dict in assignment order, so a parameter
    assigned after a sub-module comes after the sub-module's parameters"""

    def all_named(self, prefix=""):
        for name, value in vars(self).items():
            if isinstance(value, _module.Parameter):
                yield prefix + name, value
            elif isinstance(value, _Module):
                yield from value.all_named(prefix + name + ".")


@mistake("Module")
class ModuleSubModulesFirst(_Module):
    """the sub-modules' parameters yielded before the module's own"""

    def all_named(self, prefix=""):
        for name, child in self._children.items():
            yield from child.all_named(prefix + name + ".")
        for name, p in self._params.items():
            yield prefix + name, p


@mistake("Module")
class ModuleTensorsAreParameters(_Module):
    """every tensor assigned is registered, the plain ones (a mask) too"""

    def __setattr__(self, name, value):
        if isinstance(value, torch.Tensor):
            self._params[name] = value
        elif isinstance(value, _Module):
            self._children[name] = value
        object.__setattr__(self, name, value)


@mistake("Module")
class ModuleRegistryOnly(_Module):
    """a Parameter or Module registered but never set as the attribute itself: model.fc
    is not there"""

    def __setattr__(self, name, value):
        if isinstance(value, _module.Parameter):
            self._params[name] = value
        elif isinstance(value, _Module):
            self._children[name] = value
        else:
            object.__setattr__(self, name, value)


@mistake("Module")
class ModuleGetattrKeyError(_Module):
    """parameters kept only in the registry and looked up there with no fallback: a missing
    attribute raises KeyError, so hasattr() breaks"""

    def __setattr__(self, name, value):
        if isinstance(value, _module.Parameter):
            self._children.pop(name, None)
            self._params[name] = value
            self.__dict__.pop(name, None)
        else:
            super().__setattr__(name, value)

    def __getattr__(self, name):
        return self.__dict__["_params"][name]

    def __delattr__(self, name):
        if name in self._params:
            del self._params[name]
        else:
            super().__delattr__(name)


@mistake("Module")
class ModuleDelStaysRegistered(_Module):
    """del and assigning a plain value (None) change the attribute but leave it registered"""

    def __setattr__(self, name, value):
        if isinstance(value, _module.Parameter):
            self._params[name] = value
        elif isinstance(value, _Module):
            self._children[name] = value
        object.__setattr__(self, name, value)

    def __delattr__(self, name):
        object.__delattr__(self, name)


@mistake("Module")
class ModuleReassignMovesLast(_Module):
    """a re-assigned name taken out of the registry and put back at the end: a replaced
    weight changes its place in the order"""

    def __setattr__(self, name, value):
        self._params.pop(name, None)
        self._children.pop(name, None)
        super().__setattr__(name, value)


@mistake("Module")
class ModuleTrainNotRecursive(_Module):
    """train()/eval() set training on the module itself and not on its sub-modules"""

    def train(self, mode=True):
        self.training = mode
        return self


@mistake("Module")
class ModuleTrainReturnsNone(_Module):
    """train()/eval() return nothing, where torch's return the module"""

    def train(self, mode=True):
        super().train(mode)

    def eval(self):
        self.train(False)


@mistake("Module")
class ModuleZeroGradInPlace(_Module):
    """zero_grad zeroes the gradients in place, where the contract sets them to None"""

    def zero_grad(self):
        for p in self.parameters():
            if p.grad is not None:
                p.grad.zero_()


@mistake("Module")
class ModuleStateDictParameters(_Module):
    """state_dict holds the Parameters themselves, not detached tensors"""

    def state_dict(self):
        return dict(self.all_named())


@mistake("Module")
class ModuleStateDictCloned(_Module):
    """state_dict holds detached copies: a snapshot, where torch's shares the storage"""

    def state_dict(self):
        return {name: p.detach().clone() for name, p in self.all_named()}


@mistake("Module")
class ModuleStateDictDeduplicated(_Module):
    """state_dict built from named_parameters(), so a tied weight is saved under one name"""

    def state_dict(self):
        return {name: p.detach() for name, p in self.named_parameters()}


@mistake("Module")
class ModuleLoadIgnoresUnexpected(_Module):
    """strict=True checks only for missing keys: unexpected ones are passed over"""

    def check_keys(self, own, state, strict):
        missing, unexpected = super().check_keys(own, state, False)
        if strict and missing:
            raise RuntimeError(f"missing {missing}")
        return missing, unexpected


@mistake("Module")
class ModuleLoadIgnoresMissing(_Module):
    """strict=True checks only for unexpected keys: a state lacking some weights loads"""

    def check_keys(self, own, state, strict):
        missing, unexpected = super().check_keys(own, state, False)
        if strict and unexpected:
            raise RuntimeError(f"unexpected {unexpected}")
        return missing, unexpected


@mistake("Module")
class ModuleLoadErrorNamesNoKeys(_Module):
    """strict=True raises, but without naming the keys the state lacks or holds in excess"""

    def check_keys(self, own, state, strict):
        missing, unexpected = super().check_keys(own, state, False)
        if strict and (missing or unexpected):
            raise RuntimeError("the state dict does not match the model")
        return missing, unexpected


@mistake("Module")
class ModuleLoadPopsState(_Module):
    """the unexpected keys found by popping each known key from the caller's dict"""

    def load_state_dict(self, state, strict=True):
        own = dict(self.all_named())
        missing = [k for k in own if k not in state]
        values = {k: state.pop(k) for k in own if k in state}
        unexpected = list(state)
        if strict and (missing or unexpected):
            raise RuntimeError(f"missing {missing}, unexpected {unexpected}")
        with torch.no_grad():
            for name, value in values.items():
                if value.shape != own[name].shape:
                    raise RuntimeError(f"size mismatch for {name}")
                own[name].copy_(value)
        return missing, unexpected


@mistake("Module")
class ModuleLoadReplaces(_Module):
    """each loaded value put in a new Parameter set on its module: an optimizer built
    before the load keeps the old ones, and a float64 state makes float64 weights"""

    def load_state_dict(self, state, strict=True):
        own = dict(self.all_named())
        missing, unexpected = self.check_keys(own, state, strict)
        for name in own:
            if name in state:
                if state[name].shape != own[name].shape:
                    raise RuntimeError(f"size mismatch for {name}")
                *path, attr = name.split(".")
                owner = self
                for part in path:
                    owner = getattr(owner, part)
                setattr(owner, attr, _module.Parameter(state[name].clone()))
        return missing, unexpected


@mistake("Module")
class ModuleLoadNoShapeCheck(_Module):
    """the shapes left to copy_: it broadcasts a (1, C) state over (N, C) without a word,
    and its error for other shapes names no key"""

    def load_state_dict(self, state, strict=True):
        own = dict(self.all_named())
        missing, unexpected = self.check_keys(own, state, strict)
        with torch.no_grad():
            for name, p in own.items():
                if name in state:
                    p.copy_(state[name])
        return missing, unexpected


@mistake("Module")
class ModuleLoadStrictFalseSkips(_Module):
    """strict=False returns the key lists and loads nothing"""

    def load_state_dict(self, state, strict=True):
        if not strict:
            return self.check_keys(dict(self.all_named()), state, False)
        return super().load_state_dict(state, strict)


@mistake("Module")
class ModuleFromTorch(nn.Module):
    """a subclass of torch.nn.Module: torch's class does the whole job"""


@alternative("Module")
class ModuleScansAttributes:
    """no registries: the parameters and sub-modules are found by scanning the instance's
    attributes (own parameters first, then the sub-modules), with an explicit stack"""

    def __init__(self):
        self.training = True

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def _own(self, kind):
        return [(name, v) for name, v in vars(self).items() if isinstance(v, kind)]

    def _everything(self):
        found, todo = [], [("", self)]
        while todo:
            prefix, m = todo.pop()
            found += [(prefix + name, p) for name, p in m._own(_module.Parameter)]
            children = m._own(ModuleScansAttributes)
            todo += [(prefix + name + ".", child) for name, child in reversed(children)]
        return found

    def named_parameters(self, remove_duplicate=True):
        seen = []
        for name, p in self._everything():
            if remove_duplicate and any(p is q for q in seen):
                continue
            seen.append(p)
            yield name, p

    def parameters(self):
        for _, p in self.named_parameters():
            yield p

    def zero_grad(self):
        for p in self.parameters():
            p.grad = None

    def train(self, mode=True):
        todo = [self]
        while todo:
            m = todo.pop()
            m.training = mode
            todo += [child for _, child in m._own(ModuleScansAttributes)]
        return self

    def eval(self):
        return self.train(False)

    def state_dict(self):
        return {name: p.data for name, p in self._everything()}

    def load_state_dict(self, state, strict=True):
        own = dict(self._everything())
        missing = sorted(set(own) - set(state))
        unexpected = sorted(set(state) - set(own))
        problems = [
            f"size mismatch for {k}" for k in own if k in state and state[k].shape != own[k].shape
        ]
        if strict and (missing or unexpected):
            problems.insert(0, f"Missing key(s): {missing}. Unexpected key(s): {unexpected}.")
        if problems:
            raise RuntimeError("Error(s) in loading state_dict: " + " ".join(problems))
        for name, p in own.items():
            if name in state:
                p.data.copy_(state[name])
        return missing, unexpected


@alternative("Module")
class ModuleTorchLike:
    """torch's layout: parameters and sub-modules only in their registries (not in the
    instance's __dict__), found again by __getattr__"""

    def __init__(self):
        self.__dict__.update(_parameters={}, _modules={}, training=True)

    def __setattr__(self, name, value):
        if not isinstance(value, _module.Parameter):
            self._parameters.pop(name, None)
        if not isinstance(value, ModuleTorchLike):
            self._modules.pop(name, None)
        if isinstance(value, _module.Parameter):
            self.__dict__.pop(name, None)
            self._parameters[name] = value
        elif isinstance(value, ModuleTorchLike):
            self.__dict__.pop(name, None)
            self._modules[name] = value
        else:
            self.__dict__[name] = value

    def __getattr__(self, name):
        for registry in ("_parameters", "_modules"):
            found = self.__dict__.get(registry, {})
            if name in found:
                return found[name]
        raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")

    def __delattr__(self, name):
        if name in self._parameters:
            del self._parameters[name]
        elif name in self._modules:
            del self._modules[name]
        else:
            del self.__dict__[name]

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def named_modules(self, prefix="", memo=None):
        yield prefix, self
        for name, child in self._modules.items():
            yield from child.named_modules(prefix + name + ".", memo)

    def named_parameters(self, remove_duplicate=True):
        memo = set()
        for prefix, m in self.named_modules():
            for name, p in m._parameters.items():
                if remove_duplicate and id(p) in memo:
                    continue
                memo.add(id(p))
                yield prefix + name, p

    def parameters(self):
        return iter([p for _, p in self.named_parameters()])

    def zero_grad(self):
        for _, m in self.named_modules():
            for p in m._parameters.values():
                p.grad = None

    def train(self, mode=True):
        for _, m in self.named_modules():
            m.training = mode
        return self

    def eval(self):
        return self.train(False)

    def state_dict(self):
        return {name: p.detach() for name, p in self.named_parameters(remove_duplicate=False)}

    def load_state_dict(self, state, strict=True):
        own = dict(self.named_parameters(remove_duplicate=False))
        missing = [k for k in own if k not in state]
        unexpected = [k for k in state if k not in own]
        if strict and (missing or unexpected):
            raise RuntimeError(f"missing keys: {', '.join(missing + unexpected)}")
        for name, p in own.items():
            if name in state:
                if tuple(state[name].shape) != tuple(p.shape):
                    raise RuntimeError(
                        f"{name}: shape {tuple(state[name].shape)} != {tuple(p.shape)}"
                    )
                with torch.no_grad():
                    p.copy_(state[name])
        return missing, unexpected
