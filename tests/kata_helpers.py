"""What the graded tests (tests/sprintN/test_<module>.py) share.

- `kata_call`: the text of a call to the kata under test, the `where` that starts each
  failure message. It knows the kata from the running test's `@kata` mark and the module
  from the test file (tests/conftest.py tells it which test runs):

      @kata("split_heads")
      class TestSplitHeads:
          def test_not_divisible(self):
              x = seeded(2, 5, 10)
              where = kata_call(x, n_heads=3)
              # 'sprint1.tensors.split_heads(x (2, 5, 10) float32 cpu, n_heads=3)'

  `kata_call.then(".generate")(idx, 5)` names a method or a step after the kata's name
  ('sprint5.gpt.GPT.generate(...)'), and `kata_call.name` is the kata's id alone.
- `seeded` and `seeded_generator`: reproducible inputs.
- `error_of` and `check_count`: a call's exception, and a count that must be a Python int.
- The tolerances that more than one sprint uses, each with its reason. A kata whose
  numbers need a tolerance of their own keeps it next to its tests, with its reason.

What these build is what a learner reads, and the grader names a known mistake by
finding the very same message from the mistake's run: the text must not change from one
run to the next.
"""

from __future__ import annotations

import torch
from torch import Tensor

from grader.checks import call_text, describe, fail

# --- the kata under test ----------------------------------------------------------------

_current: list[str] = []  # the id of the kata whose test runs now (set by tests/conftest.py)


def enter_kata(kata_id: str | None) -> None:
    _current[:] = [kata_id] if kata_id else []


class KataCall:
    """`kata_call(*args, **kwargs)`: the call to the running test's kata, as text."""

    def __init__(self, suffix: str = ""):
        self._suffix = suffix

    @property
    def name(self) -> str:
        """sprint1.tensors.split_heads, for the test that runs now (plus any suffix)."""
        if not _current:
            raise RuntimeError(
                "kata_call is known only while a graded test runs (a test marked @kata in "
                "tests/sprintN/test_<module>.py)"
            )
        return _current[0] + self._suffix

    def __call__(self, /, *args, **kwargs) -> str:
        return call_text(self.name, args, kwargs)

    def then(self, text: str) -> KataCall:
        """The call of something named after the kata: then(".generate") for a method,
        then("('abc').encode") for a method of an instance built with those arguments."""
        return KataCall(self._suffix + text)


kata_call = KataCall()


# --- inputs -----------------------------------------------------------------------------


def seeded_generator(seed: int) -> torch.Generator:
    """A CPU generator seeded with `seed`: the tests draw from it, never from the global RNG."""
    return torch.Generator().manual_seed(seed)


def seeded(
    *shape: int,
    seed: int = 0,
    scale: float = 1.0,
    shift: float = 0.0,
    dtype: torch.dtype = torch.float32,
    drawn_in: torch.dtype | None = torch.float64,
) -> Tensor:
    """Standard normal entries, times `scale`, plus `shift`, as `dtype`.

    They are drawn in `drawn_in` (float64) and then rounded to `dtype`, so that a float32
    and a float64 tensor of one seed hold the same numbers. `drawn_in=None` draws in
    `dtype` itself: for float32 that gives other numbers (torch's float32 sampler takes
    another route), which the tests that were written against them keep.
    """
    x = torch.randn(
        shape, generator=seeded_generator(seed), dtype=dtype if drawn_in is None else drawn_in
    )
    if scale != 1.0:
        x = x * scale
    if shift != 0.0:
        x = x + shift
    return x.to(dtype)


# --- what more than one sprint checks alike ---------------------------------------------


def error_of(call) -> Exception | None:
    """The exception call() raises, or None when it returns (a stub's NotImplementedError
    goes on up, so that the test reports the kata not started)."""
    try:
        call()
    except NotImplementedError:
        raise
    except Exception as exc:
        return exc
    return None


def check_count(got, want: int, where: str, mistake: str = "") -> None:
    """`got` is the Python int `want` (a count of parameters or scalars); `mistake` names
    what gives the `got` that came back."""
    if isinstance(got, Tensor):
        fail(
            where,
            f"returned a Tensor ({describe(got)}), expected a Python int",
            "the sizes were added up as a tensor instead of as Python ints",
        )
    if not isinstance(got, int) or isinstance(got, bool):
        fail(where, f"returned {type(got).__name__} {got!r}, expected a Python int")
    if got != want:
        fail(where, f"got {got}, expected {want}", mistake)


# --- tolerances -------------------------------------------------------------------------
# Each must admit every correct route (tests/harness/test_variants.py passes the known
# alternatives) and still catch every known mistake (it fails them), with room to spare.

# float32 forward passes and gradients of the sizes these katas use (matmuls over ≤ 64
# terms of entries ~1, at most two blocks of 32 channels) against a float64 oracle, or
# against float32 by another route: ~1e-7 to ~1e-6 relative; 10x margin.
F32_TOL = {"rtol": 1e-5, "atol": 1e-5}

# float32 runs of a few to ~30 steps (training steps, optimizer updates) against a float64
# replay: ~6e-8 rounding a step on values of size ~1, a random walk of ~4e-7 over 30 steps,
# so 1e-5 relative with an absolute 1e-6 floor.
F32_STEPS_TOL = {"rtol": 1e-5, "atol": 1e-6}
