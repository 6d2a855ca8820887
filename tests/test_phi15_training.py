"""phi-1.5's recipe and three mixtures as presets: the recipe's numbers, the mixture specs, and a
CPU-scale preset training on a real two-component mixture whose stream keeps the shares."""

from __future__ import annotations

import json

import pytest
from test_train import pack_code

from phi_lab.training.config import PRESETS, TrainConfig
from phi_lab.training.phi15 import VARIANTS, mixture_data, variant


def test_recipe_is_the_reports():
    for name in VARIANTS:
        cfg = TrainConfig.from_preset(name)
        assert (cfg.lr, cfg.schedule, cfg.warmup_steps, cfg.weight_decay, cfg.betas, cfg.eps) == (
            2e-4,
            "constant",
            0,
            0.1,
            (0.9, 0.98),
            1e-7,
        )
        assert (cfg.precision, cfg.engine, cfg.zero_stage, cfg.batch_size, cfg.seq_len) == (
            "fp16",
            "deepspeed",
            2,
            2048,
            2048,
        )
        assert cfg.max_steps * cfg.tokens_per_step() == pytest.approx(150e9, rel=1e-5)
        assert cfg.default_data["kind"] == "required" and cfg.default_data["mixture"] == dict(
            variant(name).weights
        )
        for size in ("smoke", "micro"):
            cpu = TrainConfig.from_preset(f"{name}-{size}")
            assert cpu.model == size and cpu.schedule == "constant" and cpu.warmup_steps == 0
            assert (cpu.betas, cpu.eps, cpu.precision, cpu.engine) == ((0.9, 0.98), 1e-7, "fp32", "ddp")
    assert dict(VARIANTS["phi-1.5"].weights) == {"synthetic_nl": 0.8, "phi1": 0.2}
    assert dict(VARIANTS["phi-1.5-web-only"].weights) == {"web_nl": 0.8, "web_code": 0.2}
    assert dict(VARIANTS["phi-1.5-web"].weights) == {"web_nl": 0.4, "phi1": 0.2, "synthetic_nl": 0.4}
    assert {"phi-1.5-web-smoke", "phi-1.5-web-only-micro", "phi-1.5-micro"} <= set(PRESETS)


def test_mixture_specs_name_every_component(tmp_path):
    a, b = tmp_path / "web", tmp_path / "code"
    a.mkdir()
    b.mkdir()
    assert mixture_data("phi-1.5-web-only", {"web_nl": a, "web_code": b}) == [f"{a}=0.8", f"{b}=0.2"]
    with pytest.raises(ValueError, match=r"missing \['web_code'\]"):
        mixture_data("phi-1.5-web-only", {"web_nl": a})
    with pytest.raises(ValueError, match="not part of this mixture"):
        mixture_data("phi-1.5-web-only", {"web_nl": a, "web_code": b, "phi1": b})
    with pytest.raises(FileNotFoundError, match="web_code"):
        mixture_data("phi-1.5-web-only", {"web_nl": a, "web_code": tmp_path / "absent"})
    with pytest.raises(KeyError, match=r"unknown phi-1\.5 variant"):
        variant("phi-2")


def test_preset_without_data_says_what_to_pass(tmp_path):
    from phi_lab.training.data import resolve_data

    with pytest.raises(ValueError, match="web_nl 80%, web_code 20%"):
        resolve_data(None, TrainConfig.from_preset("phi-1.5-web-only-smoke").default_data, tmp_path, None)


def test_cpu_preset_trains_on_the_mixture_with_its_shares(tmp_path, tiny_tokenizer):
    from phi_lab.training.data import resolve_data, train_stream
    from phi_lab.training.trainer import train

    web, code = pack_code(tmp_path / "web", tiny_tokenizer), pack_code(tmp_path / "code", tiny_tokenizer)
    specs = mixture_data("phi-1.5-web-only", {"web_nl": web, "web_code": code})
    cfg = TrainConfig.from_preset(
        "phi-1.5-web-only-smoke", max_steps=3, save_every=3, eval_every=3, seq_len=32
    )
    dirs, weights = resolve_data(specs, cfg.default_data, tmp_path, None, progress=False)
    stream = train_stream(dirs, weights, cfg.seq_len, cfg.seed, 0, 1)
    picks = [k for k, _ in stream.take(100)]
    assert picks.count(0) == 80 and picks.count(1) == 20  # smooth round-robin: exact shares
    summary = train(cfg, tmp_path / "run", data=specs, progress=False)
    assert summary["step"] == 3
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["config"]["name"] == "phi-1.5-web-only-smoke" and run["config"]["schedule"] == "constant"
