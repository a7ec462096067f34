"""Grades sprint7.ddp in two processes that form a gloo group, against one process on the
whole batch (the weights, the loss) and against DistributedDataParallel (the gradients).

Collectives need real processes. Each test forks two ranks from the grading process
(os.fork: a rank holds the graded module exactly as the grading process imported it, the
learner's tree or a known variant patched in, with the audit hook and the guard), and the
two join a gloo group through a FileStore in a folder of the test's own: no port, so tests
that run at once never meet. A rank runs the kata on its share of a fixed batch and sends
back, as JSON on a pipe, what the checks need (its weights, its gradients, the rows its
model saw, the loss the kata returned) or the error it raised, with the line of the graded
code it came from. The grading process runs no collective itself (gloo leaves threads
behind); it compares what came back with its own run.

What goes wrong in a rank is told as such: an error, with the other rank's fate; a rank
that waits in a collective which the other never joins (a collective returns only once
every rank has called it) is stopped by gloo's timeout; one that hangs otherwise, or exits,
is stopped or named. The kata's own NotImplementedError in a rank is raised again here, so
that a stub reads "not started".

The ranks step with tests/sprint3/optim_oracle.TorchSGD (torch.optim.SGD to the bit;
torch.optim's own step imports torch._dynamo, ~3 s in each rank).
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import signal
import sys
import tempfile
import time
import traceback
from datetime import timedelta

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

from grader import kata, target, target_module
from grader.checks import Shown, check_close, describe, fail, likely_mistake
from grader.layout import cap
from grader.plugin.escapes import safe_str
from tests.kata_helpers import F32_STEPS_TOL, F32_TOL, kata_call, seeded
from tests.sprint3.optim_oracle import TorchSGD

ddp = target_module("sprint7.ddp")

WORLD = 2  # ranks: two CPU processes
B = 8  # rows of a batch: each rank's share is B / WORLD = 4
LR, MOMENTUM = 0.1, 0.9  # momentum carries a wrong step into every later one
CLIP = 0.05  # below the gradients' norm at the step that clips (checked): clipping acts
GLOO_TIMEOUT = 5.0  # seconds a rank waits in a collective before gloo gives up: a step of
# this tiny model takes milliseconds, so only a collective that another rank never joins
# comes near it, even on a loaded machine
RANK_LIMIT = GLOO_TIMEOUT + 4.0  # seconds before a rank that hangs elsewhere is stopped
AFTER_ERROR = 2.0  # seconds the other ranks get to finish once one has failed
COLLECTIVE = (
    "a collective (dist.all_reduce, and DDP's averaging in backward) returns only once every "
    "rank has called it: a rank that skips one, or calls one that the others do not (work "
    "done on rank 0 only, say), leaves them all waiting"
)


# --- the model, the data, one process on the whole batch --------------------------------


class Net(nn.Module):
    """Linear(5, 8) → tanh → Linear(8, 3), times a frozen scale (requires_grad=False: no
    gradient, so DDP and all_reduce_grads leave it alone). `seen` keeps the input of every
    forward: the rows a rank's model ran on."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(5, 8)
        self.fc2 = nn.Linear(8, 3)
        self.scale = nn.Parameter(torch.full((3,), 0.5), requires_grad=False)
        self.seen: list[Tensor] = []
        with torch.no_grad():
            for i, p in enumerate([self.fc1.weight, self.fc1.bias, self.fc2.weight, self.fc2.bias]):
                p.copy_(seeded(*p.shape, seed=70 + i, scale=0.5))

    def forward(self, x: Tensor) -> Tensor:
        self.seen.append(x.detach().clone())
        return self.fc2(torch.tanh(self.fc1(x))) * self.scale


def batch(seed: int, rows: int = B) -> tuple[Tensor, Tensor]:
    return seeded(rows, 5, seed=seed), seeded(rows, 3, seed=seed + 100)


STEPS = [(batch(10), 0.0), (batch(11), 0.0), (batch(12), 0.0), (batch(13), CLIP)]  # grad_clip


def weights(model: nn.Module) -> list[Tensor]:
    return [p.detach().clone() for p in model.parameters()]


def clip_(model: nn.Module, max_norm: float) -> float:
    """sprint3's clip_grad_norm, written out: the total norm, and the gradients scaled by
    max_norm / (norm + 1e-6) when it is larger."""
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    norm = torch.sqrt(sum((g.double() ** 2).sum() for g in grads)).float()
    if norm > max_norm:
        for g in grads:
            g.mul_(max_norm / (norm + 1e-6))
    return norm.item()


def one_process(
    rows=None, grad_scale: float = 1.0, clip: bool = True, zero_grad: bool = True
) -> list[dict]:
    """{"weights": after the step, "loss": before it, "norm": the gradients' norm} for each
    of STEPS, trained in this process: train_step on the whole batch (or on `rows` of it),
    and, for the known mistakes, the gradients scaled, not clipped or not cleared."""
    model = Net()
    optimizer = TorchSGD(model.parameters(), lr=LR, momentum=MOMENTUM)
    out = []
    for (x, y), grad_clip in STEPS:
        if zero_grad:
            optimizer.zero_grad()
        xs, ys = (x, y) if rows is None else (x[rows], y[rows])
        loss = F.mse_loss(model(xs), ys)
        loss.backward()
        for p in model.parameters():
            if p.grad is not None:
                p.grad.mul_(grad_scale)
        norm = clip_(model, grad_clip) if grad_clip and clip else 0.0
        optimizer.step()
        out.append({"weights": weights(model), "loss": loss.item(), "norm": norm})
    return out


# --- two ranks ----------------------------------------------------------------------------


class _DynamoAnswers:
    """What DistributedDataParallel's constructor asks of torch._dynamo: whether the compiled
    reducer is on (torch._dynamo.config.optimize_ddp's default, True, says no)."""

    class utils:
        @staticmethod
        def get_optimize_ddp_mode() -> str:
            return "ddp_optimizer"


def wrap(model: nn.Module) -> DistributedDataParallel:
    """DistributedDataParallel(model), in a rank, without importing torch._dynamo (~900
    modules, ~3 s, in each rank): DDP's constructor asks it one question (above), and its
    forward enters a context manager wrapped in torch._disable_dynamo, whose first call
    imports it to build the wrapper (as grader.plugin.isolation does for the optimizers,
    the plain function stands in: nothing here compiles). A rank is a throwaway process; a
    torch whose DDP asks more imports torch._dynamo as usual."""
    helper = getattr(DistributedDataParallel, "_inside_ddp_forward", None)
    inner = getattr(getattr(helper, "__wrapped__", None), "__wrapped__", None)
    if inner is not None:
        setattr(inner, "__dynamo_disable", inner)
    if "torch._dynamo" in sys.modules:
        return DistributedDataParallel(model)
    torch._dynamo = _DynamoAnswers
    try:
        return DistributedDataParallel(model)
    except AttributeError:
        del torch._dynamo
        return DistributedDataParallel(model)
    finally:
        if vars(torch).get("_dynamo") is _DynamoAnswers:
            del torch._dynamo


class _Rank:
    """One forked rank, seen from the grading process."""

    def __init__(self, rank: int, pid: int, fd: int):
        self.rank, self.pid, self.fd = rank, pid, fd
        self.data = b""
        self.closed = False  # its pipe reached its end: it sent all it will
        self.status: int | None = None  # os.waitpid's, once reaped

    def read(self) -> None:
        chunk = os.read(self.fd, 1 << 16)
        if chunk:
            self.data += chunk
        else:
            self.closed = True

    def failed(self) -> bool:
        return self.closed and not self.data.startswith(b'{"result"')

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        _, self.status = os.waitpid(self.pid, 0)
        os.close(self.fd)

    def outcome(self) -> dict:
        """{"result": ...}, {"error": ...}, {"exited": how} or {"hung": True}."""
        if not self.closed:
            return {"hung": True}
        try:
            sent = json.loads(self.data)
        except ValueError:
            sent = None
        if isinstance(sent, dict) and ("result" in sent or "error" in sent):
            return sent
        status = self.status or 0
        if os.WIFSIGNALED(status) and os.WTERMSIG(status) != signal.SIGKILL:
            number = os.WTERMSIG(status)
            name = signal.Signals(number).name if number in signal.valid_signals() else number
            how = f"was killed by signal {name}"
        elif os.WIFEXITED(status):
            how = f"exited with code {os.WEXITSTATUS(status)}"
        else:
            how = "ended"
        return {"exited": how}


def run_ranks(work, *args) -> list:
    """work(rank, *args) in each of WORLD forked processes that form a gloo group; what
    each returned (JSON data), in rank order. Fails, saying what happened, when a rank
    raises, hangs or exits; raises a rank's NotImplementedError again."""
    folder = tempfile.mkdtemp(prefix="kata-ddp-")
    ranks: list[_Rank] = []
    try:
        for rank in range(WORLD):
            read, write = os.pipe()
            pid = os.fork()
            if pid == 0:  # the rank: never returns
                os.close(read)
                _rank_main(rank, os.path.join(folder, "store"), write, work, args)
            os.close(write)
            ranks.append(_Rank(rank, pid, read))
        _follow(ranks)
    finally:
        for rank in ranks:
            rank.stop()
        shutil.rmtree(folder, ignore_errors=True)
    return results([rank.outcome() for rank in ranks])


def _follow(ranks: list[_Rank]) -> None:
    """Read what the ranks send until each is done, RANK_LIMIT has passed, or AFTER_ERROR
    has passed since one failed (the others may be waiting for it in a collective)."""
    deadline = time.monotonic() + RANK_LIMIT
    while not all(r.closed for r in ranks):
        if any(r.failed() for r in ranks):
            deadline = min(deadline, time.monotonic() + AFTER_ERROR)
        left = deadline - time.monotonic()
        if left <= 0:
            return
        ready, _, _ = select.select([r.fd for r in ranks if not r.closed], [], [], left)
        for rank in ranks:
            if rank.fd in ready:
                rank.read()


def _rank_main(rank: int, store_path: str, fd: int, work, args) -> None:
    """A rank's whole life: join the group, work, send the outcome, wait to be stopped (a
    rank that left at once could cut off a collective its peer is finishing)."""
    try:
        signal.signal(signal.SIGALRM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        torch.set_num_threads(1)  # as DataLoader's workers do after a fork
        store = dist.FileStore(store_path, WORLD)
        timeout = timedelta(seconds=GLOO_TIMEOUT)
        dist.init_process_group("gloo", store=store, rank=rank, world_size=WORLD, timeout=timeout)
        sent = {"result": work(rank, *args)}
    except BaseException as exc:  # everything, SystemExit too: the rank must report
        sent = {"error": _error(exc)}
    try:
        data = json.dumps(sent).encode()
    except (TypeError, ValueError) as exc:
        data = json.dumps({"error": _error(exc)}).encode()
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.close(fd)
        time.sleep(RANK_LIMIT + AFTER_ERROR)
    finally:
        os._exit(0)


def _error(exc: BaseException) -> dict:
    """An exception as data: its type and first line, the deepest line of the graded tree in
    its traceback, and whether it is gloo's: a collective that gave up waiting ("waited") or
    lost the other rank ("lost")."""
    folder = target.target_root() / target.target_name()
    at = ""
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename.startswith(str(folder) + os.sep):
            shown = os.path.relpath(frame.filename, target.target_root())
            at = f"\n  at {shown}:{frame.lineno} in {frame.name}"
    message = safe_str(exc)
    gloo = ""
    if isinstance(exc, RuntimeError) and "gloo" in message:
        gloo = "waited" if "imed out" in message or "imeout" in message else "lost"
    arg = exc.args[0] if isinstance(exc, NotImplementedError) and exc.args else None
    return {
        "type": type(exc).__name__,
        "message": cap(message.strip().splitlines()[0] if message.strip() else ""),
        "whole": cap(message),
        "arg": arg if isinstance(arg, str) else None,
        "assertion": isinstance(exc, AssertionError),
        "gloo": gloo,
        "at": at,
    }


def results(outcomes: list[dict]) -> list:
    """The ranks' results; or the failure that explains best what went wrong in them: the
    kata's NotImplementedError, a check that failed in a rank, an error the code raised,
    a rank that exited, a rank left waiting in a collective, a rank that hung. (gloo's own
    messages name its source files and ports: they are told in words of the test's.)"""
    errors = [(r, o["error"]) for r, o in enumerate(outcomes) if "error" in o]
    for _, e in errors:
        if e["type"] == "NotImplementedError" and e["arg"] is not None:
            raise NotImplementedError(e["arg"])
    for _, e in errors:
        if e["assertion"]:
            raise AssertionError(e["whole"])
    where = kata_call.name + " in ranks 0 and 1 of a gloo group"
    others = _fates(outcomes)
    for r, e in errors:
        if not e["gloo"]:
            fail(where, f"rank {r} raised {e['type']}: {e['message']}{e['at']}{others(r)}")
    for r, o in enumerate(outcomes):
        if "exited" in o:
            fail(
                where,
                f"rank {r} {o['exited']} before it finished{others(r)}",
                "a rank that ends its own process (sys.exit, os._exit) or crashes: the other "
                "ranks are left waiting for it",
            )
    for r, e in errors:
        if e["gloo"] == "waited":
            fail(
                where,
                f"rank {r} waited {GLOO_TIMEOUT:g} s in a collective{e['at']} that the other "
                f"rank never joined, and gloo gave up{others(r)}",
                COLLECTIVE,
            )
    for r, e in errors:
        fail(
            where,
            f"rank {r} lost the other rank in the middle of a collective{e['at']}{others(r)}",
            COLLECTIVE,
        )
    hung = [r for r, o in enumerate(outcomes) if "hung" in o]
    if hung:
        fail(
            where,
            f"rank {hung[0]} did not finish within {RANK_LIMIT:g} s and was stopped (an endless "
            "loop?)",
        )
    return [o["result"] for o in outcomes]


def _fates(outcomes: list[dict]):
    def others(r: int) -> str:
        told = []
        for q, o in enumerate(outcomes):
            if q == r:
                continue
            if "result" in o:
                told.append(f"rank {q} finished")
            elif "hung" in o:
                told.append(f"rank {q} was still running and was stopped")
            elif "exited" in o:
                told.append(f"rank {q} {o['exited']}")
            elif o["error"]["gloo"] == "waited":
                told.append(f"rank {q} was left waiting in a collective")
            elif o["error"]["gloo"]:
                told.append(f"rank {q} lost the other rank in a collective")
            else:
                told.append(f"rank {q} raised {o['error']['type']}")
        return f"\n  ({'; '.join(told)})" if told else ""

    return others


def rows_seen(model: Net, x: Tensor) -> list[list[int]]:
    """For each forward the model ran, the indices in x of its input's rows (-1 for a row
    that is no row of x)."""
    found = []
    for seen in model.seen:
        if seen.dim() != 2 or seen.shape[1] != x.shape[1]:
            found.append([-1])
            continue
        found.append(
            [next((i for i in range(len(x)) if torch.equal(row, x[i])), -1) for row in seen]
        )
    model.seen.clear()
    return found


def flat(tensors) -> list:
    return [None if t is None else t.detach().flatten().tolist() for t in tensors]


def unflat(values: list, like: list[Tensor]) -> list:
    return [
        None if v is None else torch.tensor(v, dtype=t.dtype).view(t.shape)
        for v, t in zip(values, like, strict=True)
    ]


def share(rank: int) -> slice:
    n = B // WORLD
    return slice(rank * n, (rank + 1) * n)


def rows_text(rows: list[int]) -> str:
    return "[" + ", ".join(str(i) for i in rows) + "]"


# --- all_reduce_grads ---------------------------------------------------------------------


def _grads_work(rank: int) -> dict:
    """In a rank: DDP's gradients of this rank's rows of batch(20); then the same backward
    on a plain copy of the model, and the kata on it."""
    x, y = batch(20)
    rows = share(rank)
    reference = wrap(Net())
    F.mse_loss(reference(x[rows]), y[rows]).backward()
    model = Net()
    F.mse_loss(model(x[rows]), y[rows]).backward()
    local = [p.grad for p in model.parameters()]
    local = [None if g is None else g.clone() for g in local]
    before = weights(model)
    ddp.all_reduce_grads(model, WORLD)
    moved = any(not torch.equal(a, b) for a, b in zip(before, weights(model), strict=True))
    return {
        "want": flat(p.grad for p in reference.module.parameters()),
        "local": flat(local),
        "got": flat(p.grad if isinstance(p.grad, Tensor) else None for p in model.parameters()),
        "types": [describe(p.grad) for p in model.parameters()],
        "moved": moved,
    }


@kata("all_reduce_grads")
class TestAllReduceGrads:
    def test_every_rank_gets_ddps_averaged_gradients(self):
        """Each rank runs backward on its own 4 rows; after the kata each holds what DDP's
        backward gives on the same rows: the mean of the two ranks' gradients."""
        ranks = run_ranks(_grads_work)
        names = [name for name, _ in Net().named_parameters()]
        like = [p.detach() for p in Net().parameters()]
        for rank, sent in enumerate(ranks):
            where = kata_call(Shown("net"), WORLD) + (
                f" on rank {rank} of a gloo group of {WORLD}, after backward on rows "
                f"{rows_text(list(range(B))[share(rank)])} of an (8, 5) batch"
            )
            if sent["moved"]:
                fail(
                    where,
                    "the weights changed; the kata averages the gradients and nothing else",
                    "the weights (p.data) averaged or stepped instead of, or as well as, "
                    "the gradients",
                )
            want = unflat(sent["want"], like)
            local = unflat(sent["local"], like)
            got = sent["got"]
            for name, g, w, own, shown in zip(names, got, want, local, sent["types"]):
                here = f"{where}, parameter {name}"
                if w is None:
                    if g is not None or shown != "None":
                        fail(
                            here,
                            f"the frozen parameter (requires_grad=False) has no gradient, and "
                            f"now its .grad is {shown}",
                            "a gradient made for a parameter that had none: a frozen "
                            "parameter has nothing to average; skip it, as DDP does",
                        )
                    continue
                if g is None:
                    fail(here, f".grad is {shown} after the kata; backward had filled it")
                g = torch.tensor(g).view(w.shape)
                mistake = likely_mistake(
                    g,
                    [
                        (
                            "the gradient is still this rank's own: nothing was averaged into "
                            "it (dist.all_reduce works in place on the tensor it is given: a "
                            "copy, or the weights, do not count)",
                            own,
                        ),
                        (
                            "the gradients were summed across the ranks (all_reduce's SUM) but "
                            "not divided by world_size",
                            w * WORLD,
                        ),
                    ],
                ) or (
                    # rank 0 passed every check: the average reached it and not this rank
                    "rank 0 holds the average and this rank does not: the sum went to one "
                    "rank only (dist.reduce), where every rank needs it (all_reduce)"
                    if rank
                    else ""
                )
                # float32 gradients averaged in another order than DDP's (it divides
                # before it sums): a rounding or two, ~1e-7 relative
                check_close(
                    g,
                    w,
                    f"{here}: .grad against DistributedDataParallel's on the same rows",
                    **F32_TOL,
                    mistake=mistake,
                )


# --- ddp_train_step -----------------------------------------------------------------------


def _train_work(rank: int) -> list[dict]:
    """In a rank: the caller's part (the model wrapped once, an optimizer over it), then
    one call of the kata for each of STEPS."""
    model = Net()
    wrapped = wrap(model)
    optimizer = TorchSGD(wrapped.parameters(), lr=LR, momentum=MOMENTUM)
    out = []
    for (x, y), grad_clip in STEPS:
        clip = {"grad_clip": grad_clip} if grad_clip else {}
        loss = ddp.ddp_train_step(rank, WORLD, wrapped, (x, y), F.mse_loss, optimizer, **clip)
        out.append(
            {
                "loss": loss if type(loss) is float else None,
                "shown": describe(loss),
                "rows": rows_seen(model, x),
                "weights": flat(model.parameters()),
            }
        )
    return out


def _uneven_work(rank: int) -> str:
    """In a rank: the kata on a batch of 7 rows, which does not split in two; "" when it
    raises ValueError, else what it did."""
    model = Net()
    wrapped = wrap(model)
    optimizer = TorchSGD(wrapped.parameters(), lr=LR, momentum=MOMENTUM)
    try:
        got = ddp.ddp_train_step(rank, WORLD, wrapped, batch(30, rows=7), F.mse_loss, optimizer)
    except ValueError:
        return ""
    return f"returned {describe(got)}"


def step_call(step: int) -> str:
    x, y = STEPS[step][0]
    clip = {"grad_clip": STEPS[step][1]} if STEPS[step][1] else {}
    shown = Shown(f"(x {describe(x)}, y {describe(y)})")
    call = kata_call(
        Shown("rank"),
        WORLD,
        Shown("DistributedDataParallel(net)"),
        shown,
        Shown("F.mse_loss"),
        Shown(f"SGD(lr={LR}, momentum={MOMENTUM})"),
        **clip,
    )
    return f"{call} on ranks 0 and 1 of a gloo group, step {step + 1} of {len(STEPS)}"


def check_rows(ranks: list[list[dict]], step: int, where: str) -> None:
    """Each rank's model ran once, on B / WORLD rows of the batch; together, every row once."""
    n = B // WORLD
    seen = []
    for rank, sent in enumerate(ranks):
        calls = sent[step]["rows"]
        if len(calls) != 1:
            fail(
                where,
                f"rank {rank}'s model ran {len(calls)} times in one step; once, on its own rows",
            )
        rows = calls[0]
        if -1 in rows:
            fail(where, f"rank {rank}'s model ran on rows that are not rows of the batch")
        if len(rows) == B:
            fail(
                where,
                f"rank {rank}'s model ran on all {B} rows of the batch; each rank takes its own "
                f"{n} ({B} rows / world_size {WORLD})",
                "every rank on the whole batch: the ranks then do the same work twice over "
                "(the rank picks a rank's share of the rows)",
            )
        if len(rows) != n:
            fail(where, f"rank {rank}'s model ran on {len(rows)} rows; its share is {n}")
        seen.append(rows)
    twice = sorted(set(seen[0]) & set(seen[1]))
    if twice:
        unused = sorted(set(range(B)) - set(seen[0]) - set(seen[1]))
        fail(
            where,
            f"ranks 0 and 1 both trained on rows {rows_text(twice)}, and rows "
            f"{rows_text(unused)} went unused; the shares cover the batch once",
            "every rank on the same share: the rank picks which rows are its own",
        )


@kata("ddp_train_step")
class TestDdpTrainStep:
    def test_two_ranks_end_with_the_weights_of_one_process_on_the_whole_batch(self):
        """Four steps (the last with grad_clip), each rank on its half of an (8, 5) batch:
        after each, both ranks hold the weights of one process that ran train_step on the
        whole batch, and both return that batch's loss."""
        ranks = run_ranks(_train_work)
        one = one_process()
        assert one[3]["norm"] > CLIP, "the clipping step must clip"
        mistakes = {
            "halved": one_process(grad_scale=1 / WORLD),
            "doubled": one_process(grad_scale=WORLD),
            "unclipped": one_process(clip=False),
            "accumulated": one_process(zero_grad=False),
        }
        own = [one_process(rows=share(rank)) for rank in range(WORLD)]
        names = [name for name, _ in Net().named_parameters()]
        for step in range(len(STEPS)):
            where = step_call(step)
            check_rows(ranks, step, where)
            for rank, sent in enumerate(ranks):
                got = unflat(sent[step]["weights"], one[step]["weights"])
                candidates = {
                    "own": own[rank][step]["weights"],
                    **{k: v[step]["weights"] for k, v in mistakes.items()},
                    "before": one[step - 1]["weights"] if step else weights(Net()),
                }
                for i, name in enumerate(names):
                    mistake = likely_mistake(
                        got[i], [(WEIGHT_MISTAKES[k], w[i]) for k, w in candidates.items()]
                    )
                    # float32 steps by another order of sums (two halves averaged against
                    # one mean over the batch): a rounding a step, SGD's momentum carries it
                    check_close(
                        got[i],
                        one[step]["weights"][i],
                        f"{where}: rank {rank}'s {name} after the step, against one process "
                        "on the whole batch",
                        **F32_STEPS_TOL,
                        mistake=mistake,
                    )
            for rank, sent in enumerate(ranks):
                self._check_loss(sent[step], one[step]["loss"], own[rank][step]["loss"], where)

    @staticmethod
    def _check_loss(sent: dict, want: float, own: float, where: str) -> None:
        if sent["loss"] is None:
            fail(
                where,
                f"returned {sent['shown']}; the contract promises a Python float",
                "the loss tensor returned as it is: .item() gives its Python float",
            )
        got = torch.tensor(sent["loss"], dtype=torch.float64)
        mistake = likely_mistake(
            got,
            [
                (
                    "the loss returned is this rank's own, over its rows only: the whole "
                    "batch's is the mean of the ranks' losses (an all_reduce, then a "
                    "division by world_size)",
                    torch.tensor(own, dtype=torch.float64),
                ),
                (
                    "the loss returned is the sum of the ranks' losses: all_reduce sums, "
                    "the mean needs a division by world_size",
                    torch.tensor(want * WORLD, dtype=torch.float64),
                ),
            ],
        )
        # the mean of two float32 half-batch means against one float32 mean: ~1e-7
        check_close(
            got,
            torch.tensor(want, dtype=torch.float64),
            f"{where}: the loss it returned, against the whole batch's before the step",
            **F32_TOL,
            mistake=mistake,
        )

    def test_a_batch_that_does_not_split_evenly_raises_value_error(self):
        """7 rows for 2 ranks: the halves would weigh unequal shares equally, and the step
        would not be one process's step on the whole batch."""
        for rank, said in enumerate(run_ranks(_uneven_work)):
            if said:
                fail(
                    kata_call(
                        Shown("rank"),
                        WORLD,
                        Shown("DistributedDataParallel(net)"),
                        Shown("(x (7, 5) float32 cpu, y (7, 3) float32 cpu)"),
                        Shown("F.mse_loss"),
                        Shown(f"SGD(lr={LR}, momentum={MOMENTUM})"),
                    )
                    + f" on rank {rank} of a gloo group of {WORLD}",
                    f"{said} where ValueError was expected: 7 rows do not split into "
                    f"{WORLD} equal shares",
                )


WEIGHT_MISTAKES = {
    "own": "the gradients were not averaged across the ranks: each rank stepped on its own "
    "rows' gradient alone (a forward around the DDP wrapper, model.module(...), leaves "
    "DDP's averaging unarmed)",
    "halved": "the step came out world_size times too small: DDP's backward already averages "
    "the gradients, and they (or the loss) were divided by world_size once more",
    "doubled": "the step came out world_size times too large: the loss multiplied by "
    "world_size, or the gradients summed across the ranks without the division",
    "unclipped": "the gradients were not clipped: grad_clip > 0 asks for their total norm to "
    "be clipped to grad_clip after backward, before the step",
    "accumulated": "the gradients of the step before were added to this step's: clear them "
    "(optimizer.zero_grad()) before the backward",
    "before": "the weights did not move at this step: optimizer.step() before the backward "
    "(it steps on the gradients of the step before, or on none), or no step at all",
}
