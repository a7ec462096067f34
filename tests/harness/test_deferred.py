"""Modules that graded code never needs are deferred while it is graded (grader.deferred):
importing torchvision then costs no torch._dynamo, and its transforms and MNIST behave
exactly as they do when nothing is deferred; an upstream gradient costs no sympy, and
the two shape checks that need it answer as torch's own. (That grading Sprint 2 imports
no torch._dynamo is proven with the other sprints' imports, in test_cli.py.)"""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from grader.catalog import ROOT

# In a fresh interpreter, deferred as grading defers (KIND "deferred") or not ("plain"):
# the reference's transforms and MNIST loader on fixed inputs, saved for comparison; then,
# deferred only, the shape checks against torch's own, and the first use of the deferred
# modules. Prints each part's outcome: "ok" or its traceback.
RUN = """
import importlib, json, sys, traceback
from pathlib import Path
import numpy as np
import torch
kind, root = sys.argv[1], Path(sys.argv[2])
if kind == "deferred":
    from grader import deferred
    deferred.install((*deferred.DEFERRED, deferred.SYMBOLIC_SHAPES))
done = {}

def part(fn):
    try:
        fn()
        done[fn.__name__] = "ok"
    except BaseException:
        done[fn.__name__] = traceback.format_exc()

@part
def scene():
    import torchvision
    from PIL import Image
    from solutions.sprint2 import transforms as t
    from tests.sprint2 import mnist_files
    image = Image.fromarray((np.arange(784).reshape(28, 28) * 7 % 256).astype("uint8"))
    torch.manual_seed(3)
    out = {"eval": t.eval_transform()(image), "train": t.train_transform(25.0)(image)}
    mnist_files.write_mnist(root / kind)
    data = t.load_mnist(root / kind, train=True, transform=t.eval_transform())
    out["mnist"] = torch.stack([data[i][0] for i in range(len(data))])
    out["labels"] = torch.tensor([data[i][1] for i in range(len(data))])
    out["dynamo"] = torch.tensor("torch._dynamo" in sys.modules)
    torch.save(out, root / f"{kind}.pt")

if kind == "deferred":
    @part
    def shape_checks():
        x = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
        upstream = torch.randn(3, 4, dtype=torch.float64)
        (grad,) = torch.autograd.grad((x * x).sin(), [x], upstream)
        assert torch.equal(grad, upstream * (x * x).cos() * 2 * x)
        assert torch.autograd.gradcheck(lambda t: (t * t).sin(), (x,))
        assert "sympy" not in sys.modules, "an upstream gradient pulled in sympy"
        shapes = importlib.import_module(deferred.SYMBOLIC_SHAPES)
        ours = shapes.sym_eq, shapes.expect_true
        shapes.ShapeEnv  # any other name runs the module's own code
        assert (shapes.sym_eq, shapes.expect_true) != ours, "torch's own were not loaded"

        def answer(fn, *args):
            try:
                return repr(fn(*args))
            except Exception as exc:
                return type(exc).__name__

        pairs = [((2, 3), (2, 3)), ((2, 3), (2, 4)), ((2,), (2, 3)), ([], ()),
                 (torch.Size([1, 2]), [1, 2]), (3, 3), (3, 4), (True, 1), (2.0, 2),
                 ((2, (3, 4)), (2, (3, 4))), ("a", "a")]
        for x, y in pairs:
            assert answer(ours[0], x, y) == answer(shapes.sym_eq, x, y), (x, y)
        for a in (True, False, 1, 0, None, torch.tensor(True)):
            assert answer(ours[1], a) == answer(shapes.expect_true, a), a

    @part
    def first_use():
        import torchvision
        assert callable(torchvision.ops.nms)
        from torchvision.models import resnet18
        from torchvision.ops import StochasticDepth
        assert (type(resnet18()).__name__, StochasticDepth.__name__) == (
            "ResNet", "StochasticDepth")

print(json.dumps(done))
"""


def run(kind: str, folder) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", RUN, kind, str(folder)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def deferred_run(tmp_path_factory) -> tuple[dict, Path]:
    """The deferred interpreter's parts, run once for the tests below (one torch import)."""
    folder = tmp_path_factory.mktemp("deferred")
    return run("deferred", folder), folder


def test_transforms_and_mnist_behave_the_same_deferred_or_not(deferred_run, tmp_path):
    done, folder = deferred_run
    assert done["scene"] == "ok", done["scene"]
    assert run("plain", tmp_path) == {"scene": "ok"}
    deferred, plain = torch.load(folder / "deferred.pt"), torch.load(tmp_path / "plain.pt")
    for key in ("eval", "train", "mnist", "labels"):
        assert torch.equal(deferred[key], plain[key]), key
    assert not deferred["dynamo"], "importing torchvision deferred must not load torch._dynamo"
    assert plain["dynamo"], "without deferring, torchvision loads torch._dynamo (else: drop this)"


def test_the_deferred_shape_checks_answer_as_torchs_own(deferred_run):
    done, _ = deferred_run
    assert done["shape_checks"] == "ok", done["shape_checks"]


def test_deferred_modules_load_on_first_use(deferred_run):
    done, _ = deferred_run
    assert done["first_use"] == "ok", done["first_use"]
