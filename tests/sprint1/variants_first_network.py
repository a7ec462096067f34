import math

import torch
import torch.nn.functional as F

from grader import target_module
from grader.variants import alternative, mistake

first_network = target_module("sprint1.first_network")

XOR_X = torch.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
XOR_Y = torch.tensor([0.0, 1.0, 1.0, 0.0])


def _he(n_in, n_hidden, n_out, generator, scale=2.0, fan="in"):
    """init_params with a choice of numerator and fan, for the mistakes below."""
    fan1, fan2 = (n_in, n_hidden) if fan == "in" else (n_hidden, n_out)
    W1 = torch.randn(n_in, n_hidden, generator=generator) * math.sqrt(scale / fan1)
    W2 = torch.randn(n_hidden, n_out, generator=generator) * math.sqrt(scale / fan2)
    params = {"W1": W1, "b1": torch.zeros(n_hidden), "W2": W2, "b2": torch.zeros(n_out)}
    return {k: p.requires_grad_(True) for k, p in params.items()}


# --- init_params ------------------------------------------------------------------------


@mistake("init_params")
def lecun_std(n_in, n_hidden, n_out, generator=None):
    """std √(1/fan_in) instead of He's √(2/fan_in)"""
    return _he(n_in, n_hidden, n_out, generator, scale=1.0)


@mistake("init_params")
def fan_out_std(n_in, n_hidden, n_out, generator=None):
    """std from fan_out (the columns of W) instead of fan_in (its rows)"""
    return _he(n_in, n_hidden, n_out, generator, fan="out")


@mistake("init_params")
def kaiming_normal_default_mode(n_in, n_hidden, n_out, generator=None):
    """torch.nn.init.kaiming_normal_ with its default mode on W stored (n_in, n_hidden): it
    takes fan_in from dim 1, which is n_hidden here"""
    W1, W2 = torch.empty(n_in, n_hidden), torch.empty(n_hidden, n_out)
    for w in (W1, W2):
        torch.nn.init.kaiming_normal_(w, nonlinearity="relu", generator=generator)
    params = {"W1": W1, "b1": torch.zeros(n_hidden), "W2": W2, "b2": torch.zeros(n_out)}
    return {k: p.requires_grad_(True) for k, p in params.items()}


@mistake("init_params")
def uniform_he(n_in, n_hidden, n_out, generator=None):
    """uniform weights with He's std (kaiming_uniform_), where He init here is normal"""
    W1, W2 = torch.empty(n_in, n_hidden), torch.empty(n_hidden, n_out)
    for w in (W1, W2):
        torch.nn.init.kaiming_uniform_(w, mode="fan_out", nonlinearity="relu", generator=generator)
    params = {"W1": W1, "b1": torch.zeros(n_hidden), "W2": W2, "b2": torch.zeros(n_out)}
    return {k: p.requires_grad_(True) for k, p in params.items()}


@mistake("init_params")
def random_biases(n_in, n_hidden, n_out, generator=None):
    """biases drawn at random like the weights, instead of zeros"""
    params = _he(n_in, n_hidden, n_out, generator)
    with torch.no_grad():
        params["b1"].normal_(generator=generator)
        params["b2"].normal_(generator=generator)
    return params


@mistake("init_params")
def forgets_requires_grad(n_in, n_hidden, n_out, generator=None):
    """the tensors do not require grad"""
    return {k: p.detach() for k, p in _he(n_in, n_hidden, n_out, generator).items()}


@mistake("init_params")
def requires_grad_before_scaling(n_in, n_hidden, n_out, generator=None):
    """randn(..., requires_grad=True) * std: the weights are results of a multiplication,
    not leaves, so their .grad never fills"""
    W1 = torch.randn(n_in, n_hidden, generator=generator, requires_grad=True) * math.sqrt(2 / n_in)
    W2 = torch.randn(n_hidden, n_out, generator=generator, requires_grad=True) * math.sqrt(
        2 / n_hidden
    )
    b1 = torch.zeros(n_hidden, requires_grad=True)
    b2 = torch.zeros(n_out, requires_grad=True)
    return {"W1": W1, "b1": b1, "W2": W2, "b2": b2}


@mistake("init_params")
def ignores_generator(n_in, n_hidden, n_out, generator=None):
    """draws from the global RNG even when a generator is given"""
    return _he(n_in, n_hidden, n_out, None)


@mistake("init_params")
def linear_layout(n_in, n_hidden, n_out, generator=None):
    """weights laid out (out, in) like nn.Linear.weight, where x @ W needs (in, out)"""
    W1 = torch.randn(n_hidden, n_in, generator=generator) * math.sqrt(2 / n_in)
    W2 = torch.randn(n_out, n_hidden, generator=generator) * math.sqrt(2 / n_hidden)
    params = {"W1": W1, "b1": torch.zeros(n_hidden), "W2": W2, "b2": torch.zeros(n_out)}
    return {k: p.requires_grad_(True) for k, p in params.items()}


@alternative("init_params")
def with_nn_init(n_in, n_hidden, n_out, generator=None):
    # torch's fan_out of a 2-D tensor is its dim 0, which is fan_in in the (in, out) layout
    W1, W2 = torch.empty(n_in, n_hidden), torch.empty(n_hidden, n_out)
    for w in (W1, W2):
        torch.nn.init.kaiming_normal_(w, mode="fan_out", nonlinearity="relu", generator=generator)
    params = {"W1": W1, "b1": torch.zeros(n_hidden), "W2": W2, "b2": torch.zeros(n_out)}
    return {k: p.requires_grad_() for k, p in params.items()}


@alternative("init_params")
def with_torch_normal_float64(n_in, n_hidden, n_out, generator=None):
    def draw(rows, cols):
        std = math.sqrt(2.0 / rows)
        w = torch.normal(0.0, std, (rows, cols), generator=generator, dtype=torch.float64)
        return w.float().requires_grad_(True)

    return {
        "W1": draw(n_in, n_hidden),
        "b1": torch.zeros(n_hidden, requires_grad=True),
        "W2": draw(n_hidden, n_out),
        "b2": torch.zeros(n_out, requires_grad=True),
    }


# --- forward ----------------------------------------------------------------------------


@mistake("forward")
def no_relu(x, params):
    """the relu is missing: two linear layers collapse into one"""
    return (x @ params["W1"] + params["b1"]) @ params["W2"] + params["b2"]


@mistake("forward")
def no_hidden_bias(x, params):
    """forgets the bias b1 of the hidden layer"""
    return torch.relu(x @ params["W1"]) @ params["W2"] + params["b2"]


@mistake("forward")
def no_output_bias(x, params):
    """forgets the bias b2 of the output layer"""
    return torch.relu(x @ params["W1"] + params["b1"]) @ params["W2"]


@mistake("forward")
def relu_on_output(x, params):
    """a relu on the output too: logits can no longer be negative"""
    h = torch.relu(x @ params["W1"] + params["b1"])
    return torch.relu(h @ params["W2"] + params["b2"])


@mistake("forward")
def sigmoid_hidden(x, params):
    """sigmoid instead of relu in the hidden layer"""
    return torch.sigmoid(x @ params["W1"] + params["b1"]) @ params["W2"] + params["b2"]


@mistake("forward")
def without_graph(x, params):
    """runs under torch.no_grad(): the logits have no graph, so backward cannot reach the params"""
    with torch.no_grad():
        return torch.relu(x @ params["W1"] + params["b1"]) @ params["W2"] + params["b2"]


@mistake("forward")
def squeezes_output(x, params):
    """squeezes the output: (N, 1) logits become (N,)"""
    return (torch.relu(x @ params["W1"] + params["b1"]) @ params["W2"] + params["b2"]).squeeze()


@alternative("forward")
def with_addmm_and_clamp(x, params):
    h = torch.addmm(params["b1"], x, params["W1"]).clamp(min=0)
    return torch.addmm(params["b2"], h, params["W2"])


@alternative("forward")
def with_f_linear(x, params):
    h = F.relu(F.linear(x, params["W1"].T, params["b1"]))
    return F.linear(h, params["W2"].T, params["b2"])


# --- count_params -----------------------------------------------------------------------


@mistake("count_params")
def counts_tensors(params):
    """counts the tensors (len(params)), not the scalars in them"""
    return len(params)


@mistake("count_params")
def counts_rows(params):
    """counts the rows of each tensor (its len) instead of all the scalars in it"""
    return sum(len(p) for p in params.values())


@mistake("count_params")
def weights_only(params):
    """counts only the weight matrices and leaves out the biases"""
    return sum(p.numel() for p in params.values() if p.dim() >= 2)


@mistake("count_params")
def only_trainable(params):
    """counts only the tensors that require grad"""
    return sum(p.numel() for p in params.values() if p.requires_grad)


@alternative("count_params")
def with_math_prod(params):
    return sum(math.prod(p.shape) for p in params.values())


# --- sgd_step ---------------------------------------------------------------------------


@mistake("sgd_step")
def new_tensors_in_dict(params, lr):
    """stores an out-of-place result in the dict under each key instead of updating in place"""
    with torch.no_grad():
        for key, p in list(params.items()):
            params[key] = (p - lr * p.grad).requires_grad_(True)


@mistake("sgd_step")
def rebinds_loop_variable(params, lr):
    """assigns an out-of-place update to the loop variable, which only rebinds that name: the
    params never change"""
    with torch.no_grad():
        for p in params.values():
            p = p - lr * p.grad  # the mistake itself
            p.grad = None


@mistake("sgd_step")
def keeps_gradients(params, lr):
    """never clears the gradients, so the next backward() adds to them"""
    with torch.no_grad():
        for p in params.values():
            p -= lr * p.grad


@mistake("sgd_step")
def plus_instead_of_minus(params, lr):
    """p + lr·grad: steps uphill"""
    with torch.no_grad():
        for p in params.values():
            p += lr * p.grad
            p.grad = None


@mistake("sgd_step")
def clears_before_update(params, lr):
    """zeroes the gradients before using them, so the update is p − lr·0"""
    with torch.no_grad():
        for p in params.values():
            p.grad.zero_()
            p -= lr * p.grad


@mistake("sgd_step")
def outside_no_grad(params, lr):
    """updates in place without torch.no_grad(): autograd refuses to change a leaf it tracks"""
    for p in params.values():
        p -= lr * p.grad
        p.grad = None


@alternative("sgd_step")
def add_with_alpha_and_zero(params, lr):
    with torch.no_grad():
        for p in params.values():
            p.add_(p.grad, alpha=-lr)
            p.grad.zero_()


@alternative("sgd_step")
def with_torch_optim(params, lr):
    optimizer = torch.optim.SGD(list(params.values()), lr=lr)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)


@alternative("sgd_step")
def through_data(params, lr):
    for p in params.values():
        p.data.sub_(lr * p.grad)
        p.grad = None


# --- train_xor --------------------------------------------------------------------------


def _train(steps, lr, seed, loss_fn, clear=True, generator="seeded", as_float=True):
    """A train_xor with knobs, for the mistakes below."""
    if generator == "seeded":
        params = first_network.init_params(2, 8, 1, generator=torch.Generator().manual_seed(seed))
    elif generator == "global":
        torch.manual_seed(seed)
        params = first_network.init_params(2, 8, 1)
    else:
        params = first_network.init_params(2, 8, 1, generator=torch.Generator())
    losses = []
    for _ in range(steps):
        logits = first_network.forward(XOR_X, params).squeeze(1)  # (4,)
        loss = loss_fn(logits, XOR_Y)
        loss.backward()
        with torch.no_grad():
            for p in params.values():
                p -= lr * p.grad
                if clear:
                    p.grad = None
        losses.append(loss.item() if as_float else loss.detach())
    return params, losses


def _bce(logits, y):
    return F.binary_cross_entropy_with_logits(logits, y)


@mistake("train_xor")
def mse_on_sigmoid(steps=2000, lr=0.1, seed=0):
    """MSE on sigmoid(logits) instead of binary cross-entropy on the logits"""
    return _train(steps, lr, seed, lambda z, y: F.mse_loss(torch.sigmoid(z), y))


@mistake("train_xor")
def summed_bce(steps=2000, lr=0.1, seed=0):
    """sums the BCE over the four points (reduction='sum') instead of averaging it"""
    return _train(
        steps, lr, seed, lambda z, y: F.binary_cross_entropy_with_logits(z, y, reduction="sum")
    )


@mistake("train_xor")
def never_zero_grad(steps=2000, lr=0.1, seed=0):
    """never clears the gradients between steps, so they accumulate"""
    return _train(steps, lr, seed, _bce, clear=False)


@mistake("train_xor")
def bce_with_a_kink_at_0(steps=2000, lr=0.1, seed=0):
    """a hand-made stable BCE on the logits, max(z, 0) + log(1 + e^(−|z|)) − y·z with clamp
    and abs: right in value, but both have slope 0 at z = 0, where the BCE's slope is
    σ(0) − y"""
    return _train(
        steps,
        lr,
        seed,
        lambda z, y: (z.clamp(min=0) + torch.log1p(torch.exp(-z.abs())) - y * z).mean(),
    )


@mistake("train_xor")
def returns_a_list(steps=2000, lr=0.1, seed=0):
    """returns [params, losses], a list, where the docstring promises a tuple"""
    return list(_train(steps, lr, seed, _bce))


@mistake("train_xor")
def seeds_global_rng(steps=2000, lr=0.1, seed=0):
    """seeds the global RNG (torch.manual_seed) and draws from it instead of from a seeded
    torch.Generator"""
    return _train(steps, lr, seed, _bce, generator="global")


@mistake("train_xor")
def ignores_seed(steps=2000, lr=0.1, seed=0):
    """a torch.Generator() that is never seeded: every seed gives the same run"""
    return _train(steps, lr, seed, _bce, generator="unseeded")


@mistake("train_xor")
def tensors_in_losses(steps=2000, lr=0.1, seed=0):
    """keeps each loss as a tensor instead of a Python float (.item())"""
    return _train(steps, lr, seed, _bce, as_float=False)


@alternative("train_xor")
def with_torch_optim_sgd(steps=2000, lr=0.1, seed=0):
    params = first_network.init_params(2, 8, 1, generator=torch.Generator().manual_seed(seed))
    optimizer = torch.optim.SGD(list(params.values()), lr=lr)
    losses = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss = F.binary_cross_entropy_with_logits(first_network.forward(XOR_X, params)[:, 0], XOR_Y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return params, losses


@alternative("train_xor")
def bce_by_hand_with_autograd_grad(steps=2000, lr=0.1, seed=0):
    params = first_network.init_params(2, 8, 1, generator=torch.Generator().manual_seed(seed))
    y = XOR_Y[:, None]  # (4, 1)
    losses = []
    for _ in range(steps):
        z = first_network.forward(XOR_X, params)  # (4, 1)
        loss = -(y * F.logsigmoid(z) + (1 - y) * F.logsigmoid(-z)).mean()
        grads = torch.autograd.grad(loss, list(params.values()))
        with torch.no_grad():
            for p, g in zip(params.values(), grads):
                p.sub_(lr * g)
        losses.append(loss.item())
    return params, losses
