"""What a failure message says about its cause: a known mistake only when it explains this
very failure, the kata a failure comes from when it is another one, and NaN as NaN.

The graded ones plant a bug in a copy of the reference (see conftest.Planted).
"""

import pytest
import torch

from grader.checks import check_close
from tests.harness.conftest import statuses

LAYERNORM_VAR = "var = (xc * xc).mean(dim=-1, keepdim=True)  # (…, 1) biased"


def message(report, kata):
    return next(k["message"] for k in report["katas"] if k["id"] == kata)


def test_a_kata_blocked_by_an_unfinished_one_is_told_so_and_no_mistake_is_named(planted):
    path = planted.path("sprint3.training")
    text = path.read_text()
    start = text.index("def clip_grad_norm(")
    body = text.index('    """', start)
    end = text.index('"""', body + 7) + 3
    stubbed = '\n    raise NotImplementedError("sprint3.training.clip_grad_norm")\n'
    rest = text.index("\ndef ", end)
    path.write_text(text[:end] + stubbed + text[rest:])
    report = planted.grade("sprint5.train_gpt.train")
    kata = "sprint5.train_gpt.train"
    assert statuses(report)[kata] == "error"
    said = message(report, kata)
    assert "needs sprint3.training.clip_grad_norm" in said
    assert "known mistake" not in said, said


def test_a_failure_that_comes_from_a_kata_it_builds_on_is_not_blamed_on_a_mistake(planted):
    planted.replace("sprint4.layers", LAYERNORM_VAR, "var = x.var(-1, keepdim=True)")
    report = planted.grade("sprint5.gpt.GPT")
    said = message(report, "sprint5.gpt.GPT")
    assert statuses(report)["sprint5.gpt.GPT"] == "failed"
    assert "known mistake gives" not in said, said
    assert "A correct GPT fails this test the same way here" in said


def test_a_named_mistake_replaces_the_generic_common_cause(planted):
    planted.replace(
        "sprint1.tensors",
        "return x.view(B, T, n_heads, C // n_heads).transpose(1, 2)  # (B, nh, T, hs)",
        "return x.view(B, n_heads, T, C // n_heads)",
    )
    said = message(planted.grade("sprint1.tensors.split_heads"), "sprint1.tensors.split_heads")
    assert "This is exactly what a known mistake gives" in said
    assert "A common cause" not in said, "the named mistake says it better; nothing contradicts it"


@pytest.mark.parametrize(("bad", "name"), [(float("nan"), "NaN"), (float("inf"), "inf")])
def test_nan_and_inf_are_reported_as_such(bad, name):
    want = torch.tensor([1.0, 2.0, 3.0])
    got = torch.tensor([1.0, bad, 3.0])
    with pytest.raises(AssertionError) as exc:
        check_close(got, want, "kata(x)")
    text = str(exc.value)
    assert f"1 {name} where a number was expected" in text
    assert "max |diff| 0" not in text and f"is {bad}" in text


def test_finite_differences_still_give_the_largest_one():
    with pytest.raises(AssertionError) as exc:
        check_close(torch.tensor([1.0, float("nan"), 5.0]), torch.tensor([1.0, 2.0, 3.0]), "k(x)")
    assert "max |diff| 2 among the finite ones" in str(exc.value)
