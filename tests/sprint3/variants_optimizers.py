import torch

from grader.variants import alternative, mistake


class _Base(torch.optim.Optimizer):
    """Optimizer plumbing shared by the variants below: they differ in _update only."""

    def step(self, closure=None):
        with torch.no_grad():
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is not None:
                        self._update(p, p.grad, group, self.state[p])


class _SGDBase(_Base):
    def __init__(self, params, lr, momentum=0.0, weight_decay=0.0):
        super().__init__(params, {"lr": lr, "momentum": momentum, "weight_decay": weight_decay})


class _AdamWBase(_Base):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
        defaults = {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay}
        super().__init__(params, defaults)


# --- SGD ----------------------------------------------------------------------------------


@mistake("SGD")
class SGDWrapsTorch(torch.optim.Optimizer):
    """keeps a torch.optim.SGD inside and calls its step: torch's update code"""

    def __init__(self, params, lr, momentum=0.0, weight_decay=0.0):
        super().__init__(params, {"lr": lr, "momentum": momentum, "weight_decay": weight_decay})
        self.inner = torch.optim.SGD(self.param_groups, lr=lr, momentum=momentum)

    def step(self, closure=None):
        self.inner.step()


@mistake("SGD")
class SGDSubclassesTorch(torch.optim.SGD):
    """subclasses torch.optim.SGD and inherits its step: torch's update code"""

    def __init__(self, params, lr, momentum=0.0, weight_decay=0.0):
        super().__init__(params, lr=lr, momentum=momentum, weight_decay=weight_decay)


@mistake("SGD")
class SGDVelocityForm(_SGDBase):
    """the velocity form v ← μ·v + lr·g, p ← p − v: the same only while lr is constant"""

    def _update(self, p, g, group, state):
        g = g + group["weight_decay"] * p
        if "v" not in state:
            state["v"] = torch.zeros_like(p)
        state["v"].mul_(group["momentum"]).add_(group["lr"] * g)
        p.sub_(state["v"])


@mistake("SGD")
class SGDDampened(_SGDBase):
    """momentum as a moving average b ← μ·b + (1 − μ)·g; torch adds the whole gradient"""

    def _update(self, p, g, group, state):
        mu = group["momentum"]
        g = g + group["weight_decay"] * p
        if mu:
            buf = state.setdefault("momentum_buffer", torch.zeros_like(p))
            buf.mul_(mu).add_(g, alpha=1 - mu)
            g = buf
        p.sub_(group["lr"] * g)


@mistake("SGD")
class SGDDecayAfterMomentum(_SGDBase):
    """adds the weight decay after the momentum buffer, so the buffer never sees it"""

    def _update(self, p, g, group, state):
        if group["momentum"]:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = g.clone()
            else:
                buf.mul_(group["momentum"]).add_(g)
            g = buf
        p.sub_(group["lr"] * (g + group["weight_decay"] * p))


@mistake("SGD")
class SGDIgnoresGroups(_SGDBase):
    """uses the constructor's lr, momentum and weight_decay for every group (self.defaults)"""

    def _update(self, p, g, group, state):
        d = self.defaults
        g = g + d["weight_decay"] * p
        if d["momentum"]:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = g.clone()
            else:
                buf.mul_(d["momentum"]).add_(g)
            g = buf
        p.sub_(d["lr"] * g)


@mistake("SGD")
class SGDBuffersOnSelf(_SGDBase):
    """keeps the momentum buffers in a dict of its own (self.buffers), not in self.state"""

    def __init__(self, params, lr, momentum=0.0, weight_decay=0.0):
        super().__init__(params, lr, momentum, weight_decay)
        self.buffers = {}

    def _update(self, p, g, group, state):
        g = g + group["weight_decay"] * p
        if group["momentum"]:
            buf = self.buffers.get(p)
            if buf is None:
                buf = self.buffers[p] = g.clone()
            else:
                buf.mul_(group["momentum"]).add_(g)
            g = buf
        p.sub_(group["lr"] * g)


@mistake("SGD")
class SGDMissingGradIsZero(_SGDBase):
    """treats a missing gradient as zeros: the weight decay and momentum still move p"""

    def step(self, closure=None):
        with torch.no_grad():
            for group in self.param_groups:
                for p in group["params"]:
                    g = p.grad if p.grad is not None else torch.zeros_like(p)
                    g = g + group["weight_decay"] * p
                    if group["momentum"]:
                        buf = self.state[p].get("momentum_buffer")
                        if buf is None:
                            buf = self.state[p]["momentum_buffer"] = g.clone()
                        else:
                            buf.mul_(group["momentum"]).add_(g)
                        g = buf
                    p.sub_(group["lr"] * g)


@mistake("SGD")
class SGDWithoutNoGrad(_SGDBase):
    """updates the parameters in place while autograd is recording"""

    def step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    p.sub_(group["lr"] * (p.grad + group["weight_decay"] * p))


@mistake("SGD")
class SGDNoWeightDecay(_SGDBase):
    """never applies weight_decay"""

    def _update(self, p, g, group, state):
        if group["momentum"]:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = g.clone()
            else:
                buf.mul_(group["momentum"]).add_(g)
            g = buf
        p.sub_(group["lr"] * g)


@alternative("SGD")
class SGDForeach(torch.optim.Optimizer):
    # one group at a time with torch._foreach_* ops, the way torch's multi-tensor path works
    def __init__(self, params, lr, momentum=0.0, weight_decay=0.0):
        super().__init__(params, {"lr": lr, "momentum": momentum, "weight_decay": weight_decay})

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            grads = [p.grad for p in params]
            if group["weight_decay"]:
                grads = torch._foreach_add(grads, params, alpha=group["weight_decay"])
            if group["momentum"]:
                bufs = []
                for p, g in zip(params, grads):
                    buf = self.state[p].get("momentum_buffer")
                    if buf is None:
                        buf = self.state[p]["momentum_buffer"] = torch.clone(g).detach()
                    else:
                        buf.mul_(group["momentum"]).add_(g)
                    bufs.append(buf)
                grads = bufs
            torch._foreach_add_(params, grads, alpha=-group["lr"])


@alternative("SGD")
class SGDThroughData(torch.optim.Optimizer):
    # .data updates instead of torch.no_grad(), out-of-place arithmetic
    def __init__(self, params, lr, momentum=0.0, weight_decay=0.0):
        super().__init__(params, {"lr": lr, "momentum": momentum, "weight_decay": weight_decay})

    def step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                d_p = p.grad.data + group["weight_decay"] * p.data
                if group["momentum"] != 0:
                    state = self.state[p]
                    if "momentum_buffer" in state:
                        state["momentum_buffer"] = (
                            group["momentum"] * state["momentum_buffer"] + d_p
                        )
                    else:
                        state["momentum_buffer"] = d_p.clone()
                    d_p = state["momentum_buffer"]
                p.data.sub_(group["lr"] * d_p)


# --- AdamW --------------------------------------------------------------------------------


@mistake("AdamW")
class AdamWWrapsTorch(torch.optim.Optimizer):
    """keeps a torch.optim.AdamW inside and calls its step: torch's update code"""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
        defaults = {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay}
        super().__init__(params, defaults)
        self.inner = torch.optim.AdamW(self.param_groups)

    def step(self, closure=None):
        self.inner.step()


def _adam_moments(g, group, state, g2=None):
    """t += 1 and the moving averages m, v in state; returns (t, m, v)."""
    beta1, beta2 = group["betas"]
    if not state:
        state["step"] = 0
        state["exp_avg"] = torch.zeros_like(g)
        state["exp_avg_sq"] = torch.zeros_like(g)
    state["step"] += 1
    state["exp_avg"].mul_(beta1).add_(g, alpha=1 - beta1)
    state["exp_avg_sq"].mul_(beta2).add_(g * g if g2 is None else g2, alpha=1 - beta2)
    return state["step"], state["exp_avg"], state["exp_avg_sq"]


def _adam_update(p, t, m, v, group, lr=None):
    lr = group["lr"] if lr is None else lr
    beta1, beta2 = group["betas"]
    m_hat = m / (1 - beta1**t)
    v_hat = v / (1 - beta2**t)
    p.sub_(lr * m_hat / (v_hat.sqrt() + group["eps"]))


@mistake("AdamW")
class AdamWWithL2(_AdamWBase):
    """adds weight_decay·p to the gradient (Adam's L2 penalty) instead of decaying p itself"""

    def _update(self, p, g, group, state):
        t, m, v = _adam_moments(g + group["weight_decay"] * p, group, state)
        _adam_update(p, t, m, v, group)


@mistake("AdamW")
class AdamWNoBiasCorrection(_AdamWBase):
    """no bias correction: m and v start at 0, so the first steps are far too small or large"""

    def _update(self, p, g, group, state):
        p.mul_(1 - group["lr"] * group["weight_decay"])
        _, m, v = _adam_moments(g, group, state)
        p.sub_(group["lr"] * m / (v.sqrt() + group["eps"]))


@mistake("AdamW")
class AdamWStepCountedAfter(_AdamWBase):
    """bias correction with t − 1 (the step counted after the update): 1 − β^0 = 0 at first"""

    def _update(self, p, g, group, state):
        p.mul_(1 - group["lr"] * group["weight_decay"])
        t, m, v = _adam_moments(g, group, state)
        _adam_update(p, t - 1, m, v, group)


@mistake("AdamW")
class AdamWEpsInsideSqrt(_AdamWBase):
    """ε inside the square root, √(v̂ + ε), where torch adds it after: √v̂ + ε"""

    def _update(self, p, g, group, state):
        p.mul_(1 - group["lr"] * group["weight_decay"])
        t, m, v = _adam_moments(g, group, state)
        beta1, beta2 = group["betas"]
        m_hat, v_hat = m / (1 - beta1**t), v / (1 - beta2**t)
        p.sub_(group["lr"] * m_hat / (v_hat + group["eps"]).sqrt())


@mistake("AdamW")
class AdamWGlobalStep(_AdamWBase):
    """one step counter for the whole optimizer instead of one per parameter"""

    def step(self, closure=None):
        self.t = getattr(self, "t", 0) + 1
        with torch.no_grad():
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    state = self.state[p]
                    p.mul_(1 - group["lr"] * group["weight_decay"])
                    _, m, v = _adam_moments(p.grad, group, state)
                    _adam_update(p, self.t, m, v, group)


@mistake("AdamW")
class AdamWDecayWithoutLr(_AdamWBase):
    """decays by weight_decay instead of lr·weight_decay: p ← p·(1 − λ)"""

    def _update(self, p, g, group, state):
        p.mul_(1 - group["weight_decay"])
        t, m, v = _adam_moments(g, group, state)
        _adam_update(p, t, m, v, group)


@mistake("AdamW")
class AdamWLrFromConstructor(_AdamWBase):
    """keeps the lr given to the constructor (self.lr) and never reads the param group's lr"""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
        super().__init__(params, lr, betas, eps, weight_decay)
        self.lr = lr

    def _update(self, p, g, group, state):
        p.mul_(1 - self.lr * group["weight_decay"])
        t, m, v = _adam_moments(g, group, state)
        _adam_update(p, t, m, v, group, lr=self.lr)


@mistake("AdamW")
class AdamWVarianceOfGrad(_AdamWBase):
    """v averages |g| instead of g²"""

    def _update(self, p, g, group, state):
        p.mul_(1 - group["lr"] * group["weight_decay"])
        t, m, v = _adam_moments(g, group, state, g2=g.abs())
        _adam_update(p, t, m, v, group)


@mistake("AdamW")
class AdamWFloat32BiasCorrection(_AdamWBase):
    """1 − β^t from a float32 step tensor: in float32 1 − 0.999 keeps only 4 digits, so
    the update is off by ~1e-5 of itself; keep t a Python number (or use t.item())"""

    def _update(self, p, g, group, state):
        if not state:
            state["step"] = torch.tensor(0.0)
            state["exp_avg"] = torch.zeros_like(p)
            state["exp_avg_sq"] = torch.zeros_like(p)
        state["step"] += 1
        t, m, v = state["step"], state["exp_avg"], state["exp_avg_sq"]
        beta1, beta2 = group["betas"]
        p.mul_(1 - group["lr"] * group["weight_decay"])
        m.lerp_(g, 1 - beta1)
        v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
        bias1, bias2 = 1 - beta1**t, 1 - beta2**t  # 0-d float32 tensors
        p.sub_(group["lr"] / bias1 * m / (v.sqrt() / bias2.sqrt() + group["eps"]))


@alternative("AdamW")
class AdamWTextbook(_AdamWBase):
    # Loshchilov & Hutter's form: decay from the old p inside the same update
    def _update(self, p, g, group, state):
        t, m, v = _adam_moments(g, group, state)
        beta1, beta2 = group["betas"]
        m_hat = m / (1 - beta1**t)
        v_hat = v / (1 - beta2**t)
        p.sub_(group["lr"] * (m_hat / (v_hat.sqrt() + group["eps"]) + group["weight_decay"] * p))


@alternative("AdamW")
class AdamWForeachTensorStep(torch.optim.Optimizer):
    # torch._foreach_* ops per group, t kept as a float32 tensor as torch keeps it; the
    # bias corrections from t.item(), in Python floats, as torch's default path does
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
        defaults = {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay}
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            beta1, beta2 = group["betas"]
            grads = [p.grad for p in params]
            for p in params:
                state = self.state[p]
                if not state:
                    state["step"] = torch.tensor(0.0)
                    state["exp_avg"] = torch.zeros_like(p)
                    state["exp_avg_sq"] = torch.zeros_like(p)
                state["step"] += 1
            ms = [self.state[p]["exp_avg"] for p in params]
            vs = [self.state[p]["exp_avg_sq"] for p in params]
            torch._foreach_mul_(params, 1 - group["lr"] * group["weight_decay"])
            torch._foreach_lerp_(ms, grads, 1 - beta1)
            torch._foreach_mul_(vs, beta2)
            torch._foreach_addcmul_(vs, grads, grads, 1 - beta2)
            for p, m, v in zip(params, ms, vs):
                t = self.state[p]["step"].item()
                bias1, bias2 = 1 - beta1**t, 1 - beta2**t
                denom = v.sqrt() / bias2**0.5 + group["eps"]
                p.addcdiv_(m, denom, value=-group["lr"] / bias1)


# --- side doors around the from-scratch guard ---------------------------------------------
# Each runs torch's own update code by a route the guard once missed: another thread, the
# fused kernel called directly, a torch optimizer's step inherited.


@mistake("SGD")
class SGDStepsTorchInAThread(torch.optim.Optimizer):
    """keeps a torch.optim.SGD inside and runs its step in a ThreadPoolExecutor: torch's
    update code, in another thread"""

    def __init__(self, params, lr, momentum=0.0, weight_decay=0.0):
        super().__init__(params, {"lr": lr, "momentum": momentum, "weight_decay": weight_decay})
        self.inner = torch.optim.SGD(self.param_groups, lr=lr, momentum=momentum)

    def step(self, closure=None):
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(1) as pool:
            pool.submit(self.inner.step).result()


@mistake("AdamW")
class AdamWFusedKernel(_AdamWBase):
    """keeps the step count and both moving averages itself, but leaves the update to
    torch._fused_adamw_, the kernel behind torch.optim.AdamW(fused=True)"""

    def _update(self, p, g, group, state):
        if not state:
            state["step"] = torch.tensor(0.0)
            state["exp_avg"] = torch.zeros_like(p)
            state["exp_avg_sq"] = torch.zeros_like(p)
        state["step"] += 1
        beta1, beta2 = group["betas"]
        torch._fused_adamw_(
            [p],
            [g],
            [state["exp_avg"]],
            [state["exp_avg_sq"]],
            [],
            [state["step"]],
            lr=group["lr"],
            beta1=beta1,
            beta2=beta2,
            weight_decay=group["weight_decay"],
            eps=group["eps"],
            amsgrad=False,
            maximize=False,
        )


@mistake("AdamW")
class AdamWSubclassesTorchAdam(torch.optim.Adam):
    """subclasses torch.optim.Adam with decoupled_weight_decay=True and inherits its step:
    torch's AdamW update code"""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
        super().__init__(
            params,
            lr=lr,
            betas=betas,
            eps=eps,
            weight_decay=weight_decay,
            decoupled_weight_decay=True,
        )
