"""Training throughput: full optimizer steps of phi_lab's Phi vs transformers' PhiForCausalLM.

Both models get the same config (`config_to_hf`), the same weights, the same batch, the
same AdamW and loss, and the same threads; a step is forward + backward + AdamW step + zero_grad.
Rounds of the two are interleaved and the median round counts, so load from other processes on a
shared machine hits both alike. On a GPU it also reports MFU (peak FLOP/s from
phi_lab.training.metrics) and can use bf16 autocast and torch.compile.

    python bench/train_throughput.py --preset micro --seq-len 256 --batch 8 --steps 5 --rounds 3
    python bench/train_throughput.py --preset phi-1-small --seq-len 2048 --batch 8 --device cuda \
        --precision bf16 --impl phi_lab                                        # GPU: tokens/s and MFU
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
import torch.nn.functional as F

from phi_lab.model.hf_format import config_to_hf, hf_state_dict
from phi_lab.model.phi import Phi, PhiConfig, estimate_flops_per_token
from phi_lab.training.metrics import peak_flops

AMP = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def build(impl: str, cfg: PhiConfig, reference: Phi, device: torch.device) -> torch.nn.Module:
    if impl == "phi_lab":
        return reference.to(device)
    from transformers import PhiConfig as HFPhiConfig
    from transformers import PhiForCausalLM

    hf_cfg = HFPhiConfig(
        **{k: v for k, v in config_to_hf(cfg).items() if k not in ("architectures", "model_type")}
    )
    hf_cfg._attn_implementation = "sdpa"
    model = PhiForCausalLM(hf_cfg)
    model.load_state_dict(hf_state_dict(reference))  # identical weights
    return model.to(device)


def make_step(impl: str, model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, precision: str):
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.1, fused=x.device.type == "cuda")
    dtype = AMP[precision]

    def step() -> float:
        with torch.autocast(x.device.type, dtype=dtype, enabled=dtype is not None):
            out = model(x)
            logits = out if impl == "phi_lab" else out.logits
        loss = F.cross_entropy(logits.float().flatten(0, 1), y.flatten())
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return float(loss.detach())

    return step


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="micro")
    ap.add_argument("--seq-len", type=int, default=256)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--steps", type=int, default=5, help="timed steps per round")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds per implementation")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--precision", choices=list(AMP), default="fp32")
    ap.add_argument("--impl", choices=["both", "phi_lab", "hf"], default="both")
    ap.add_argument("--compile", action="store_true")
    ap.add_argument("--gradient-checkpointing", action="store_true")
    args = ap.parse_args()

    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    cfg = PhiConfig.from_preset(
        args.preset, max_seq_len=max(args.seq_len, PhiConfig.from_preset(args.preset).max_seq_len)
    )
    torch.manual_seed(0)
    reference = Phi(cfg)
    reference.gradient_checkpointing = args.gradient_checkpointing
    impls = ["phi_lab", "hf"] if args.impl == "both" else [args.impl]
    g = torch.Generator().manual_seed(1)
    batch = torch.randint(0, cfg.vocab_size, (args.batch, args.seq_len + 1), generator=g).to(device)
    x, y = batch[:, :-1], batch[:, 1:]
    models = {impl: build(impl, cfg, reference, device) for impl in impls}  # all built from the same weights
    steps = {}
    for impl, model in models.items():
        if impl == "hf" and args.gradient_checkpointing:
            model.gradient_checkpointing_enable()
        model.train()
        if args.compile:
            model = torch.compile(model)
        steps[impl] = make_step(impl, model, x, y, args.precision)
        for _ in range(args.warmup):
            steps[impl]()

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    tokens = args.batch * args.seq_len * args.steps
    rates: dict[str, list[float]] = {impl: [] for impl in impls}
    for _ in range(args.rounds):
        for impl in impls:
            sync()
            t0 = time.perf_counter()
            for _ in range(args.steps):
                steps[impl]()
            sync()
            rates[impl].append(tokens / (time.perf_counter() - t0))

    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    peak = peak_flops(name, args.precision)
    fpt = estimate_flops_per_token(cfg, args.seq_len)
    result = {
        "preset": args.preset,
        "seq_len": args.seq_len,
        "batch": args.batch,
        "device": name,
        "precision": args.precision,
        "threads": torch.get_num_threads(),
        "compile": args.compile,
        "params": reference.num_parameters(),
        "steps_per_round": args.steps,
        "rounds": args.rounds,
    }
    for impl in impls:
        tps = statistics.median(rates[impl])
        result[f"{impl}_tokens_per_s"] = round(tps, 1)
        result[f"{impl}_best_tokens_per_s"] = round(max(rates[impl]), 1)  # the least-disturbed round
        result[f"{impl}_rounds"] = [round(r, 1) for r in rates[impl]]
        if peak:
            result[f"{impl}_mfu"] = round(tps * fpt / peak, 4)
    print(json.dumps(result))
    for impl in impls:
        mfu = f", MFU {result[impl + '_mfu']:.1%}" if peak else ""
        print(
            f"{impl:>8}: {result[impl + '_tokens_per_s']:,.0f} tokens/s median, "
            f"{result[impl + '_best_tokens_per_s']:,.0f} best (full AdamW steps){mfu}"
        )
    if len(impls) == 2:
        med = result["phi_lab_tokens_per_s"] / result["hf_tokens_per_s"]
        best = result["phi_lab_best_tokens_per_s"] / result["hf_best_tokens_per_s"]
        print(f"ratio phi_lab / transformers: {med:.2f}x (median rounds), {best:.2f}x (best rounds)")


if __name__ == "__main__":
    main()
