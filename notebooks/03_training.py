# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: phi-lab (.venv)
#     language: python
#     name: phi-lab
# ---

# %% [markdown]
# # §2.3 Training: the data ablation behind Figure 2.1
#
# Figure 2.1 of the paper trains models of two sizes for several token budgets on three datasets:
# the unfiltered corpus (The Stack+), the filtered corpus, and the filtered corpus plus synthetic
# textbooks (CodeTextbook); each is then also finetuned on CodeExercises. Pretraining uses AdamW with
# linear warmup/decay, finetuning a lower learning rate (phi-1: batch 256, lr 1e-4, warmup 50).
#
# This notebook packs the three datasets with one tokenizer, then launches every run **as its own
# process** (`phi-lab train`) and streams its log: the kernel never holds a training loop, and an
# interrupted run continues with `--resume`.

# %% tags=["parameters"]
run_dir: str = "runs/dev"  # run directory (set by phi-lab reproduce)
out_dir: str = "runs/dev/training"  # this stage's outputs (set by phi-lab reproduce)
model_presets: list = ["smoke"]  # training presets, one per model size (paper: 350M and 1.3B)
pretrain_steps: list = [30]  # token budgets as optimizer steps of the preset (paper: 26B..76B tokens)
datasets: list = ["unfiltered", "filtered", "codetextbook"]  # Figure 2.1's three pretraining datasets
tokenizer: str = "cpu-2k"  # default tokenizer preset (cpu-2k, cpu-4k, codegen: 50,257-token BPE) or a directory
finetune_steps: int = 20  # CodeExercises finetuning steps (paper: 6,000)
finetune_lr: float = 1e-4  # paper: 1e-4
finetune_warmup: int = 2  # paper: 50
finetune_weight_decay: float = 0.01  # paper: 0.01
device: str = "cpu"  # cpu or cuda
seed: int = 0  # corpus order, data split and training seed

# %%
import json
from pathlib import Path

from phi_lab.cli import main as phi_lab
from phi_lab.data import default_tokenizer
from phi_lab.model.tokenizer import PhiTokenizer
from phi_lab.training.launch import run_training

run, out = Path(run_dir), Path(out_dir)
corpus = run / "filtering" / "corpus.jsonl"  # the sample the filter scored: the unfiltered baseline
kept = run / "filtering" / "filtered" / "kept.jsonl"
textbooks = run / "synthesis" / "textbooks" / "textbooks.jsonl"
exercises = run / "synthesis" / "exercises" / "exercises.jsonl"

# %% [markdown]
# ## 1. One tokenizer, three packed datasets (+ CodeExercises)

# %%
tok_dir = out / "tokenizer"
tok = PhiTokenizer.from_pretrained(tokenizer) if Path(tokenizer).is_dir() else default_tokenizer(tokenizer)
tok.save(tok_dir)
sources = {
    "unfiltered": [str(corpus)],
    "filtered": [str(kept)],
    "codetextbook": [str(kept), str(textbooks)],
    "codeexercises": [str(exercises)],
}
packed = {}
for name in [*datasets, "codeexercises"]:
    packed[name] = out / "data" / name
    assert phi_lab(["data", "pack", "--source", *sources[name], "--tokenizer", str(tok_dir), "--seed", str(seed),
                    "--out", str(packed[name]), "--quiet"]) == 0
{name: json.loads((d / "manifest.json").read_text())["tokens"] for name, d in packed.items()}


# %% [markdown]
# ## 2. Pretrain every (size, budget, dataset), then finetune each on CodeExercises

# %%
def train(name: str, preset: str, data: Path, *extra: str, init: Path | None = None) -> Path:
    """One run in its own process (resumed if interrupted); returns its final checkpoint."""
    return run_training(preset, out / "runs" / name, "--device", device, "--seed", str(seed), *extra,
                        data=str(data), init=init)


models = []
for preset in model_presets:
    for steps in pretrain_steps:
        for data in datasets:
            base = f"{preset}-{steps}-{data}"
            ckpt = train(base, preset, packed[data], "--max-steps", str(steps))
            cfg = json.loads((out / "runs" / base / "run.json").read_text())["config"]
            tokens = steps * cfg["batch_size"] * cfg["seq_len"]
            models.append(dict(name=base, preset=preset, steps=steps, tokens=tokens, data=data, finetuned=False,
                               path=str(ckpt)))
            ft = train(f"{base}-ft", preset, packed["codeexercises"], "--max-steps", str(finetune_steps),
                       "--lr", str(finetune_lr), "--warmup-steps", str(finetune_warmup),
                       "--weight-decay", str(finetune_weight_decay), init=ckpt)
            models.append(dict(name=f"{base}-ft", preset=preset, steps=steps, tokens=tokens, data=data,
                               finetuned=True, path=str(ft)))

# %% [markdown]
# ## 3. Loss curves

# %%
import matplotlib.pyplot as plt

fig, ax = plt.subplots(figsize=(7, 4))
for m in models:
    rows = [json.loads(line) for line in (Path(m["path"]).parents[1] / "metrics.jsonl").open()]
    pts = [(r["step"], r["loss"]) for r in rows if "loss" in r and "val_loss" not in r]
    ax.plot(*zip(*pts), label=m["name"], lw=1)
ax.set(xlabel="step", ylabel="train loss", yscale="log")
ax.legend(fontsize=6)
fig.savefig(out / "loss_curves.png", dpi=120, bbox_inches="tight")

# %%
(out / "models.json").write_text(json.dumps(models, indent=2))
metrics = {"models": models, "tokenizer": tok.fingerprint(), "vocab_size": tok.vocab_size}
(out / "metrics.json").write_text(json.dumps(metrics, indent=2))
[m["name"] for m in models]
