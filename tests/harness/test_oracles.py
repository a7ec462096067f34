"""The graded optimizer tests compare with an oracle written out from torch's algorithm
(tests/sprint3/optim_oracle.py); here torch.optim itself vouches for it on every case."""

import pytest
import torch

from tests.sprint3 import test_optimizers as graded

CASES = {f"SGD.{k}": c for k, c in graded.SGD_CASES.items()}
CASES.update({f"AdamW.{k}": c for k, c in graded.ADAMW_CASES.items()})


@pytest.mark.parametrize("key", list(CASES))
def test_oracle_follows_torch_optim(key):
    case = CASES[key]
    torch_optim = {"SGD": torch.optim.SGD, "AdamW": torch.optim.AdamW}
    want = graded.run_torch(case, torch_optim)
    got = graded.run_torch(case)
    assert torch.equal(got, want), (
        f"{key}: the oracle leaves torch.optim by {(got - want).abs().max().item():.3g}"
    )
