"""Phi, the decoder-only transformer of phi-1 / phi-1.5, in one readable file.

What makes it Phi rather than GPT-2 (papers §2.3, and the released microsoft/phi-1 weights):
- each block runs attention and the MLP *in parallel* from one shared LayerNorm:
  x = x + drop(attn(ln(x))) + drop(mlp(ln(x)));
- rotary position embedding on only the first `rotary_dim` (32) dims of each 64-dim head, GPT-NeoX
  style (rotate-half, not interleaved), theta 10000;
- gelu_new (the tanh approximation) in the MLP, biases on every linear layer;
- an untied lm_head *with* a bias, after a final LayerNorm.

Weights load from and save to the transformers `PhiForCausalLM` layout (config.json +
model.safetensors), the layout of the published microsoft/phi-1 and phi-1_5 checkpoints.
Internally q, k and v share one fused projection (one matmul instead of three); the split
happens only at load/save time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

try:  # flash-attn is an optional GPU extra; SDPA is the fallback everywhere else.
    from flash_attn import flash_attn_func  # type: ignore[import-not-found]
except Exception:  # ImportError, or a broken CUDA build
    flash_attn_func = None

_FLASH_DTYPES = (torch.float16, torch.bfloat16)  # the only dtypes flash-attn's kernels take


def _use_flash(x: torch.Tensor, mask: torch.Tensor | None, kv_cache: KVCache | None) -> bool:
    """Whether attention over `x` (the q/k/v projection, in the dtype attention will run in) goes to
    flash-attn: installed, on CUDA, half precision, plain causal attention (no mask, no KV cache).
    One function so a CPU test can force the branch with a reference flash_attn_func."""
    return (
        flash_attn_func is not None
        and x.is_cuda
        and mask is None
        and kv_cache is None
        and x.dtype in _FLASH_DTYPES
    )


@dataclass
class PhiConfig:
    vocab_size: int = 51200  # codegen's 50,295 tokens padded to a multiple of 64
    n_layer: int = 24
    d_model: int = 2048
    d_mlp: int = 8192
    n_head: int = 32
    rotary_dim: int = 32
    rope_theta: float = 10000.0
    max_seq_len: int = 2048
    layer_norm_eps: float = 1e-5
    embd_pdrop: float = 0.0
    resid_pdrop: float = 0.0
    attn_pdrop: float = 0.0
    initializer_range: float = 0.02
    bos_token_id: int | None = None
    eos_token_id: int | None = 50256

    def __post_init__(self) -> None:
        for name in ("vocab_size", "n_layer", "d_model", "d_mlp", "n_head", "max_seq_len"):
            if getattr(self, name) <= 0:
                raise ValueError(f"PhiConfig.{name} must be positive, got {getattr(self, name)}")
        if self.d_model % self.n_head:
            raise ValueError(f"d_model {self.d_model} is not divisible by n_head {self.n_head}")
        if not (0 <= self.rotary_dim <= self.head_dim and self.rotary_dim % 2 == 0):
            raise ValueError(
                f"rotary_dim must be even and in [0, head_dim={self.head_dim}], got {self.rotary_dim}"
            )
        for name in ("embd_pdrop", "resid_pdrop", "attn_pdrop"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"PhiConfig.{name} must be in [0, 1), got {getattr(self, name)}")
        for name in ("bos_token_id", "eos_token_id"):
            tid = getattr(self, name)
            if tid is not None and not 0 <= tid < self.vocab_size:
                raise ValueError(f"PhiConfig.{name}={tid} is outside the vocabulary (size {self.vocab_size})")

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_head

    @classmethod
    def from_preset(cls, name: str, **overrides: Any) -> PhiConfig:
        if name not in PRESETS:
            raise KeyError(f"unknown model preset {name!r}; choose from {sorted(PRESETS)}")
        return cls(**{**PRESETS[name], **overrides})


_PHI_1 = dict(
    n_layer=24, d_model=2048, d_mlp=8192, n_head=32, rotary_dim=32, vocab_size=51200, max_seq_len=2048
)
PRESETS: dict[str, dict[str, Any]] = {
    "phi-1": _PHI_1,  # 1.3B, paper §2.3
    "phi-1.5": _PHI_1,  # same shape, different data
    "phi-1-small": dict(_PHI_1, n_layer=20, d_model=1024, d_mlp=4096, n_head=16),  # 350M
    # CPU-sized shapes keeping Phi's structure (64-dim heads where possible, partial rotary).
    "micro": dict(
        n_layer=4,
        d_model=256,
        d_mlp=1024,
        n_head=4,
        rotary_dim=32,
        vocab_size=4160,
        max_seq_len=256,
        eos_token_id=None,
    ),
    "smoke": dict(
        n_layer=2,
        d_model=64,
        d_mlp=256,
        n_head=2,
        rotary_dim=16,
        vocab_size=2112,
        max_seq_len=128,
        eos_token_id=None,
    ),
}


class KVCache:
    """Pre-allocated keys/values for every layer: decoding writes in place instead of concatenating."""

    def __init__(self, config: PhiConfig, batch_size: int, max_len: int, device, dtype) -> None:
        shape = (batch_size, config.n_head, max_len, config.head_dim)
        self.k = [torch.zeros(shape, device=device, dtype=dtype) for _ in range(config.n_layer)]
        self.v = [torch.zeros(shape, device=device, dtype=dtype) for _ in range(config.n_layer)]
        self.max_len = max_len
        self.length = 0  # tokens already stored (same for every row; rows are left-padded)

    def update(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        start, end = self.length, self.length + k.shape[2]
        if end > self.max_len:
            raise ValueError(f"KV cache overflow: {end} > {self.max_len} positions")
        self.k[layer][:, :, start:end] = k
        self.v[layer][:, :, start:end] = v
        return self.k[layer][:, :, :end], self.v[layer][:, :, :end]

    def select_rows(self, rows: torch.Tensor) -> None:
        """Keep only `rows` (drop finished sequences so they cost nothing further)."""
        self.k = [t.index_select(0, rows) for t in self.k]
        self.v = [t.index_select(0, rows) for t in self.v]


class Rotary(nn.Module):
    """cos/sin tables for NeoX-style RoPE, computed once (grown if a longer sequence appears)."""

    def __init__(self, dim: int, theta: float, max_len: int) -> None:
        super().__init__()
        self.dim, self.theta = dim, theta
        self.register_buffer(
            "inv_freq", 1.0 / theta ** (torch.arange(0, dim, 2).float() / dim), persistent=False
        )
        self._build(max_len)

    def _build(self, n: int) -> None:
        freqs = torch.outer(torch.arange(n, dtype=torch.float32, device=self.inv_freq.device), self.inv_freq)
        emb = torch.cat((freqs, freqs), dim=-1)
        self.register_buffer("cos", emb.cos(), persistent=False)
        self.register_buffer("sin", emb.sin(), persistent=False)

    def forward(self, position_ids: torch.Tensor, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        need = int(position_ids.max()) + 1
        if need > self.cos.shape[0]:
            self._build(max(need, 2 * self.cos.shape[0]))
        # (B, T, dim) -> (B, 1, T, dim) to broadcast over heads
        return self.cos[position_ids].unsqueeze(1).to(dtype), self.sin[position_ids].unsqueeze(1).to(dtype)


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate the first cos.shape[-1] dims of each head; the rest pass through (partial rotary)."""
    rd = cos.shape[-1]
    x_rot, x_pass = x[..., :rd], x[..., rd:]
    x1, x2 = x_rot[..., : rd // 2], x_rot[..., rd // 2 :]
    rotated = torch.cat((-x2, x1), dim=-1)
    return torch.cat((x_rot * cos + rotated * sin, x_pass), dim=-1)


class Attention(nn.Module):
    def __init__(self, config: PhiConfig, layer: int) -> None:
        super().__init__()
        self.layer, self.n_head, self.head_dim = layer, config.n_head, config.head_dim
        self.qkv = nn.Linear(config.d_model, 3 * config.d_model)  # fused q|k|v
        self.dense = nn.Linear(config.d_model, config.d_model)
        self.attn_pdrop = config.attn_pdrop

    def forward(self, x, cos, sin, mask, kv_cache: KVCache | None) -> torch.Tensor:
        B, T, C = x.shape
        qkv = self.qkv(x).view(B, T, 3, self.n_head, self.head_dim)
        dropout = self.attn_pdrop if self.training else 0.0
        # Decided on qkv, not x: under autocast x stays float32 while the projection is bf16/fp16.
        if _use_flash(qkv, mask, kv_cache):
            # flash-attn wants (B, T, H, D); rotary is applied in that layout by transposing cos/sin.
            # cos/sin come in the residual stream's dtype (float32 under autocast): cast q/k back so
            # all three inputs share the half dtype flash-attn requires.
            cos_t, sin_t = cos.transpose(1, 2), sin.transpose(1, 2)
            q = apply_rotary(qkv[:, :, 0], cos_t, sin_t).to(qkv.dtype)
            k = apply_rotary(qkv[:, :, 1], cos_t, sin_t).to(qkv.dtype)
            y = flash_attn_func(q, k, qkv[:, :, 2], dropout_p=dropout, causal=True)
            return self.dense(y.reshape(B, T, C))
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each (B, H, T, D)
        q, k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
        if kv_cache is not None:
            k, v = kv_cache.update(self.layer, k, v)
        # Without a mask and with q and k aligned, SDPA's is_causal path needs no mask tensor.
        is_causal = mask is None and q.shape[2] == k.shape[2]
        if mask is None and not is_causal and q.shape[2] != 1:
            raise ValueError("multi-token steps on a filled cache need an explicit attention mask")
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout, is_causal=is_causal)
        return self.dense(y.transpose(1, 2).reshape(B, T, C))


class MLP(nn.Module):
    def __init__(self, config: PhiConfig) -> None:
        super().__init__()
        self.fc1 = nn.Linear(config.d_model, config.d_mlp)
        self.fc2 = nn.Linear(config.d_mlp, config.d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # gelu_new == GELU with the tanh approximation; the fused kernel is faster than spelling it out.
        return self.fc2(F.gelu(self.fc1(x), approximate="tanh"))


class Block(nn.Module):
    def __init__(self, config: PhiConfig, layer: int) -> None:
        super().__init__()
        self.ln = nn.LayerNorm(config.d_model, eps=config.layer_norm_eps)
        self.attn = Attention(config, layer)
        self.mlp = MLP(config)
        self.drop = nn.Dropout(config.resid_pdrop)

    def forward(self, x, cos, sin, mask, kv_cache) -> torch.Tensor:
        h = self.ln(x)  # one LayerNorm feeds both branches
        return x + self.drop(self.attn(h, cos, sin, mask, kv_cache)) + self.drop(self.mlp(h))


class Phi(nn.Module):
    def __init__(self, config: PhiConfig) -> None:
        super().__init__()
        self.config = config
        self.embed = nn.Embedding(config.vocab_size, config.d_model)
        self.drop = nn.Dropout(config.embd_pdrop)
        self.blocks = nn.ModuleList(Block(config, i) for i in range(config.n_layer))
        self.ln_f = nn.LayerNorm(config.d_model, eps=config.layer_norm_eps)
        self.lm_head = nn.Linear(config.d_model, config.vocab_size)  # untied, with bias
        self.rotary = Rotary(config.rotary_dim, config.rope_theta, config.max_seq_len)
        self.gradient_checkpointing = False
        self.apply(self._init_weights)

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=self.config.initializer_range)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def num_parameters(self, exclude_embeddings: bool = False) -> int:
        n = sum(p.numel() for p in self.parameters())
        return n - self.embed.weight.numel() if exclude_embeddings else n

    def forward(
        self,
        input_ids: torch.Tensor,
        position_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        kv_cache: KVCache | None = None,
        return_hidden: bool = False,
    ) -> torch.Tensor:
        """Logits (B, T, vocab). `attention_mask` is an SDPA boolean mask (B, 1, T, T_total), True = attend;
        `return_hidden` gives the final-LayerNorm hidden states (B, T, d_model) instead (for embedders)."""
        B, T = input_ids.shape
        if position_ids is None:
            start = kv_cache.length if kv_cache is not None else 0
            position_ids = torch.arange(start, start + T, device=input_ids.device).expand(B, T)
        x = self.drop(self.embed(input_ids))
        cos, sin = self.rotary(position_ids, x.dtype)
        for block in self.blocks:
            if self.gradient_checkpointing and self.training:
                x = torch.utils.checkpoint.checkpoint(
                    block, x, cos, sin, attention_mask, kv_cache, use_reentrant=False
                )
            else:
                x = block(x, cos, sin, attention_mask, kv_cache)
        if kv_cache is not None:
            kv_cache.length += T
        x = self.ln_f(x)
        return x if return_hidden else self.lm_head(x)

    def new_kv_cache(self, batch_size: int, max_len: int) -> KVCache:
        p = self.lm_head.weight
        return KVCache(self.config, batch_size, max_len, p.device, p.dtype)


def estimate_flops_per_token(config: PhiConfig, seq_len: int) -> float:
    """Training FLOPs per token (forward + backward = 3x forward), PaLM-style: 6N + 12 L d T."""
    n = (
        config.n_layer * (4 * config.d_model**2 + 2 * config.d_model * config.d_mlp)
        + config.vocab_size * config.d_model
    )
    return 6 * n + 12 * config.n_layer * config.d_model * seq_len


__all__ = ["PRESETS", "KVCache", "Phi", "PhiConfig", "estimate_flops_per_token"]
