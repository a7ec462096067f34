"""Your GPT with OpenAI's GPT-2 weights: load them with your load_gpt2_weights, check the
logits against Hugging Face's model, and generate text.

`--weights` is anything `transformers` can load: a hub name (`gpt2` is the 124M model;
`gpt2-medium`, `gpt2-large`, `gpt2-xl` also work) or a local folder saved with
`save_pretrained`. A hub name needs internet access the first time: transformers
downloads the weights (about 500 MB for `gpt2`) into its cache (~/.cache/huggingface)
and reads them from there afterwards. Nothing else in torch-katas downloads anything.
"""

from __future__ import annotations

import torch

from runs.common import GPT_KATAS, NotReady, require

NEEDS = [*GPT_KATAS, "sprint5.gpt.load_gpt2_weights"]


def add_arguments(parser) -> None:
    parser.add_argument("--weights", default="gpt2", help="hub name or local folder (gpt2)")
    parser.add_argument("--prompt", default="Hello, I'm a language model,")
    parser.add_argument("--tokens", type=int, default=40, help="new tokens per sample")
    parser.add_argument("--samples", type=int, default=3)
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--top-k", type=int, default=50)
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")


def own_gpt2(gpt_module, hf_model, device: str = "cpu"):
    """The target's GPT, shaped as hf_model's config, holding hf_model's weights."""
    c = hf_model.config
    config = gpt_module.GPTConfig(
        block_size=c.n_positions,
        vocab_size=c.vocab_size,
        n_layer=c.n_layer,
        n_head=c.n_head,
        n_embd=c.n_embd,
        dropout=0.0,
        bias=True,
    )
    model = gpt_module.GPT(config)
    gpt_module.load_gpt2_weights(model, hf_model.state_dict())
    return model.to(device).eval()


def main(args, target_name: str) -> int:
    require(NEEDS, target_name)
    from grader.target import load

    try:
        from transformers import AutoTokenizer, GPT2LMHeadModel
    except ImportError:
        raise NotReady("this run needs transformers: pip install 'transformers>=4.40'") from None
    try:
        hf = GPT2LMHeadModel.from_pretrained(args.weights).eval()
        tokenizer = AutoTokenizer.from_pretrained(args.weights)
    except OSError as exc:
        raise NotReady(
            f"could not load GPT-2 weights {args.weights!r}: {exc}\nA hub name needs "
            "internet access the first time; a folder must hold a save_pretrained model."
        ) from None
    try:
        model = own_gpt2(load("sprint5.gpt"), hf, args.device)
    except NotImplementedError as exc:
        raise NotReady(f"the run reached a kata that is still a stub: {exc}") from None
    print(f"{args.weights}: {model.num_params(False) / 1e6:.1f} M parameters in your GPT")

    ids = tokenizer.encode(args.prompt)
    idx = torch.tensor([ids], dtype=torch.int64, device=args.device)
    with torch.no_grad():
        mine, _ = model(idx)
        theirs = hf.to(args.device)(idx).logits
    diff = (mine - theirs).abs().max().item()
    print(f"logits on the prompt ({len(ids)} tokens) vs transformers: max |diff| {diff:.2e}")

    g = torch.Generator(device=args.device).manual_seed(args.seed)
    batch = idx.repeat(args.samples, 1)
    out = model.generate(batch, args.tokens, args.temperature, args.top_k, generator=g)
    for row in out.tolist():
        print("---")
        print(tokenizer.decode(row))
    return 0
