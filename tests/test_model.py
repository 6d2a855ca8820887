"""Phi against transformers' PhiForCausalLM, and the model's own invariants."""

from __future__ import annotations

import json

import pytest
import torch
from transformers import PhiConfig as HFPhiConfig
from transformers import PhiForCausalLM

from phi_lab.model.hf_format import config_to_hf, load_pretrained, save_pretrained
from phi_lab.model.phi import PRESETS, Phi, PhiConfig


def _randomize(model: torch.nn.Module, seed: int) -> None:
    """Nonzero biases and non-unit LayerNorms, so parity covers every parameter."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("bias"):
                p.copy_(torch.randn(p.shape, generator=g) * 0.1)
            elif name.endswith("weight") and p.dim() == 1:
                p.copy_(1 + torch.randn(p.shape, generator=g) * 0.1)
            else:
                p.copy_(torch.randn(p.shape, generator=g) * 0.05)


CONFIGS = {
    "smoke": PhiConfig.from_preset("smoke", vocab_size=320),
    # full rotary, odd layer count, another theta: exercises the config mapping
    "full-rotary": PhiConfig(
        vocab_size=256,
        n_layer=3,
        d_model=96,
        d_mlp=200,
        n_head=3,
        rotary_dim=32,
        rope_theta=500.0,
        max_seq_len=64,
        eos_token_id=None,
    ),
}


def _hf_config(cfg: PhiConfig) -> HFPhiConfig:
    d = {k: v for k, v in config_to_hf(cfg).items() if k not in ("architectures", "model_type")}
    return HFPhiConfig(**d)


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_logits_match_transformers_both_directions(name, tmp_path):
    cfg = CONFIGS[name]
    torch.manual_seed(0)
    ours = Phi(cfg).eval()
    _randomize(ours, seed=1)
    x = torch.randint(0, cfg.vocab_size, (2, 19))

    # ours -> transformers
    save_pretrained(ours, tmp_path / "ours")
    theirs = PhiForCausalLM.from_pretrained(tmp_path / "ours").eval()
    with torch.no_grad():
        a, b = ours(x), theirs(x).logits
    assert a.shape == (2, 19, cfg.vocab_size)
    assert (a - b).abs().max().item() < 1e-4

    # transformers -> ours (a model transformers initialised and wrote itself)
    torch.manual_seed(1)
    theirs2 = PhiForCausalLM(_hf_config(cfg)).eval()
    _randomize(theirs2, seed=2)
    theirs2.save_pretrained(tmp_path / "theirs")
    ours2 = load_pretrained(tmp_path / "theirs").eval()
    with torch.no_grad():
        assert (ours2(x) - theirs2(x).logits).abs().max().item() < 1e-4


def test_published_config_layout_loads(tmp_path):
    """microsoft/phi-1's config.json has top-level partial_rotary_factor / rope_theta, no rope_parameters."""
    cfg = CONFIGS["smoke"]
    model = Phi(cfg)
    save_pretrained(model, tmp_path)
    hf = json.loads((tmp_path / "config.json").read_text())
    rope = hf.pop("rope_parameters")
    hf.update(
        partial_rotary_factor=rope["partial_rotary_factor"], rope_theta=rope["rope_theta"], rope_scaling=None
    )
    (tmp_path / "config.json").write_text(json.dumps(hf))
    loaded = load_pretrained(tmp_path)
    assert loaded.config == cfg


def test_sharded_checkpoint_loads(tmp_path):
    cfg = CONFIGS["smoke"]
    theirs = PhiForCausalLM(_hf_config(cfg)).eval()
    theirs.save_pretrained(tmp_path, max_shard_size="50KB")
    assert (tmp_path / "model.safetensors.index.json").exists()
    x = torch.randint(0, cfg.vocab_size, (1, 7))
    with torch.no_grad():
        assert torch.allclose(load_pretrained(tmp_path)(x), theirs(x).logits, atol=1e-4)


def test_phi1_parameter_count_matches_transformers():
    cfg = PhiConfig.from_preset("phi-1")
    with torch.device("meta"):
        ours = Phi(cfg).num_parameters()
        theirs = sum(p.numel() for p in PhiForCausalLM(_hf_config(cfg)).parameters())
    assert ours == theirs == 1_418_270_720


def test_presets_have_the_papers_shapes():
    small = PhiConfig.from_preset("phi-1-small")
    assert (small.n_layer, small.d_model, small.d_mlp, small.n_head) == (20, 1024, 4096, 16)
    big = PhiConfig.from_preset("phi-1")
    assert (big.n_layer, big.d_model, big.d_mlp, big.n_head, big.head_dim, big.rotary_dim) == (
        24,
        2048,
        8192,
        32,
        64,
        32,
    )
    assert PRESETS["phi-1.5"] == PRESETS["phi-1"]
    with torch.device("meta"):
        assert 340e6 < Phi(small).num_parameters() < 360e6


@pytest.mark.parametrize(
    "bad",
    [
        dict(n_head=3),
        dict(rotary_dim=33),
        dict(rotary_dim=128),
        dict(resid_pdrop=1.5),
        dict(eos_token_id=99999),
    ],
)
def test_config_validation(bad):
    with pytest.raises(ValueError):
        PhiConfig.from_preset("smoke", **bad)
    with pytest.raises(KeyError):
        PhiConfig.from_preset("phi-42")


def test_dropout_only_in_training_and_checkpointing_keeps_gradients():
    cfg = PhiConfig.from_preset("smoke", vocab_size=128, embd_pdrop=0.1, resid_pdrop=0.1, attn_pdrop=0.1)
    torch.manual_seed(0)
    m = Phi(cfg)
    x = torch.randint(0, 128, (2, 16))
    m.eval()
    with torch.no_grad():
        assert torch.equal(m(x), m(x))
    m.train()
    with torch.no_grad():
        assert not torch.equal(m(x), m(x))

    nodrop = Phi(PhiConfig.from_preset("smoke", vocab_size=128)).train()
    grads = []
    for ckpt in (False, True):
        nodrop.zero_grad()
        nodrop.gradient_checkpointing = ckpt
        nodrop(x).float().logsumexp(-1).mean().backward()
        grads.append(torch.cat([p.grad.flatten() for p in nodrop.parameters()]))
    assert torch.allclose(grads[0], grads[1], atol=1e-6)


def test_hidden_states_feed_the_head():
    m = Phi(CONFIGS["smoke"]).eval()
    x = torch.randint(0, 320, (1, 5))
    with torch.no_grad():
        h = m(x, return_hidden=True)
        assert h.shape == (1, 5, 64)
        assert torch.allclose(m.lm_head(h), m(x))
