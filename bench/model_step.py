"""phi_lab's Phi against transformers' PhiForCausalLM on this machine, same weights, inputs and threads.

1. forward + backward tokens/s (training-shaped step, no optimizer);
2. generation tokens/s with the KV cache (greedy, fixed length) against `PhiForCausalLM.generate`.

Runs alternate between the two implementations and the median of the repeats is reported, so load
from other processes hits both alike. Prints one line per measurement and the ratios.

    .venv/bin/python bench/model_step.py                      # micro shape, CPU
    .venv/bin/python bench/model_step.py --preset phi-1-small --device cuda --dtype bfloat16
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import torch
from transformers import PhiForCausalLM

from phi_lab.model.generation import generate
from phi_lab.model.hf_format import save_pretrained
from phi_lab.model.phi import Phi, PhiConfig


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _time(fn, device: str) -> float:
    _sync(device)
    t = time.perf_counter()
    fn()
    _sync(device)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="micro")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--gen-batch", type=int, default=4)
    ap.add_argument("--prompt-len", type=int, default=32)
    ap.add_argument("--new-tokens", type=int, default=64)
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    dtype = getattr(torch, args.dtype)

    cfg = PhiConfig.from_preset(args.preset)
    torch.manual_seed(0)
    ours = Phi(cfg)
    with tempfile.TemporaryDirectory() as d:  # identical weights in both implementations
        save_pretrained(ours, d)
        theirs = PhiForCausalLM.from_pretrained(d, attn_implementation="sdpa")
    ours = ours.to(args.device, dtype).train()
    theirs = theirs.to(args.device, dtype).train()
    print(
        f"preset={args.preset} params={ours.num_parameters():,} device={args.device} dtype={args.dtype} "
        f"threads={args.threads} torch={torch.__version__}"
    )

    x = torch.randint(0, cfg.vocab_size, (args.batch, args.seq), device=args.device)

    def step_ours():
        ours.zero_grad(set_to_none=True)
        logits = ours(x)
        torch.nn.functional.cross_entropy(logits[:, :-1].flatten(0, 1).float(), x[:, 1:].flatten()).backward()

    def step_theirs():
        theirs.zero_grad(set_to_none=True)
        logits = theirs(input_ids=x).logits
        torch.nn.functional.cross_entropy(logits[:, :-1].flatten(0, 1).float(), x[:, 1:].flatten()).backward()

    for fn in (step_ours, step_theirs):  # warm-up
        fn()
    t_ours, t_theirs = [], []
    for _ in range(args.repeats):
        t_ours.append(_time(step_ours, args.device))
        t_theirs.append(_time(step_theirs, args.device))
    tok = args.batch * args.seq
    fb_ours, fb_theirs = tok / statistics.median(t_ours), tok / statistics.median(t_theirs)
    print(
        f"forward+backward  phi_lab {fb_ours:10.0f} tok/s   transformers {fb_theirs:10.0f} tok/s   ratio {fb_ours / fb_theirs:.2f}x"
    )

    ours.eval()
    theirs.eval()
    prompts = torch.randint(0, cfg.vocab_size, (args.gen_batch, args.prompt_len), device=args.device)
    n_new = args.new_tokens

    def gen_ours():
        out = generate(ours, prompts.tolist(), max_new_tokens=n_new)
        assert all(len(r) == n_new for r in out)

    def gen_theirs():
        with torch.no_grad():
            out = theirs.generate(
                prompts,
                attention_mask=torch.ones_like(prompts),
                max_new_tokens=n_new,
                min_new_tokens=n_new,
                do_sample=False,
                pad_token_id=0,
            )
        assert out.shape[1] == args.prompt_len + n_new

    for fn in (gen_ours, gen_theirs):
        fn()
    g_ours, g_theirs = [], []
    for _ in range(args.repeats):
        g_ours.append(_time(gen_ours, args.device))
        g_theirs.append(_time(gen_theirs, args.device))
    new = args.gen_batch * n_new
    gen_o, gen_t = new / statistics.median(g_ours), new / statistics.median(g_theirs)
    print(
        f"generate (cached) phi_lab {gen_o:10.0f} tok/s   transformers {gen_t:10.0f} tok/s   ratio {gen_o / gen_t:.2f}x"
    )

    # Same greedy tokens from both (fp32): the speed is not bought with different results.
    if args.dtype == "float32":
        same = generate(ours, prompts.tolist(), max_new_tokens=16)
        with torch.no_grad():
            ref = theirs.generate(
                prompts,
                attention_mask=torch.ones_like(prompts),
                max_new_tokens=16,
                min_new_tokens=16,
                do_sample=False,
                pad_token_id=0,
            )[:, args.prompt_len :]
        print(f"greedy tokens identical: {same == ref.tolist()}")


if __name__ == "__main__":
    main()
