"""transformers' `PhiForCausalLM` format, both ways: config.json and model.safetensors.

The layout of the published microsoft/phi-1 and phi-1_5 checkpoints. `Phi` keeps q, k and v in one
fused projection (one matmul instead of three); they are split here, at load/save time only.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from phi_lab.io import atomic_write, atomic_write_json
from phi_lab.model.phi import Phi, PhiConfig, Rotary


def config_to_hf(config: PhiConfig) -> dict[str, Any]:
    """transformers' PhiConfig (config.json) for `config`."""
    return {
        "architectures": ["PhiForCausalLM"],
        "model_type": "phi",
        "vocab_size": config.vocab_size,
        "hidden_size": config.d_model,
        "intermediate_size": config.d_mlp,
        "num_hidden_layers": config.n_layer,
        "num_attention_heads": config.n_head,
        "num_key_value_heads": config.n_head,
        "hidden_act": "gelu_new",
        "max_position_embeddings": config.max_seq_len,
        "layer_norm_eps": config.layer_norm_eps,
        "embd_pdrop": config.embd_pdrop,
        "resid_pdrop": config.resid_pdrop,
        "attention_dropout": config.attn_pdrop,
        "initializer_range": config.initializer_range,
        "rope_parameters": {
            "rope_type": "default",
            "rope_theta": config.rope_theta,
            "partial_rotary_factor": config.rotary_dim / config.head_dim,
        },
        "qk_layernorm": False,
        "tie_word_embeddings": False,
        "use_cache": True,
        "bos_token_id": config.bos_token_id,
        "eos_token_id": config.eos_token_id,
    }


def config_from_hf(cfg: dict[str, Any]) -> PhiConfig:
    """Accept the published microsoft/phi-1 layout (top-level partial_rotary_factor,
    rope_theta) and transformers 5's `rope_parameters`."""
    if cfg.get("model_type", "phi") != "phi":
        raise ValueError(f"not a Phi config: model_type={cfg.get('model_type')!r}")
    if cfg.get("qk_layernorm"):
        raise ValueError("qk_layernorm=True is not part of phi-1/phi-1.5 and is not supported")
    n_head = cfg["num_attention_heads"]
    if cfg.get("num_key_value_heads") not in (None, n_head):
        raise ValueError("grouped-query attention is not part of phi-1/phi-1.5 and is not supported")
    rope = dict(cfg.get("rope_parameters") or {})
    if rope.get("rope_type", "default") != "default" or cfg.get("rope_scaling"):
        raise ValueError(f"only default RoPE is supported, got {rope or cfg.get('rope_scaling')}")
    theta = rope.get("rope_theta", cfg.get("rope_theta", 10000.0))
    factor = rope.get("partial_rotary_factor", cfg.get("partial_rotary_factor", 0.5))
    head_dim = cfg["hidden_size"] // n_head
    if cfg.get("hidden_act", "gelu_new") not in ("gelu_new", "gelu_pytorch_tanh"):
        raise ValueError(f"unsupported activation {cfg.get('hidden_act')!r}")
    return PhiConfig(
        vocab_size=cfg["vocab_size"],
        n_layer=cfg["num_hidden_layers"],
        d_model=cfg["hidden_size"],
        d_mlp=cfg["intermediate_size"],
        n_head=n_head,
        rotary_dim=int(head_dim * factor),
        rope_theta=float(theta),
        max_seq_len=cfg.get("max_position_embeddings", 2048),
        layer_norm_eps=cfg.get("layer_norm_eps", 1e-5),
        embd_pdrop=cfg.get("embd_pdrop", 0.0),
        resid_pdrop=cfg.get("resid_pdrop", 0.0),
        attn_pdrop=cfg.get("attention_dropout") or 0.0,
        initializer_range=cfg.get("initializer_range", 0.02),
        bos_token_id=cfg.get("bos_token_id"),
        eos_token_id=cfg.get("eos_token_id"),
    )


def hf_state_dict(model: Phi) -> dict[str, torch.Tensor]:
    """State dict with transformers' PhiForCausalLM names (q/k/v split back out)."""
    out: dict[str, torch.Tensor] = {}
    for name, t in model.state_dict().items():
        out.update(_to_hf(name, t, model.config.d_model))
    return out


def load_hf_state_dict(model: Phi, sd: dict[str, torch.Tensor], strict: bool = True) -> None:
    ours = _from_hf(sd, model.config.n_layer)
    missing, unexpected = model.load_state_dict(ours, strict=False)
    if strict and (missing or unexpected):
        raise ValueError(f"checkpoint does not match the config: missing={missing}, unexpected={unexpected}")


def save_pretrained(model: Phi, directory: str | Path, dtype: torch.dtype | None = None) -> Path:
    """Write config.json + model.safetensors (atomically: a crash never leaves a half-written model)."""
    from safetensors.torch import save_file

    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    sd = {
        k: (v.to(dtype) if dtype else v).detach().cpu().contiguous() for k, v in hf_state_dict(model).items()
    }
    cfg = config_to_hf(model.config)
    cfg["dtype"] = str(next(iter(sd.values())).dtype).removeprefix("torch.")
    cfg["transformers_version"] = _transformers_version()
    atomic_write(d / "model.safetensors", lambda tmp: save_file(sd, str(tmp), metadata={"format": "pt"}))
    atomic_write_json(d / "config.json", cfg)
    return d


def read_config(directory: str | Path) -> PhiConfig:
    d = Path(directory)
    if not (d / "config.json").exists():
        raise FileNotFoundError(f"{d} has no config.json: not a transformers-format checkpoint")
    return config_from_hf(json.loads((d / "config.json").read_text()))


def load_pretrained(
    directory: str | Path, dtype: torch.dtype | None = None, device: str | torch.device = "cpu"
) -> Phi:
    """Load a transformers-format directory (ours, or one written by PhiForCausalLM.save_pretrained)."""
    from safetensors.torch import load_file

    d = Path(directory)
    config = read_config(d)
    sd: dict[str, torch.Tensor] = {}
    for f in _weight_files(d):
        sd.update(load_file(str(f), device="cpu"))  # CPU first: never needs GPU memory twice
    with torch.device("meta"):  # no random init of weights that are about to be overwritten
        model = Phi(config)
    model.to_empty(device="cpu")
    model.rotary = Rotary(config.rotary_dim, config.rope_theta, config.max_seq_len)  # buffers, not weights
    load_hf_state_dict(model, sd)
    return model.to(device=device, dtype=dtype) if dtype else model.to(device)


def _weight_files(d: Path) -> list[Path]:
    if (d / "model.safetensors").exists():
        return [d / "model.safetensors"]
    index = d / "model.safetensors.index.json"
    if index.exists():
        shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        return [d / s for s in shards]
    raise FileNotFoundError(f"{d} has no model.safetensors (or sharded index)")


def _to_hf(name: str, t: torch.Tensor, d: int) -> dict[str, torch.Tensor]:
    if name.startswith("rotary."):
        return {}
    if name.startswith("blocks."):
        i, rest = name.split(".", 2)[1:]
        p = f"model.layers.{i}."
        if rest.startswith("attn.qkv."):
            kind = rest.rsplit(".", 1)[1]  # weight | bias
            q, k, v = t.split(d, dim=0)
            return {f"{p}self_attn.{n}_proj.{kind}": x for n, x in zip("qkv", (q, k, v))}
        rest = rest.replace("attn.dense.", "self_attn.dense.").replace("ln.", "input_layernorm.")
        return {p + rest: t}
    top = {
        "embed.weight": "model.embed_tokens.weight",
        "ln_f.weight": "model.final_layernorm.weight",
        "ln_f.bias": "model.final_layernorm.bias",
    }
    return {top.get(name, name): t}


def _from_hf(sd: dict[str, torch.Tensor], n_layer: int) -> dict[str, torch.Tensor]:
    out: dict[str, torch.Tensor] = {}
    for name, t in sd.items():
        if name.startswith("model.layers."):
            i, rest = name[len("model.layers.") :].split(".", 1)
            if rest.startswith("self_attn.") and rest.split(".")[1] in ("q_proj", "k_proj", "v_proj"):
                continue  # fused below
            rest = rest.replace("self_attn.dense.", "attn.dense.").replace("input_layernorm.", "ln.")
            out[f"blocks.{i}.{rest}"] = t
        else:
            top = {
                "model.embed_tokens.weight": "embed.weight",
                "model.final_layernorm.weight": "ln_f.weight",
                "model.final_layernorm.bias": "ln_f.bias",
            }
            out[top.get(name, name)] = t
    for i in range(n_layer):
        p = f"model.layers.{i}.self_attn."
        for kind in ("weight", "bias"):
            parts = [sd.get(f"{p}{n}_proj.{kind}") for n in "qkv"]
            if all(x is not None for x in parts):
                out[f"blocks.{i}.attn.qkv.{kind}"] = torch.cat(parts, dim=0)
    return out


def _transformers_version() -> str | None:
    try:
        import transformers

        return transformers.__version__
    except ImportError:
        return None
