"""The capstone in several processes, data-parallel with the target's own sprint7
`ddp_train_step`: `nox -s train -- gpt --nproc 2`, or `torchrun --nproc_per_node=8 -m runs
gpt ...` for several GPUs or machines.

Every rank builds the same GPT (the run's seed; DistributedDataParallel, which wraps it,
copies rank 0's weights to the others all the same). At each step every rank draws the
same batch of batch_size windows with the run's generator, seeded alike on every rank, and
ddp_train_step trains each rank on its own batch_size / world_size rows of it while DDP
averages the gradients in backward: each rank sees other rows, and the step is the step
of one process on the whole batch. The ranks also evaluate alike (the same batches, each
on its own core or GPU, at no cost in time), which keeps their generators in step: so
`--nproc N` trains the very model that `--nproc 1` trains, to float rounding, N times
faster at best. Rank 0 alone logs, saves the checkpoint (the plain model's state_dict:
`--resume` works with any number of processes), draws the curve and samples.

Two ways in, one path:
* `--nproc N`: this process starts N ranks with torch.multiprocessing (fork on a Linux
  CPU, spawn elsewhere) and gives each the environment torchrun would: RANK, WORLD_SIZE,
  LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR=127.0.0.1 and a free MASTER_PORT;
* under torchrun, which sets that environment itself, each worker runs `rank_main`.
gloo on CPU; nccl on CUDA, each rank on cuda:LOCAL_RANK.

Ctrl-C with `--nproc`: every rank finishes the step, they agree to stop (a MAX all-reduce
of a flag each step, so that no rank waits in a collective the others left) and rank 0
saves. Under torchrun, Ctrl-C stops the ranks at once; `--resume` goes on from the last
evaluation's checkpoint.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import time

import torch
from tqdm import tqdm

from grader.target import load
from runs import gpt
from runs.common import NotReady, out_dir, require, use_target

NEEDS = [*gpt.NEEDS, "sprint7.ddp.ddp_train_step"]
ENVIRONMENT = ("RANK", "WORLD_SIZE", "LOCAL_RANK")  # what torchrun gives each worker


def under_torchrun() -> bool:
    """Whether this process is one rank of a group that torchrun (or --nproc) started."""
    return all(name in os.environ for name in ENVIRONMENT)


def main(args, target_name: str) -> int:
    if under_torchrun():  # every rank meets the same NotReady: rank 0 says it
        try:
            require(NEEDS, target_name)
            return rank_main(args, target_name)
        except NotReady:
            if os.environ["RANK"] == "0":
                raise
            return 3
    require(NEEDS, target_name)
    if args.nproc < 1:
        raise NotReady(f"--nproc {args.nproc}: give one process or more")
    if not args.resume and args.batch_size % args.nproc:
        raise NotReady(
            f"--batch-size {args.batch_size} does not split into {args.nproc} equal shares: "
            "give a multiple of --nproc"
        )
    return launch(args, target_name)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(args, target_name: str) -> int:
    """Start args.nproc ranks of this run in processes of this machine and wait for them:
    rank 0's exit code, or the first failing rank's."""
    import torch.multiprocessing as mp

    n = args.nproc
    fork = sys.platform == "linux" and not args.device.startswith("cuda")
    method = "fork" if fork else "spawn"
    if fork:  # DDP's constructor and AdamW's step import torch._dynamo (~3 s, 900 modules):
        import torch._dynamo  # noqa: F401  once here, and the forked ranks have it
    code = mp.get_context(method).Value("i", 0)  # rank 0's return code
    port = _free_port()
    sys.stdout.flush()  # a forked rank would print this process's buffer again
    sys.stderr.flush()
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the ranks' to handle
    try:
        ranks = mp.start_processes(
            _rank_entry,
            args=(n, port, args, target_name, code),
            nprocs=n,
            join=False,
            start_method=method,
        )
        while not ranks.join():
            pass
    except mp.ProcessExitedException as exc:  # a rank that said why and exited with a code
        return exc.exit_code if exc.exit_code and exc.exit_code > 0 else 1
    except mp.ProcessRaisedException as exc:  # its traceback, which the rank printed too
        print(f"a rank failed:\n{exc}", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGINT, previous)
    return code.value


def _rank_entry(rank: int, world: int, port: int, args, target_name: str, code) -> None:
    """One rank started by `launch`: torchrun's environment, then `rank_main`."""
    os.environ.update(
        RANK=str(rank),
        WORLD_SIZE=str(world),
        LOCAL_RANK=str(rank),
        LOCAL_WORLD_SIZE=str(world),
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
    )
    try:
        result = rank_main(args, target_name)
    except NotReady as exc:  # every rank meets it: rank 0 says it and exits with 3 (a
        if rank == 0:  # failing exit makes `launch` stop the others, which may not have
            print(exc, file=sys.stderr)  # said it yet)
            sys.exit(3)
        return
    if rank == 0:
        code.value = result


def rank_main(args, target_name: str) -> int:
    """This process's part of the run, as rank RANK of WORLD_SIZE (torchrun's environment):
    join the group, train, leave it."""
    import torch.distributed as dist

    use_target(target_name)
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local = int(os.environ.get("LOCAL_RANK", rank))
    on_node = int(os.environ.get("LOCAL_WORLD_SIZE", world))
    cuda = args.device.startswith("cuda")
    device = f"cuda:{local}" if cuda else args.device
    if cuda:
        torch.cuda.set_device(local)
    elif not args.threads:  # the cores shared out: more threads would fight over them
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // on_node))
    dist.init_process_group("nccl" if cuda else "gloo")
    try:
        return _train(args, target_name, rank, world, local, device)
    except NotImplementedError as exc:  # a stub that the katas above call
        raise NotReady(
            f"the run reached a kata that is still a stub: {exc}\nGrade it with "
            f"`nox -s grade -- {exc}` until it passes, or add `--target solutions`."
        ) from None
    finally:
        dist.destroy_process_group()


def _train(args, target_name: str, rank: int, world: int, local: int, device: str) -> int:
    import torch.distributed as dist
    import torch.nn.functional as F
    from torch.nn.parallel import DistributedDataParallel

    mods = gpt.target_modules()
    ddp_train_step = load("sprint7.ddp").ddp_train_step
    get_batch, estimate_loss = mods["train_gpt"].get_batch, mods["train_gpt"].estimate_loss
    cosine_lr = load("sprint3.training").cosine_lr
    folder = out_dir("gpt", args.out)
    ckpt = folder / "ckpt.pt"
    lead = rank == 0

    if local != 0:  # a node's rank 0 reads (the first time, fetches) the corpus first
        dist.barrier()
    run, train_data, val_data = gpt.prepare(
        args, mods, ckpt, device, say=print if lead else lambda _: None
    )
    if local == 0:
        dist.barrier()
    s = run.s
    if s["batch_size"] % world:
        raise NotReady(
            f"the batch of {s['batch_size']} does not split into {world} equal shares: "
            "give a batch size that is a multiple of the number of processes"
        )
    model = DistributedDataParallel(
        run.model, device_ids=[local] if device.startswith("cuda") else None
    )
    backend = dist.get_backend()
    tokens_per_step = s["batch_size"] * s["block_size"]
    if lead:
        print(
            gpt.header(
                run,
                train_data,
                val_data,
                target_name,
                args.device,
                f" in each of {world} processes ({backend}), {s['batch_size'] // world} rows "
                "of every batch each",
            )
        )

    def loss_fn(outputs, targets):
        logits, _ = outputs  # GPT(idx) → (logits (B, T, V), None)
        return F.cross_entropy(logits.flatten(0, 1), targets.flatten())

    splits = {"train": train_data, "val": val_data}
    bar = tqdm(
        total=s["max_iters"],
        initial=run.iter,
        desc="training",
        unit="step",
        disable=args.quiet or not lead,
    )
    stop = torch.zeros(1, device=device)
    base, started, in_hooks = run.train_seconds, time.perf_counter(), 0.0
    run.model.train()
    with gpt._StopBetweenSteps() as ctrl_c:
        for it in range(run.iter, s["max_iters"]):
            lr = cosine_lr(it, s["warmup_iters"], s["max_iters"], s["learning_rate"], s["min_lr"])
            for group in run.optimizer.param_groups:
                group["lr"] = lr
            batch = get_batch(train_data, s["block_size"], s["batch_size"], run.generator)
            loss = ddp_train_step(
                rank, world, model, batch, loss_fn, run.optimizer, grad_clip=s["grad_clip"]
            )
            run.iter = it + 1
            if run.iter % s["eval_interval"] == 0 or run.iter == s["max_iters"]:
                losses = estimate_loss(
                    run.model,
                    splits,
                    s["block_size"],
                    s["batch_size"],
                    s["eval_iters"],
                    run.generator,
                )
                entry = {
                    "iter": run.iter,
                    "train_loss": losses["train"],
                    "val_loss": losses["val"],
                    "lr": lr,
                }
                run.history.append(entry)
                now = time.perf_counter()
                run.train_seconds = base + now - started - in_hooks
                if lead:
                    run.save(ckpt)
                    rate = run.iter * tokens_per_step / max(run.train_seconds, 1e-9)
                    tqdm.write(
                        f"step {run.iter:5d}  train {entry['train_loss']:.4f}  "
                        f"val {entry['val_loss']:.4f}  lr {lr:.2e}  {rate:,.0f} tokens/s"
                    )
                in_hooks += time.perf_counter() - now
            bar.update(1)
            bar.set_postfix(loss=f"{loss:.4f}", refresh=False)
            stop.fill_(float(ctrl_c.asked))
            dist.all_reduce(stop, op=dist.ReduceOp.MAX)  # every rank stops after the same step
            if stop.item():
                break
    run.train_seconds = base + time.perf_counter() - started - in_hooks
    bar.close()
    if not lead:
        return 0
    if run.iter < s["max_iters"]:
        run.save(ckpt)
        print(
            f"\nstopped after step {run.iter}, saved to {ckpt}: go on with --resume "
            "(the same run, step for step)"
        )
        return 130
    gpt.report(run, args, folder, ckpt, target_name)
    return 0
