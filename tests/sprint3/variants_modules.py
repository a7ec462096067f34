import itertools
from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

from grader.variants import alternative, mistake

# --- MLP --------------------------------------------------------------------------------


def _layers(in_features, hidden, out_features):
    sizes = [in_features, *hidden, out_features]
    return [nn.Linear(a, b) for a, b in itertools.pairwise(sizes)]


@mistake("MLP")
class ReluOnTheOutput(nn.Module):
    """a ReLU after the last Linear too: the logits can never be negative"""

    def __init__(self, in_features, hidden, out_features):
        super().__init__()
        self.layers = nn.ModuleList(_layers(in_features, hidden, out_features))

    def forward(self, x):
        x = x.flatten(1)
        for layer in self.layers:
            x = F.relu(layer(x))
        return x


@mistake("MLP")
class NoActivation(nn.Module):
    """no ReLU between the Linear layers: the whole stack is one linear map"""

    def __init__(self, in_features, hidden, out_features):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), *_layers(in_features, hidden, out_features))

    def forward(self, x):
        return self.net(x)


@mistake("MLP")
class LayersInAPlainList(nn.Module):
    """keeps the layers in a plain Python list, so model.parameters() does not see them"""

    def __init__(self, in_features, hidden, out_features):
        super().__init__()
        self.layers = _layers(in_features, hidden, out_features)

    def forward(self, x):
        x = x.flatten(1)
        for layer in self.layers[:-1]:
            x = F.relu(layer(x))
        return self.layers[-1](x)


@mistake("MLP")
class ViewToFlatten(nn.Module):
    """flattens with x.view(N, -1), which fails on a non-contiguous input"""

    def __init__(self, in_features, hidden, out_features):
        super().__init__()
        self.layers = nn.ModuleList(_layers(in_features, hidden, out_features))

    def forward(self, x):
        x = x.view(x.shape[0], -1)
        for layer in self.layers[:-1]:
            x = F.relu(layer(x))
        return self.layers[-1](x)


@mistake("MLP")
class FirstHiddenAlways(nn.Module):
    """builds Linear(in_features, hidden[0]) unconditionally: breaks when hidden is empty"""

    def __init__(self, in_features, hidden, out_features):
        super().__init__()
        layers = [nn.Flatten(), nn.Linear(in_features, hidden[0]), nn.ReLU()]
        for a, b in itertools.pairwise(hidden):
            layers += [nn.Linear(a, b), nn.ReLU()]
        layers.append(nn.Linear(hidden[-1], out_features))
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)


@mistake("MLP")
class SqueezesTheOutput(nn.Module):
    """squeezes the output: (N, 1) logits, or a batch of one, lose a dim"""

    def __init__(self, in_features, hidden, out_features):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), *_relu_stack(in_features, hidden, out_features))

    def forward(self, x):
        return self.net(x).squeeze()


def _relu_stack(in_features, hidden, out_features):
    layers = _layers(in_features, hidden, out_features)
    out = []
    for layer in layers[:-1]:
        out += [layer, nn.ReLU()]
    return [*out, layers[-1]]


@alternative("MLP")
class WithModuleList(nn.Module):
    def __init__(self, in_features, hidden, out_features):
        super().__init__()
        self.hidden = nn.ModuleList(_layers(in_features, hidden, out_features)[:-1])
        self.out = nn.Linear(hidden[-1] if hidden else in_features, out_features)

    def forward(self, x):
        x = x.reshape(len(x), -1)
        for layer in self.hidden:
            x = torch.relu(layer(x))
        return self.out(x)


@alternative("MLP")
class WithNamedSequential(nn.Sequential):
    def __init__(self, in_features, hidden, out_features):
        named = [("flatten", nn.Flatten())]
        for i, layer in enumerate(_relu_stack(in_features, hidden, out_features)):
            named.append((f"{type(layer).__name__.lower()}{i}", layer))
        super().__init__(OrderedDict(named))


# --- count_trainable ----------------------------------------------------------------------


@mistake("count_trainable")
def counts_frozen_too(model):
    """counts every parameter, the frozen ones (requires_grad=False) too"""
    return sum(p.numel() for p in model.parameters())


@mistake("count_trainable")
def counts_the_state_dict(model):
    """counts the state_dict: buffers too, and a tied weight once per name"""
    return sum(v.numel() for v in model.state_dict().values())


@mistake("count_trainable")
def counts_shared_twice(model):
    """walks named_parameters(remove_duplicate=False): a tied weight counts twice"""
    return sum(
        p.numel() for _, p in model.named_parameters(remove_duplicate=False) if p.requires_grad
    )


@mistake("count_trainable")
def counts_every_level(model):
    """sums each module's parameters() over model.modules(): parameters() already holds the
    sub-modules' parameters, so a nested layer's count again at every level above it"""
    return sum(p.numel() for m in model.modules() for p in m.parameters() if p.requires_grad)


@mistake("count_trainable")
def counts_tensors(model):
    """counts the parameter tensors, not the scalars in them"""
    return sum(1 for p in model.parameters() if p.requires_grad)


@mistake("count_trainable")
def returns_a_tensor(model):
    """adds the sizes up as a tensor and returns the tensor"""
    return torch.tensor([p.numel() for p in model.parameters() if p.requires_grad]).sum()


@alternative("count_trainable")
def by_identity(model):
    seen = {}
    for module in model.modules():
        for p in module.parameters(recurse=False):
            if p.requires_grad:
                seen[id(p)] = p.numel()
    return sum(seen.values())
