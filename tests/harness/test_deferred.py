"""Modules that graded code never needs are deferred while it is graded (grader.deferred):
importing torchvision then costs no torch._dynamo, and its transforms and MNIST behave
exactly as they do when nothing is deferred; an upstream gradient costs no sympy, and
the two shape checks that need it answer as torch's own. (That grading Sprint 2 imports
no torch._dynamo is proven with the other sprints' imports, in test_cli.py.)"""

import subprocess
import sys

import torch

from grader.catalog import ROOT

# Runs the reference's transforms and MNIST loader on fixed inputs and saves the results.
SCENE = """
import sys, torch, numpy as np
from pathlib import Path
if sys.argv[1] == "deferred":
    from grader import deferred
    deferred.install()
import torchvision
from PIL import Image
from solutions.sprint2 import transforms as t
from tests.sprint2 import mnist_files
root = Path(sys.argv[2])
image = Image.fromarray((np.arange(784).reshape(28, 28) * 7 % 256).astype("uint8"))
torch.manual_seed(3)
out = {"eval": t.eval_transform()(image), "train": t.train_transform(25.0)(image)}
mnist_files.write_mnist(root / sys.argv[1])
data = t.load_mnist(root / sys.argv[1], train=True, transform=t.eval_transform())
out["mnist"] = torch.stack([data[i][0] for i in range(len(data))])
out["labels"] = torch.tensor([data[i][1] for i in range(len(data))])
out["dynamo"] = torch.tensor("torch._dynamo" in sys.modules)
torch.save(out, root / f"{sys.argv[1]}.pt")
"""


def scene(kind: str, tmp_path) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", SCENE, kind, str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return torch.load(tmp_path / f"{kind}.pt")


def test_transforms_and_mnist_behave_the_same_deferred_or_not(tmp_path):
    deferred, plain = scene("deferred", tmp_path), scene("plain", tmp_path)
    for key in ("eval", "train", "mnist", "labels"):
        assert torch.equal(deferred[key], plain[key]), key
    assert not deferred["dynamo"], "importing torchvision deferred must not load torch._dynamo"
    assert plain["dynamo"], "without deferring, torchvision loads torch._dynamo (else: drop this)"


def test_deferred_modules_load_on_first_use():
    code = (
        "import sys\n"
        "from grader import deferred\n"
        "deferred.install()\n"
        "import torchvision\n"
        "assert 'torch._dynamo' not in sys.modules\n"
        "assert callable(torchvision.ops.nms)\n"
        "from torchvision.models import resnet18\n"
        "from torchvision.ops import StochasticDepth\n"
        "print(type(resnet18()).__name__, StochasticDepth.__name__)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["ResNet", "StochasticDepth"]


SHAPE_CHECKS = """
import sys, importlib, torch
from grader import deferred
deferred.install((deferred.SYMBOLIC_SHAPES,))
x = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
upstream = torch.randn(3, 4, dtype=torch.float64)
(grad,) = torch.autograd.grad((x * x).sin(), [x], upstream)
assert torch.equal(grad, upstream * (x * x).cos() * 2 * x)
assert torch.autograd.gradcheck(lambda t: (t * t).sin(), (x,))
assert "sympy" not in sys.modules, "an upstream gradient pulled in sympy"
shapes = importlib.import_module(deferred.SYMBOLIC_SHAPES)
ours = shapes.sym_eq, shapes.expect_true
shapes.ShapeEnv  # any other name runs the module's own code
assert (shapes.sym_eq, shapes.expect_true) != ours, "torch's own functions were not loaded"

def answer(fn, *args):
    try:
        return repr(fn(*args))
    except Exception as exc:
        return type(exc).__name__

pairs = [((2, 3), (2, 3)), ((2, 3), (2, 4)), ((2,), (2, 3)), ([], ()), (torch.Size([1, 2]), [1, 2]),
         (3, 3), (3, 4), (True, 1), (2.0, 2), ((2, (3, 4)), (2, (3, 4))), ("a", "a")]
for x, y in pairs:
    assert answer(ours[0], x, y) == answer(shapes.sym_eq, x, y), (x, y)
for a in (True, False, 1, 0, None, torch.tensor(True)):
    assert answer(ours[1], a) == answer(shapes.expect_true, a), a
print("ok")
"""


def test_the_deferred_shape_checks_answer_as_torchs_own():
    proc = subprocess.run(
        [sys.executable, "-c", SHAPE_CHECKS], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split() == ["ok"]
