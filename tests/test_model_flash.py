"""The flash-attn branch of `Attention`, run on CPU against a reference `flash_attn_func`.

flash-attn itself needs CUDA, so without a GPU this branch would never run. Here the module's
`flash_attn_func` is replaced by a reference that follows flash-attn's documented contract
(q, k, v as (B, T, H, D), one shared half dtype, last dim contiguous; `causal`, `dropout_p`;
returns (B, T, H, D)) and is computed with torch SDPA. Logits through that branch must equal the
SDPA branch, so any layout or rotary mistake in the flash branch fails here.
The real kernel is compared on CUDA by bench/flash_parity.py (run by bench/gpu_checks.sh).
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F

import phi_lab.model.phi as pm
from phi_lab.model.phi import Phi, PhiConfig

REAL_USE_FLASH = pm._use_flash


class ReferenceFlash:
    """flash_attn_func's contract, computed with SDPA; records every call."""

    def __init__(self, half_only: bool) -> None:
        self.half_only = half_only  # the real kernel accepts fp16/bf16 only
        self.calls: list[dict] = []

    def __call__(self, q, k, v, dropout_p=0.0, softmax_scale=None, causal=False, **unsupported):
        assert not unsupported, f"arguments the reference does not model: {sorted(unsupported)}"
        assert q.dim() == k.dim() == v.dim() == 4, "flash-attn takes (B, T, H, D)"
        assert q.shape == k.shape == v.shape, (q.shape, k.shape, v.shape)
        assert q.dtype == k.dtype == v.dtype, f"mixed dtypes {q.dtype} {k.dtype} {v.dtype}"
        if self.half_only:
            assert q.dtype in (torch.float16, torch.bfloat16), q.dtype
        assert q.stride(-1) == k.stride(-1) == v.stride(-1) == 1, "flash-attn needs a contiguous head dim"
        self.calls.append(
            {"shape": tuple(q.shape), "dtype": q.dtype, "causal": causal, "dropout_p": dropout_p}
        )
        y = F.scaled_dot_product_attention(
            q.transpose(1, 2),
            k.transpose(1, 2),
            v.transpose(1, 2),
            dropout_p=dropout_p,
            is_causal=causal,
            scale=softmax_scale,
        )
        return y.transpose(1, 2).contiguous()


def force_flash(monkeypatch, half_only: bool = False, as_if_cuda: bool = False) -> ReferenceFlash:
    """Route attention to the reference. `as_if_cuda`: keep the real dispatch rule (dtype, mask,
    cache) and fake only the device; otherwise every mask-free, cache-free call goes to flash."""
    fake = ReferenceFlash(half_only)
    monkeypatch.setattr(pm, "flash_attn_func", fake)
    if as_if_cuda:
        rule = lambda x, mask, kv: REAL_USE_FLASH(SimpleNamespace(is_cuda=True, dtype=x.dtype), mask, kv)  # noqa: E731
    else:
        rule = lambda x, mask, kv: mask is None and kv is None  # noqa: E731
    monkeypatch.setattr(pm, "_use_flash", rule)
    return fake


def make_model(preset: str) -> tuple[Phi, torch.Tensor]:
    torch.manual_seed(0)
    model = Phi(PhiConfig.from_preset(preset))  # presets have every dropout at 0
    ids = torch.randint(0, model.config.vocab_size, (2, 48), generator=torch.Generator().manual_seed(1))
    return model, ids


@pytest.mark.parametrize("preset", ["smoke", "micro"])
@pytest.mark.parametrize("mode", ["eval", "train"])
def test_flash_branch_matches_sdpa(monkeypatch, preset: str, mode: str) -> None:
    model, ids = make_model(preset)
    model.train(mode == "train")
    assert not REAL_USE_FLASH(torch.zeros(1), None, None)  # on CPU the real rule never picks flash
    with torch.no_grad():
        ref = model(ids)
    fake = force_flash(monkeypatch)
    with torch.no_grad():
        got = model(ids)
    cfg = model.config
    assert len(fake.calls) == cfg.n_layer, "the flash branch did not run in every layer"
    assert fake.calls[0] == {
        "shape": (2, 48, cfg.n_head, cfg.head_dim),
        "dtype": torch.float32,
        "causal": True,
        "dropout_p": 0.0,
    }
    assert (got - ref).abs().max().item() < 1e-5


def test_flash_branch_gradients_match_sdpa(monkeypatch) -> None:
    """Training goes through the branch's backward too: same loss, same gradients."""
    model, ids = make_model("smoke")
    model.train()

    def loss_and_grads():
        model.zero_grad(set_to_none=True)
        logits = model(ids[:, :-1])
        loss = F.cross_entropy(logits.flatten(0, 1), ids[:, 1:].flatten())
        loss.backward()
        return loss.item(), {n: p.grad.clone() for n, p in model.named_parameters()}

    ref_loss, ref_grads = loss_and_grads()
    fake = force_flash(monkeypatch)
    loss, grads = loss_and_grads()
    assert fake.calls and abs(loss - ref_loss) < 1e-6
    for name, g in grads.items():
        assert (g - ref_grads[name]).abs().max().item() < 1e-6, name


def test_flash_branch_under_bf16_autocast(monkeypatch) -> None:
    """The trainer's bf16 runs keep float32 weights under autocast: the residual stream (and so
    cos/sin) stays float32 while q/k/v come out bf16. The real dispatch rule must still pick flash
    there, and hand it three bf16 tensors (the real kernel rejects float32 or mixed dtypes)."""
    model, ids = make_model("micro")
    model.eval()
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        ref = model(ids).float()
    fake = force_flash(monkeypatch, half_only=True, as_if_cuda=True)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        got = model(ids).float()
    assert len(fake.calls) == model.config.n_layer
    assert {c["dtype"] for c in fake.calls} == {torch.bfloat16}
    # both branches round the same bf16 inputs; only the kernels' summation order may differ
    assert (got - ref).abs().max().item() <= 1e-3 * ref.abs().max().item()  # 0.0 measured on CPU


def test_masked_or_cached_attention_never_goes_to_flash(monkeypatch) -> None:
    """Left-padded batches (a mask) and KV-cache decoding stay on SDPA: flash-attn's causal mode
    knows neither padding nor cache offsets. Cache-free decoding of unpadded rows may use flash."""
    from phi_lab.model.generation import generate

    model, ids = make_model("smoke")
    padded = [ids[0, :5].tolist(), ids[1, :9].tolist()]
    same_len = [ids[0, :7].tolist(), ids[1, :7].tolist()]
    ref_padded = generate(model, padded, max_new_tokens=6)
    ref_same = generate(model, same_len, max_new_tokens=6)
    fake = force_flash(monkeypatch)

    # the real rule, as it would decide on CUDA with flash-attn installed
    as_cuda = lambda dtype: SimpleNamespace(is_cuda=True, dtype=dtype)  # noqa: E731
    mask = torch.ones(2, 1, 8, 8, dtype=torch.bool).tril()
    assert REAL_USE_FLASH(as_cuda(torch.float16), None, None)
    assert REAL_USE_FLASH(as_cuda(torch.bfloat16), None, None)
    assert not REAL_USE_FLASH(as_cuda(torch.float16), mask, None)
    assert not REAL_USE_FLASH(as_cuda(torch.bfloat16), None, model.new_kv_cache(2, 8))
    assert not REAL_USE_FLASH(as_cuda(torch.float32), None, None)
    assert generate(model, padded, max_new_tokens=6) == ref_padded
    assert generate(model, same_len, max_new_tokens=6) == ref_same
    assert fake.calls == [], "generation with a mask or a KV cache reached flash-attn"
    assert generate(model, same_len, max_new_tokens=6, use_cache=False) == ref_same
    assert len(fake.calls) == 6 * model.config.n_layer  # every full-sequence step went to flash
