import torch
import torch.nn.functional as F

from grader.variants import alternative, mistake

# --- derivative -----------------------------------------------------------------------


@mistake("derivative")
def forward_difference(f, x):
    """a finite difference (f(x+h) − f(x))/h with h = 1e-3 instead of autograd"""
    h = 1e-3
    t = torch.tensor(x, dtype=torch.float64)
    return ((f(t + h) - f(t)) / h).item()


@mistake("derivative")
def central_difference(f, x):
    """a central finite difference instead of autograd: blind to what autograd sees (a detach)"""
    h = 1e-5
    t = torch.tensor(x, dtype=torch.float64)
    return ((f(t + h) - f(t - h)) / (2 * h)).item()


@mistake("derivative")
def returns_tensor(f, x):
    """returns the gradient tensor instead of a Python float (missing .item())"""
    t = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    f(t).backward()
    return t.grad


@alternative("derivative")
def float32_backward(f, x):
    t = torch.tensor(float(x), requires_grad=True)
    f(t).backward()
    return t.grad.item()


@alternative("derivative")
def with_torch_func(f, x):
    return torch.func.grad(f)(torch.tensor(x, dtype=torch.float64)).item()


# --- gradient -------------------------------------------------------------------------


@mistake("gradient")
def backward_on_callers_tensor(f, x):
    """backward on the caller's own tensor: sets its requires_grad and .grad, adds to old .grad"""
    x.requires_grad_(True)
    f(x).backward()
    return x.grad


@mistake("gradient")
def borrows_callers_tensor(f, x):
    """turns the caller's requires_grad on and off and wipes its .grad, instead of using a copy"""
    x.requires_grad_(True)
    f(x).backward()
    grad = x.grad.clone()
    x.grad = None
    x.requires_grad_(False)
    return grad


@mistake("gradient")
def clone_without_detach(f, x):
    """x.clone() without .detach() stays in the caller's graph: backward reaches x.grad"""
    copy = x.clone().requires_grad_(True)
    copy.retain_grad()
    f(copy).backward()
    return copy.grad


@alternative("gradient")
def functorch_grad(f, x):
    return torch.func.grad(f)(x.detach())


@alternative("gradient")
def backward_on_detached_clone(f, x):
    copy = x.detach().clone().requires_grad_(True)
    f(copy).backward()
    return copy.grad


# --- minimize -------------------------------------------------------------------------


@mistake("minimize")
def detach_shares_memory(f, x0, lr, steps):
    """x0.detach() without .clone() shares x0's memory: the in-place steps change the caller's x0"""
    x = x0.detach().requires_grad_(True)
    for _ in range(steps):
        (grad,) = torch.autograd.grad(f(x), x)
        with torch.no_grad():
            x -= lr * grad
    return x.detach()


@mistake("minimize")
def returns_tensor_requiring_grad(f, x0, lr, steps):
    """returns x itself, which autograd still tracks: the result requires grad"""
    x = x0.detach().clone().requires_grad_(True)
    for _ in range(steps):
        (grad,) = torch.autograd.grad(f(x), x)
        with torch.no_grad():
            x -= lr * grad
    return x


@mistake("minimize")
def never_clears_grad(f, x0, lr, steps):
    """calls backward every step but never clears x.grad, so the gradients add up"""
    x = x0.detach().clone().requires_grad_(True)
    for _ in range(steps):
        f(x).backward()
        with torch.no_grad():
            x -= lr * x.grad
    return x.detach()


@mistake("minimize")
def gradient_ascent(f, x0, lr, steps):
    """x + lr·grad: steps uphill instead of down"""
    x = x0.detach().clone().requires_grad_(True)
    for _ in range(steps):
        (grad,) = torch.autograd.grad(f(x), x)
        with torch.no_grad():
            x += lr * grad
    return x.detach()


@mistake("minimize")
def one_step_short(f, x0, lr, steps):
    """loops over range(1, steps): one step too few"""
    x = x0.detach().clone().requires_grad_(True)
    for _ in range(1, steps):
        (grad,) = torch.autograd.grad(f(x), x)
        with torch.no_grad():
            x -= lr * grad
    return x.detach()


@alternative("minimize")
def with_torch_optim_sgd(f, x0, lr, steps):
    x = x0.detach().clone().requires_grad_(True)
    optimizer = torch.optim.SGD([x], lr=lr)
    for _ in range(steps):
        optimizer.zero_grad()
        f(x).backward()
        optimizer.step()
    return x.detach()


@alternative("minimize")
def functional_rebinding(f, x0, lr, steps):
    x = x0.detach().clone()
    for _ in range(steps):
        x.requires_grad_(True)
        (grad,) = torch.autograd.grad(f(x), x)
        x = (x - lr * grad).detach()
    return x


# --- mse_grads --------------------------------------------------------------------------


@mistake("mse_grads")
def sum_instead_of_mean(x, y, w, b):
    """the loss sums the squared errors instead of averaging them"""
    w = w.detach().requires_grad_(True)
    b = b.detach().requires_grad_(True)
    loss = ((x @ w + b - y) ** 2).sum()
    return tuple(torch.autograd.grad(loss, (w, b)))


@mistake("mse_grads")
def backward_on_callers_w_and_b(x, y, w, b):
    """requires_grad_() and backward on the caller's w and b: their .grad fills and adds up"""
    w.requires_grad_(True)
    b.requires_grad_(True)
    ((x @ w + b - y) ** 2).mean().backward()
    return w.grad, b.grad


@mistake("mse_grads")
def bias_as_a_vector(x, y, w, b):
    """turns b into a (1,) tensor, so dL/db comes back (1,) instead of 0-d like b"""
    w = w.detach().requires_grad_(True)
    b = b.detach().reshape(1).requires_grad_(True)
    loss = ((x @ w + b - y) ** 2).mean()
    return tuple(torch.autograd.grad(loss, (w, b)))


@mistake("mse_grads")
def returns_a_list(x, y, w, b):
    """returns [dL/dw, dL/db], a list, where the docstring promises a tuple"""
    w = w.detach().requires_grad_(True)
    b = b.detach().requires_grad_(True)
    ((x @ w + b - y) ** 2).mean().backward()
    return [w.grad, b.grad]


@mistake("mse_grads")
def unbiased_mean(x, y, w, b):
    """divides the summed squared error by N − 1 instead of N"""
    w = w.detach().requires_grad_(True)
    b = b.detach().requires_grad_(True)
    loss = ((x @ w + b - y) ** 2).sum() / (x.shape[0] - 1)
    return tuple(torch.autograd.grad(loss, (w, b)))


@alternative("mse_grads")
def mse_loss_and_backward(x, y, w, b):
    w = w.detach().clone().requires_grad_(True)
    b = b.detach().clone().requires_grad_(True)
    F.mse_loss(x @ w + b, y).backward()
    return w.grad, b.grad


@alternative("mse_grads")
def torch_func_grad(x, y, w, b):
    def loss(w, b):
        return ((x @ w + b - y) ** 2).mean()

    return torch.func.grad(loss, argnums=(0, 1))(w.detach(), b.detach())


# --- mse_grads_by_hand ------------------------------------------------------------------


@mistake("mse_grads_by_hand")
def missing_factor_two(x, y, w, b):
    """forgets the 2 in d(r²)/dr = 2r"""
    r = x @ w + b - y
    return x.T @ r / x.shape[0], r.mean()


@mistake("mse_grads_by_hand")
def divides_by_features(x, y, w, b):
    """divides by D (the number of features) instead of N (the number of examples)"""
    D = x.shape[1]
    r = x @ w + b - y
    return 2 * x.T @ r / D, 2 * r.sum() / D


@mistake("mse_grads_by_hand")
def forgets_the_bias(x, y, w, b):
    """leaves b out of the residual: r = x @ w − y"""
    N = x.shape[0]
    r = x @ w - y
    return 2 / N * x.T @ r, 2 / N * r.sum()


@mistake("mse_grads_by_hand")
def sign_flipped(x, y, w, b):
    """uses y − pred for the residual, which flips the sign of both gradients"""
    N = x.shape[0]
    r = y - (x @ w + b)
    return 2 / N * x.T @ r, 2 / N * r.sum()


@mistake("mse_grads_by_hand")
def keepdim_bias_grad(x, y, w, b):
    """sums the residuals with keepdim=True: dL/db comes back (1,) instead of 0-d"""
    N = x.shape[0]
    r = x @ w + b - y
    return 2 / N * x.T @ r, 2 / N * r.sum(0, keepdim=True)


@mistake("mse_grads_by_hand")
def uses_autograd(x, y, w, b):
    """uses autograd after all: under torch.no_grad() there is no graph to differentiate"""
    w = w.detach().requires_grad_(True)
    b = b.detach().requires_grad_(True)
    loss = ((x @ w + b - y) ** 2).mean()
    return tuple(torch.autograd.grad(loss, (w, b)))


@alternative("mse_grads_by_hand")
def means_over_examples(x, y, w, b):
    r = x @ w + b - y  # (N,)
    return 2 * (r[:, None] * x).mean(0), 2 * r.mean()


@alternative("mse_grads_by_hand")
def with_einsum(x, y, w, b):
    N = x.shape[0]
    r = torch.einsum("nd,d->n", x, w) + b - y
    return torch.einsum("nd,n->d", x, r) * (2 / N), torch.einsum("n->", r) * (2 / N)
