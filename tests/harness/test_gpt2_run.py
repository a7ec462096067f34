"""`nox -s train -- gpt2`: the README's way to run GPT-2's real weights in your own GPT,
tried on a tiny random GPT-2 and a byte-level tokenizer saved to a local folder, with the
hub switched off (the real 124M model needs internet access once, so it is not run here)."""

import contextlib
import io
import re

import pytest

from grader.catalog import ROOT
from tests.harness.conftest import run_in_process

transformers = pytest.importorskip("transformers")


def byte_symbols() -> dict[int, str]:
    """GPT-2's map from each byte to a printable character (its vocab.json's alphabet)."""
    printable = [*range(ord("!"), ord("~") + 1), *range(0xA1, 0xAD), *range(0xAE, 0x100)]
    chars = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in chars:
            chars[b] = chr(256 + extra)
            extra += 1
    return chars


def save_tiny_gpt2(folder, **config):
    """A tiny random GPT-2 and a byte-level tokenizer (the 256 bytes, no merges), saved in
    `folder` as save_pretrained saves; `config` adds to GPT2Config's arguments."""
    import torch

    vocab = {s: b for b, s in byte_symbols().items()}
    tokenizer = transformers.GPT2TokenizerFast(vocab=vocab, merges=[])
    config = transformers.GPT2Config(
        n_layer=2, n_head=2, n_embd=32, n_positions=64, vocab_size=256, bos_token_id=0,
        eos_token_id=0, **config,
    )  # fmt: skip
    torch.manual_seed(0)
    model = transformers.GPT2LMHeadModel(config)
    with torch.no_grad():  # GPT-2's zero biases and unit LayerNorms would hide a mix-up
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def tiny_gpt2(tmp_path_factory):
    return save_tiny_gpt2(tmp_path_factory.mktemp("tiny-gpt2"))


def test_generates_with_the_weights_and_matches_their_logits(tiny_gpt2):
    out = run_in_process(
        "gpt2", f"--weights={tiny_gpt2}", "--prompt=To be, or not", "--tokens=8", "--samples=2"
    )
    diff = float(re.search(r"max \|diff\| (\S+)", out).group(1))
    assert diff < 1e-4, out
    samples = out.split("---\n")[1:]
    assert len(samples) == 2 and all(s.startswith("To be, or not") for s in samples)


def test_weights_that_cannot_be_loaded_are_explained(tmp_path):
    """A folder without a saved model: the run stops with what to do (the CLI turns
    NotReady into exit status 3, as tests/harness/test_runs.py checks)."""
    from runs.common import NotReady

    with pytest.raises(NotReady, match="could not load GPT-2 weights"):
        run_in_process("gpt2", f"--weights={tmp_path}")


def test_the_readme_snippet_runs(tiny_gpt2):
    """The README's snippet, as a learner pastes it into Python (here in this process,
    where transformers is imported already), on the tiny GPT-2."""
    readme = (ROOT / "README.md").read_text()
    (snippet,) = [c for c in readme.split("```python\n")[1:] if "load_gpt2_weights" in c]
    code = snippet.split("```")[0]
    shape = "block_size=1024, vocab_size=50257, n_layer=12, n_head=12, n_embd=768"
    assert shape in code and code.count('"gpt2"') == 2
    code = code.replace(shape, "block_size=64, vocab_size=256, n_layer=2, n_head=2, n_embd=32")
    code = code.replace('"gpt2"', repr(str(tiny_gpt2))).replace("exercises.", "solutions.")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md", "exec"), {"__name__": "__main__"})
    assert out.getvalue().startswith("To be, or not to be"), out.getvalue()


def test_sprint5s_cached_tiny_gpt2_is_what_transformers_builds():
    """The graded load_gpt2_weights test reads its tiny GPT-2 from out/cache/ after the
    first build; what it reads must be what transformers builds now."""
    import torch

    from tests.sprint5.test_gpt import TinyGPT2

    cached, built = TinyGPT2.cached(), TinyGPT2.build()
    assert cached.state_dict().keys() == built.state_dict().keys()
    for k, v in built.state_dict().items():
        assert torch.equal(cached.state_dict()[k], v), k
    for name in ("same_logits", "short"):  # the last bits depend on the thread count
        torch.testing.assert_close(cached.logits(name), built.logits(name), rtol=1e-5, atol=1e-5)
