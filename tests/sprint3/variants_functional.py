import math

import torch
import torch.nn.functional as F

from grader.variants import alternative, mistake

# --- relu ---------------------------------------------------------------------------------


@mistake("relu")
def relu_calls_torch(x):
    """calls torch.relu, the shortcut this kata asks you to write yourself"""
    return torch.relu(x)


@mistake("relu")
def relu_in_place(x):
    """clamps the caller's tensor in place (x.clamp_), changing the input"""
    return x.clamp_(min=0)


@mistake("relu")
def relu_min(x):
    """torch.minimum(x, 0): keeps the negatives instead of the positives"""
    return torch.minimum(x, torch.zeros_like(x))


@mistake("relu")
def relu_through_python(x):
    """builds the result from Python numbers (max(v, 0.0) over x.tolist()): no graph, float32"""
    flat = [max(v, 0.0) for v in x.detach().reshape(-1).tolist()]
    return torch.tensor(flat).reshape(x.shape)


@mistake("relu")
def relu_to_float32(x):
    """converts to float32 (.float()), so a float64 input comes back float32"""
    return torch.where(x > 0, x, 0.0).float()


@alternative("relu")
def relu_clamp(x):
    return x.clamp(min=0)


@alternative("relu")
def relu_mask_multiply(x):
    return x * (x > 0)


@alternative("relu")
def relu_maximum(x):
    return torch.maximum(x, torch.zeros_like(x))


# --- sigmoid ------------------------------------------------------------------------------


@mistake("sigmoid")
def sigmoid_calls_torch(x):
    """calls torch.sigmoid, the shortcut this kata asks you to write yourself"""
    return torch.sigmoid(x)


@mistake("sigmoid")
def sigmoid_exp_over_one_plus_exp(x):
    """e^x / (1 + e^x): inf / inf = NaN once e^x overflows (x > 88 in float32)"""
    e = torch.exp(x)
    return e / (1 + e)


@mistake("sigmoid")
def sigmoid_sign_flipped(x):
    """1 / (1 + e^x): the sign of the exponent is flipped"""
    return 1 / (1 + torch.exp(x))


@mistake("sigmoid")
def sigmoid_through_abs(x):
    """builds on e^(−|x|) with abs(), whose slope at 0 is 0: the gradient at x = 0 is lost"""
    e = torch.exp(-x.abs())
    return torch.where(x < 0, e, 1.0) / (1 + e)


@mistake("sigmoid")
def sigmoid_textbook(x):
    """1 / (1 + e^(−x)): right in value (1 / (1 + inf) = 0 below x ≈ −88), but its gradient
    there is inf / inf = NaN"""
    return 1 / (1 + torch.exp(-x))


@mistake("sigmoid")
def sigmoid_two_branches(x):
    """torch.where(x >= 0, 1 / (1 + e^(−x)), e^x / (1 + e^x)): right in value, but the branch
    not taken overflows, and where's backward sends it 0 · NaN = NaN"""
    pos = 1 / (1 + torch.exp(-x))
    neg = torch.exp(x) / (1 + torch.exp(x))
    return torch.where(x >= 0, pos, neg)


@alternative("sigmoid")
def sigmoid_two_branches_each_on_its_side(x):
    # the classic two branches, each fed only the inputs of its own side (0 elsewhere), so
    # neither exp ever sees a number above 0; where(x < 0, …) keeps slope 1 at 0
    neg_part = torch.where(x < 0, x, 0.0)
    pos_part = torch.where(x < 0, 0.0, x)
    pos = 1 / (1 + torch.exp(-pos_part))
    e = torch.exp(neg_part)
    return torch.where(x < 0, e / (1 + e), pos)


@alternative("sigmoid")
def sigmoid_via_tanh_identity(x):
    # σ(x) = ½(1 + tanh(x/2)), tanh built from e^(−|x|) with a slope-1 |x|
    a = torch.where(x < 0, -x, x) / 2
    t = -torch.expm1(-2 * a) / (1 + torch.exp(-2 * a))
    return 0.5 * (1 + torch.where(x < 0, -t, t))


# --- tanh ---------------------------------------------------------------------------------


@mistake("tanh")
def tanh_calls_torch(x):
    """calls torch.tanh, the shortcut this kata asks you to write yourself"""
    return torch.tanh(x)


@mistake("tanh")
def tanh_textbook(x):
    """(e^x − e^(−x)) / (e^x + e^(−x)): inf / inf = NaN once e^x overflows (|x| > 88)"""
    a, b = torch.exp(x), torch.exp(-x)
    return (a - b) / (a + b)


@mistake("tanh")
def tanh_from_sigmoid_wrong_scale(x):
    """2·σ(x) − 1, which is tanh(x/2); tanh(x) = 2·σ(2x) − 1"""
    return 2 / (1 + torch.exp(-x)) - 1


@mistake("tanh")
def tanh_with_sign(x):
    """sign(x)·tanh(|x|): abs() and sign() have slope 0 at 0, so the gradient at x = 0 is 0"""
    e = torch.exp(-2 * x.abs())
    return torch.sign(x) * (1 - e) / (1 + e)


@alternative("tanh")
def tanh_two_sigmoid(x):
    # tanh(x) = 2·σ(2x) − 1, with σ split at 0 so that no exp overflows
    z = 2 * x
    e = torch.exp(-torch.where(z < 0, -z, z))
    s = torch.where(z < 0, e, 1.0) / (1 + e)
    return 2 * s - 1


@mistake("tanh")
def tanh_one_minus_two_over(x):
    """1 − 2 / (e^(2x) + 1): right in value (e^(2x) = inf gives 1), but its gradient there
    is inf / inf = NaN"""
    return 1 - 2 / (torch.exp(2 * x) + 1)


@alternative("tanh")
def tanh_one_minus_two_over_on_each_side(x):
    # 1 − 2 / (e^(2x) + 1) for x < 0 only, mirrored (tanh is odd) for x ≥ 0: no exp sees a
    # number above 0
    a = torch.where(x < 0, -x, x)  # |x|, slope 1 at 0
    t = 1 - 2 / (torch.exp(-2 * a) + 1)  # −tanh(|x|)
    return torch.where(x < 0, t, -t)


# --- gelu ---------------------------------------------------------------------------------

SQRT_2_OVER_PI = math.sqrt(2 / math.pi)


@mistake("gelu")
def gelu_calls_torch(x, approximate="none"):
    """calls torch.nn.functional.gelu, the shortcut this kata asks you to write yourself"""
    return F.gelu(x, approximate=approximate)


@mistake("gelu")
def gelu_ignores_approximate(x, approximate="none"):
    """always the erf form: approximate='tanh' is ignored"""
    return 0.5 * x * (1 + torch.erf(x / math.sqrt(2)))


@mistake("gelu")
def gelu_sqrt_two_pi(x, approximate="none"):
    """√(2π) instead of √(2/π) in the tanh approximation"""
    if approximate == "tanh":
        return 0.5 * x * (1 + torch.tanh(math.sqrt(2 * math.pi) * (x + 0.044715 * x**3)))
    return 0.5 * x * (1 + torch.erf(x / math.sqrt(2)))


@mistake("gelu")
def gelu_erf_without_sqrt2(x, approximate="none"):
    """erf(x) instead of erf(x/√2): Φ is the CDF of the standard normal"""
    if approximate == "tanh":
        return 0.5 * x * (1 + torch.tanh(SQRT_2_OVER_PI * (x + 0.044715 * x**3)))
    return 0.5 * x * (1 + torch.erf(x))


@mistake("gelu")
def gelu_quick(x, approximate="none"):
    """x·σ(1.702x), the 'quick GELU' of CLIP, for both forms"""
    return x / (1 + torch.exp(-1.702 * x))


@mistake("gelu")
def gelu_tanh_form_through_exp(x, approximate="none"):
    """the tanh form as x·σ(2u) with σ(2u) = 1 − 1 / (e^(2u) + 1): right in value, but once
    e^(2u) overflows (x ≳ 10 in float32) its gradient is inf / inf = NaN"""
    if approximate == "tanh":
        inner = SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)
        return x * (1 - 1 / (torch.exp(2 * inner) + 1))  # ½(1 + tanh(u)) = σ(2u)
    return 0.5 * x * torch.erfc(-x / math.sqrt(2))


@alternative("gelu")
def gelu_with_erfc(x, approximate="none"):
    # Φ(x) = ½·erfc(−x/√2): no cancellation in 1 + erf for negative x
    if approximate == "tanh":
        z = 2 * SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)  # ½(1 + tanh(z/2)) = σ(z)
        e = torch.exp(-torch.where(z < 0, -z, z))  # e^(−|z|) ≤ 1
        return x * torch.where(z < 0, e, 1.0) / (1 + e)
    return 0.5 * x * torch.erfc(-x / math.sqrt(2))


# --- softmax ------------------------------------------------------------------------------


@mistake("softmax")
def softmax_calls_torch(x, dim=-1):
    """calls torch.softmax, the shortcut this kata asks you to write yourself"""
    return torch.softmax(x, dim=dim)


@mistake("softmax")
def softmax_no_max_shift(x, dim=-1):
    """e^x / Σ e^x without subtracting the max: e^1000 = inf and inf / inf = NaN"""
    e = torch.exp(x)
    return e / e.sum(dim=dim, keepdim=True)


@mistake("softmax")
def softmax_global_max(x, dim=-1):
    """subtracts one max over the whole tensor: a slice far below it underflows to 0 / 0"""
    e = torch.exp(x - x.max())
    return e / e.sum(dim=dim, keepdim=True)


@mistake("softmax")
def softmax_max_without_keepdim(x, dim=-1):
    """the max along dim taken without keepdim=True broadcasts against the wrong dim"""
    e = torch.exp(x - x.amax(dim=dim))
    return e / e.sum(dim=dim, keepdim=True)


@mistake("softmax")
def softmax_last_dim_always(x, dim=-1):
    """ignores dim and always normalises the last dim"""
    e = torch.exp(x - x.amax(dim=-1, keepdim=True))
    return e / e.sum(dim=-1, keepdim=True)


@mistake("softmax")
def softmax_one_over_sum_of_ratios(x, dim=-1):
    """softmax_i = 1 / Σ_j e^(x_j − x_i): right in value (1 / inf = 0 where a ratio
    overflows), but its gradient there is inf / inf = NaN"""
    d = dim % x.dim()
    ratios = torch.exp(x.unsqueeze(d + 1) - x.unsqueeze(d))  # [.., j, i, ..]: e^(x_j − x_i)
    return 1 / ratios.sum(dim=d)


@mistake("softmax")
def softmax_via_logsumexp(x, dim=-1):
    """calls torch.logsumexp, of the softmax and sigmoid family this kata forbids whole:
    exp(x − logsumexp(x)) is torch's softmax by another name"""
    return torch.exp(x - torch.logsumexp(x, dim=dim, keepdim=True))


@alternative("softmax")
def softmax_moving_dim_last(x, dim=-1):
    z = x.movedim(dim, -1)
    e = (z - z.max(dim=-1, keepdim=True).values).exp()
    return (e / e.sum(-1, keepdim=True)).movedim(-1, dim)


# --- log_softmax --------------------------------------------------------------------------


@mistake("log_softmax")
def log_softmax_calls_torch(x, dim=-1):
    """calls torch.log_softmax, the shortcut this kata asks you to write yourself"""
    return torch.log_softmax(x, dim=dim)


@mistake("log_softmax")
def log_of_softmax(x, dim=-1):
    """log(softmax(x)): where softmax underflows to 0 the log is −inf"""
    z = x - x.amax(dim=dim, keepdim=True)
    e = torch.exp(z)
    return torch.log(e / e.sum(dim=dim, keepdim=True))


@mistake("log_softmax")
def log_softmax_no_max_shift(x, dim=-1):
    """x − log Σ e^x without the max shift: e^1000 = inf, so the result is −inf or NaN"""
    return x - torch.log(torch.exp(x).sum(dim=dim, keepdim=True))


@mistake("log_softmax")
def log_softmax_max_not_added_back(x, dim=-1):
    """subtracts the max inside the log-sum-exp but not from x: off by the max"""
    m = x.amax(dim=dim, keepdim=True)
    return x - torch.log(torch.exp(x - m).sum(dim=dim, keepdim=True))


@mistake("log_softmax")
def log_softmax_via_logsumexp(x, dim=-1):
    """calls torch.logsumexp, of the softmax and sigmoid family this kata forbids whole:
    x − logsumexp(x) is torch's log_softmax by another name"""
    return x - torch.logsumexp(x, dim=dim, keepdim=True)


@alternative("log_softmax")
def log_softmax_lse_by_hand(x, dim=-1):
    m = x.max(dim=dim, keepdim=True).values
    lse = m + (x - m).exp().sum(dim=dim, keepdim=True).log()
    return x - lse


# --- cross_entropy ------------------------------------------------------------------------


def _log_softmax(x):
    z = x - x.amax(dim=-1, keepdim=True)
    return z - z.exp().sum(dim=-1, keepdim=True).log()


@mistake("cross_entropy")
def cross_entropy_calls_torch(logits, targets, ignore_index=-100):
    """calls torch.nn.functional.cross_entropy, the shortcut this kata asks you to write"""
    return F.cross_entropy(logits, targets, ignore_index=ignore_index)


@mistake("cross_entropy")
def cross_entropy_mean_over_all(logits, targets, ignore_index=-100):
    """averages over all N rows, ignored ones included, instead of over the rows that count"""
    keep = targets != ignore_index
    picked = _log_softmax(logits).gather(1, targets.where(keep, 0)[:, None])[:, 0]
    return -(picked * keep).sum() / targets.shape[0]


@mistake("cross_entropy")
def cross_entropy_log_of_softmax(logits, targets, ignore_index=-100):
    """log(softmax(logits)): −inf for a target whose probability underflows to 0"""
    keep = targets != ignore_index
    e = torch.exp(logits - logits.amax(dim=-1, keepdim=True))
    logp = torch.log(e / e.sum(dim=-1, keepdim=True))
    picked = logp.gather(1, targets.where(keep, 0)[:, None])[:, 0]
    return -picked[keep].sum() / keep.sum()


@mistake("cross_entropy")
def cross_entropy_fills_targets_in_place(logits, targets, ignore_index=-100):
    """overwrites the ignored targets in the caller's tensor (targets[...] = 0) to gather them"""
    keep = targets != ignore_index
    targets[~keep] = 0
    picked = _log_softmax(logits).gather(1, targets[:, None])[:, 0]
    return -picked[keep].sum() / keep.sum()


@mistake("cross_entropy")
def cross_entropy_ignores_ignore_index(logits, targets, ignore_index=-100):
    """drops the rows with a negative target, whatever ignore_index says"""
    keep = targets >= 0
    picked = _log_softmax(logits).gather(1, targets.clamp(min=0)[:, None])[:, 0]
    return -picked[keep].sum() / keep.sum()


@alternative("cross_entropy")
def cross_entropy_one_hot(logits, targets, ignore_index=-100):
    keep = targets != ignore_index
    onehot = F.one_hot(targets.where(keep, 0), logits.shape[1]).to(logits.dtype)
    per_row = -(onehot * _log_softmax(logits)).sum(dim=1)  # (N,)
    return (per_row * keep).sum() / keep.sum()


@mistake("cross_entropy")
def cross_entropy_logsumexp_minus_picked(logits, targets, ignore_index=-100):
    """calls torch.logsumexp, of the softmax and sigmoid family this kata forbids whole:
    logsumexp(x) minus the picked logit is torch's log-probability by another name"""
    keep = targets != ignore_index
    x, t = logits[keep], targets[keep]  # only the rows that count
    picked = x[torch.arange(x.shape[0]), t]
    return (torch.logsumexp(x, dim=1) - picked).mean()


@alternative("cross_entropy")
def cross_entropy_lse_by_hand_minus_picked(logits, targets, ignore_index=-100):
    keep = targets != ignore_index
    x, t = logits[keep], targets[keep]  # only the rows that count
    m = x.amax(dim=1)
    lse = m + (x - m[:, None]).exp().sum(dim=1).log()
    return (lse - x[torch.arange(x.shape[0]), t]).mean()


# --- mse_loss -----------------------------------------------------------------------------


@mistake("mse_loss")
def mse_calls_torch(pred, target):
    """calls torch.nn.functional.mse_loss, the shortcut this kata asks you to write yourself"""
    return F.mse_loss(pred, target)


@mistake("mse_loss")
def mse_sum(pred, target):
    """the sum of the squared errors, not their mean"""
    return ((pred - target) ** 2).sum()


@mistake("mse_loss")
def mse_abs(pred, target):
    """the mean absolute error (L1) instead of the squared error"""
    return (pred - target).abs().mean()


@mistake("mse_loss")
def mse_square_of_mean(pred, target):
    """the square of the mean error instead of the mean of the squares"""
    return (pred - target).mean() ** 2


@mistake("mse_loss")
def mse_mean_over_batch_only(pred, target):
    """the mean over dim 0 only: a tensor per column instead of one number"""
    return ((pred - target) ** 2).mean(dim=0) if pred.dim() > 1 else ((pred - target) ** 2).mean()


@alternative("mse_loss")
def mse_dot(pred, target):
    d = (pred - target).reshape(-1)
    return torch.dot(d, d) / d.numel()


@alternative("mse_loss")
def mse_square_and_divide(pred, target):
    d = pred - target
    return (d * d).sum() / d.numel()


# --- side doors around the from-scratch guard ---------------------------------------------
# Each reaches a forbidden shortcut by a route the guard once missed: code compiled under a
# filename outside the graded tree, another thread, the aten op or the C binding behind the
# public name, or another member of the softmax and sigmoid family.

exec(
    compile(
        "def softmax_compiled_elsewhere(x, dim=-1):\n"
        '    """calls torch.softmax from code compiled under a filename of its own\n'
        "    (exec(compile(source, '<kata>', 'exec'))): it is still the kata's code\"\"\"\n"
        "    return torch.softmax(x, dim=dim)\n",
        "<kata>",
        "exec",
    )
)
mistake("softmax")(globals()["softmax_compiled_elsewhere"])

exec(
    compile(
        "def log_softmax_compiled_as_torch(x, dim=-1):\n"
        '    """calls torch.log_softmax from code compiled under torch\'s own filename:\n'
        '    it runs in the kata\'s module, so it is still the kata\'s code"""\n'
        "    return torch.log_softmax(x, dim=dim)\n",
        F.__file__,
        "exec",
    )
)
mistake("log_softmax")(globals()["log_softmax_compiled_as_torch"])


@mistake("softmax")
def softmax_in_a_thread_pool(x, dim=-1):
    """hands torch.softmax to a ThreadPoolExecutor and waits for the result: the shortcut
    runs in another thread, still on the kata's behalf"""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(torch.softmax, x, dim).result()


@mistake("sigmoid")
def sigmoid_in_a_thread(x):
    """runs torch.sigmoid in a threading.Thread of its own and takes its result"""
    import threading

    out = [torch.zeros_like(x)]
    worker = threading.Thread(target=lambda: out.__setitem__(0, torch.sigmoid(x)))
    worker.start()
    worker.join()
    return out[0]


@mistake("softmax")
def softmax_through_aten(x, dim=-1):
    """calls torch.ops.aten._softmax, the op behind torch.softmax"""
    return torch.ops.aten._softmax(x, dim, False)


@mistake("log_softmax")
def log_softmax_through_variable_functions(x, dim=-1):
    """calls torch._C._VariableFunctions.log_softmax, the C binding of torch.log_softmax"""
    return torch._C._VariableFunctions.log_softmax(x, dim)


@mistake("sigmoid")
def sigmoid_through_aten(x):
    """calls torch.ops.aten.sigmoid, the op behind torch.sigmoid"""
    return torch.ops.aten.sigmoid(x)


@mistake("tanh")
def tanh_through_aten(x):
    """calls torch.ops.aten.tanh, the op behind torch.tanh"""
    return torch.ops.aten.tanh(x)


@mistake("relu")
def relu_through_aten(x):
    """calls torch.ops.aten.relu, the op behind torch.relu"""
    return torch.ops.aten.relu(x)


@mistake("gelu")
def gelu_through_c_binding(x, approximate="none"):
    """calls torch._C._nn.gelu, the C binding of torch.nn.functional.gelu"""
    return torch._C._nn.gelu(x, approximate=approximate)


@mistake("mse_loss")
def mse_through_aten(pred, target):
    """calls torch.ops.aten.mse_loss, the op behind torch.nn.functional.mse_loss"""
    return torch.ops.aten.mse_loss(pred, target)


@mistake("cross_entropy")
def cross_entropy_in_a_thread_pool(logits, targets, ignore_index=-100):
    """hands torch.nn.functional.cross_entropy to a ThreadPoolExecutor: the shortcut runs in
    another thread, still on the kata's behalf"""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(F.cross_entropy, logits, targets, ignore_index=ignore_index).result()


@mistake("cross_entropy")
def cross_entropy_gathers_with_aten_nll_loss(logits, targets, ignore_index=-100):
    """takes its own log-softmax, then leaves the gathering and the mean to
    torch.ops.aten.nll_loss_nd, the op behind torch.nn.functional.nll_loss"""
    return torch.ops.aten.nll_loss_nd(_log_softmax(logits), targets, None, 1, ignore_index)


@mistake("softmax")
def softmax_exp_of_torch_log_softmax(x, dim=-1):
    """exp(torch.log_softmax(x)): torch.log_softmax is of the softmax and sigmoid family this
    kata forbids whole"""
    return torch.exp(torch.log_softmax(x, dim=dim))


@mistake("sigmoid")
def sigmoid_from_torch_tanh(x):
    """½(1 + torch.tanh(x/2)): torch.tanh is of the softmax and sigmoid family this kata
    forbids whole"""
    return 0.5 * (1 + torch.tanh(x / 2))


@mistake("sigmoid")
def sigmoid_from_softplus(x):
    """exp(−softplus(−x)) with torch.nn.functional.softplus, of the softmax and sigmoid family
    this kata forbids whole"""
    return torch.exp(-F.softplus(-x))


@mistake("sigmoid")
def sigmoid_as_softmax_of_two(x):
    """softmax over the pair (0, x), taken with torch.softmax: σ(x) is its second entry, and
    torch.softmax is of the softmax and sigmoid family this kata forbids whole"""
    return torch.softmax(torch.stack([torch.zeros_like(x), x]), dim=0)[1]


@mistake("tanh")
def tanh_from_torch_sigmoid(x):
    """2·torch.sigmoid(2x) − 1: torch.sigmoid is of the softmax and sigmoid family this kata
    forbids whole"""
    return 2 * torch.sigmoid(2 * x) - 1
