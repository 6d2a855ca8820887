"""flash-attn vs SDPA: Phi's logits and gradients through the two attention branches, on CUDA.

For each preset, one random-weight model (seeded) and one random batch run three ways: the SDPA
branch in float32 (the reference), the SDPA branch in half precision and the flash-attn branch in
half precision. Flash passes when its error against the float32 reference is no worse than
`--slack` times SDPA's own half-precision error (plus `--atol`): both kernels round the same
inputs, so a layout, rotary or scaling bug shows up as an error far above SDPA's. Two modes:
  weights   model weights cast to the half dtype, eval mode, logits (how generation runs)
  autocast  float32 weights under torch.autocast, train mode (dropout 0), logits, loss and every
            gradient (how `phi-lab train --precision bf16/fp16` runs)
The flash branch must have been taken in every layer (calls are counted). Exit code 0: all pass;
1: a check failed; 2: no CUDA or no flash_attn.

    python bench/flash_parity.py --preset phi-1-small phi-1 --seq-len 2048 --dtype bf16
    python bench/flash_parity.py --device cpu --reference-flash --preset smoke --seq-len 64  # plumbing only

`--reference-flash` swaps flash_attn_func for an SDPA-based function with flash-attn's calling
convention (q, k, v as (B, T, H, D)), so the script runs on CPU; that proves the script and the
branch's plumbing, not the kernel (tests/test_model_flash.py does the same in the test suite).
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import torch
import torch.nn.functional as F

import phi_lab.model.phi as pm
from phi_lab.model.phi import Phi, PhiConfig

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def reference_flash(q, k, v, dropout_p=0.0, softmax_scale=None, causal=False):
    """flash_attn_func's contract computed with SDPA (for --reference-flash only)."""
    y = F.scaled_dot_product_attention(
        q.transpose(1, 2),
        k.transpose(1, 2),
        v.transpose(1, 2),
        dropout_p=dropout_p,
        is_causal=causal,
        scale=softmax_scale,
    )
    return y.transpose(1, 2)


class Counted:
    def __init__(self, fn) -> None:
        self.fn, self.calls = fn, 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        return self.fn(*args, **kwargs)


def rel_err(a: torch.Tensor, ref: torch.Tensor) -> float:
    """||a - ref|| / ||ref||, accumulated in float64 without float64 copies (phi-1 has 1.4B gradients)."""
    num = torch.linalg.vector_norm(a.float() - ref.float(), dtype=torch.float64)
    return float(num / torch.linalg.vector_norm(ref.float(), dtype=torch.float64).clamp_min(1e-30))


def run(model: Phi, ids: torch.Tensor, flash: Counted | None, autocast: torch.dtype | None, backward: bool):
    """(logits, loss, flat gradient) through the flash branch (`flash` given) or SDPA (None)."""
    pm.flash_attn_func = flash
    model.zero_grad(set_to_none=True)
    with torch.autocast(ids.device.type, dtype=autocast or torch.float32, enabled=autocast is not None):
        logits = model(ids[:, :-1])
    loss = F.cross_entropy(logits.float().flatten(0, 1), ids[:, 1:].flatten())
    grad = None
    if backward:
        loss.backward()
        # kept in host memory: three flat float32 copies of phi-1's gradients would take 17 GB of the GPU
        grad = torch.cat([p.grad.float().flatten().cpu() for p in model.parameters()])
        model.zero_grad(set_to_none=True)
    return logits.detach().float(), loss.detach().float(), grad


def check_preset(preset: str, args, device: torch.device, flash_fn) -> list[dict]:
    half = DTYPES[args.dtype]
    cfg = PhiConfig.from_preset(
        preset, max_seq_len=max(args.seq_len, PhiConfig.from_preset(preset).max_seq_len)
    )
    torch.manual_seed(args.seed)
    model = Phi(cfg)  # presets keep every dropout at 0
    init = {k: v.clone() for k, v in model.state_dict().items()}  # every mode starts from these weights
    model.to(device)
    g = torch.Generator().manual_seed(args.seed + 1)
    ids = torch.randint(0, cfg.vocab_size, (args.batch, args.seq_len + 1), generator=g).to(device)
    results = []
    for mode in args.modes:
        t0 = time.perf_counter()
        backward = mode == "autocast"
        model.float().load_state_dict(init)
        model.train(backward)
        ref_logits, ref_loss, ref_grad = run(model, ids, None, None, backward)
        if mode == "weights":
            model.to(half)
        autocast = half if mode == "autocast" else None
        sd_logits, sd_loss, sd_grad = run(model, ids, None, autocast, backward)
        counted = Counted(flash_fn)
        fl_logits, fl_loss, fl_grad = run(model, ids, counted, autocast, backward)
        r = {
            "preset": preset,
            "mode": mode,
            "dtype": args.dtype,
            "batch": args.batch,
            "seq_len": args.seq_len,
            "flash_calls": counted.calls,
            "expected_calls": cfg.n_layer,
            "logits_err_flash": rel_err(fl_logits, ref_logits),
            "logits_err_sdpa": rel_err(sd_logits, ref_logits),
            "logits_flash_vs_sdpa_max_abs": float((fl_logits - sd_logits).abs().max()),
            "loss_fp32": float(ref_loss),
            "loss_sdpa": float(sd_loss),
            "loss_flash": float(fl_loss),
        }
        ok = counted.calls == cfg.n_layer
        ok &= r["logits_err_flash"] <= args.slack * r["logits_err_sdpa"] + args.atol
        if backward:
            r["grad_err_flash"], r["grad_err_sdpa"] = rel_err(fl_grad, ref_grad), rel_err(sd_grad, ref_grad)
            ok &= r["grad_err_flash"] <= args.slack * r["grad_err_sdpa"] + args.atol
        r["seconds"] = round(time.perf_counter() - t0, 2)
        r["verdict"] = "PASS" if ok else "FAIL"
        print(json.dumps(r), flush=True)
        results.append(r)
    del model
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return results


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", nargs="+", default=["phi-1-small", "phi-1"], help="phi_lab.model.phi presets")
    ap.add_argument("--seq-len", type=int, default=2048)
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--dtype", choices=list(DTYPES), default="bf16")
    ap.add_argument("--modes", nargs="+", choices=["weights", "autocast"], default=["weights", "autocast"])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--slack", type=float, default=2.0, help="flash may err this many times SDPA's half error"
    )
    ap.add_argument("--atol", type=float, default=1e-3, help="plus this much relative error")
    ap.add_argument(
        "--reference-flash",
        action="store_true",
        help="use an SDPA stand-in for flash_attn_func (CPU dry run of the script; proves no kernel)",
    )
    args = ap.parse_args()

    device = torch.device(args.device)
    if args.reference_flash:
        flash_fn = reference_flash
        # the real rule also requires CUDA; the stand-in runs anywhere
        pm._use_flash = lambda x, mask, kv: (
            pm.flash_attn_func is not None and mask is None and kv is None and x.dtype in pm._FLASH_DTYPES
        )
    else:
        if device.type != "cuda" or not torch.cuda.is_available():
            print(
                "flash_parity: flash-attn needs a CUDA device (use --reference-flash for a CPU dry run)",
                file=sys.stderr,
            )
            return 2
        if pm.flash_attn_func is None:
            print(
                "flash_parity: flash_attn is not importable here (pip install -e '.[gpu]')", file=sys.stderr
            )
            return 2
        flash_fn = pm.flash_attn_func
        torch.backends.cuda.matmul.allow_tf32 = False  # a true float32 reference
        torch.backends.cudnn.allow_tf32 = False
    env = {
        "torch": torch.__version__,
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "flash_attn": _flash_version(),
        "reference_flash": args.reference_flash,
    }
    print(json.dumps(env), flush=True)
    results = [r for preset in args.preset for r in check_preset(preset, args, device, flash_fn)]
    failed = [f"{r['preset']}/{r['mode']}" for r in results if r["verdict"] != "PASS"]
    print(
        f"flash_parity: {len(results) - len(failed)}/{len(results)} checks passed"
        + (f"; FAILED: {', '.join(failed)}" if failed else ""),
        flush=True,
    )
    return 1 if failed else 0


def _flash_version() -> str | None:
    try:
        import flash_attn  # type: ignore[import-not-found]
    except Exception:
        return None
    return getattr(flash_attn, "__version__", "unknown")


if __name__ == "__main__":
    sys.exit(main())
