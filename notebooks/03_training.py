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
# process** (`phi_lab.training.grid.train_grid`) and streams its log here: the kernel never holds a
# training loop, and re-running the cell after an interruption resumes each run from its last
# checkpoint. The grid and the table of models it writes (`models.json`, read by notebooks 04-07)
# live in `phi_lab.training.grid`.
#
# **How long.** On 2 CPU cores the training stage took 45 s in the smoke reproduction (6 runs), 106 s
# with the defaults below (6 runs of 30 + 20 steps), and
# about 9 min in a one-seed micro one (24 runs: 2 sizes x 2 budgets x 3 datasets x base/finetuned).
#
# **Seeds.** With several `seeds`, each cell of `seeded_presets` repeats per seed (its models are named
# `...-s<seed>`): corpus order, the held-out split, initialisation and dropout follow the seed, so the
# report's intervals and claims can average over seeds.
#
# **Where it reads and writes.** Paths resolve against the repository root. It reads the filtering
# and synthesis outputs of `run_dir` (empty: `$PHI_LAB_RUN`, else the most recent finished
# reproduction under `runs/`). With `out_dir` empty it trains into a scratch directory,
# `<run>/explore/training`, never over the reproduction's own `<run>/training`;
# `phi-lab reproduce` sets both.

# %% tags=["parameters"]
run_dir: str = ""  # reproduction to read (empty: $PHI_LAB_RUN, else the latest finished one in runs/)
out_dir: str = ""  # this stage's outputs (empty: a scratch directory, <run>/explore/training)
model_presets: list = ["smoke"]  # training presets, one per model size (paper: 350M and 1.3B)
pretrain_steps: list = [30]  # token budgets as optimizer steps of the preset (paper: 26B..76B tokens)
datasets: list = ["unfiltered", "filtered", "codetextbook"]  # Figure 2.1's three pretraining datasets
tokenizer: str = "cpu-2k"  # cpu-2k, cpu-4k, stdlib-bpe-50k (CPU stand-ins), codegen (codegen-350M-mono's) or a directory
schedule_steps: int = 0  # learning-rate schedule of every pretraining run (0: its preset's; paper: 36,000)
pretrain_overrides: dict = {}  # further TrainConfig fields of every pretraining run, e.g. {"precision": "bf16"}
finetune_preset: str = ""  # training preset of the finetunes (paper: phi-1; empty: the pretraining preset)
finetune_steps: int = 20  # CodeExercises finetuning steps (paper: 6,000)
finetune_lr: float = 1e-4  # paper: 1e-4
finetune_warmup: int = 2  # paper: 50
finetune_weight_decay: float = 0.01  # paper: 0.01
finetune_overrides: dict = {}  # further TrainConfig fields of every finetune
launcher: str = "none"  # how each run starts: none (one process), torchrun (DDP) or deepspeed (ZeRO-2)
nproc_per_node: int = 0  # processes per node (0: the node's GPUs, or 1)
nnodes: int = 1  # nodes (deepspeed: those of the hostfile)
hostfile: str = ""  # DeepSpeed hostfile of the nodes (empty: this machine only)
master_addr: str = "127.0.0.1"  # rendezvous address of each run's process group
master_port: int = 0  # its port (0: a free one)
device: str = "cpu"  # cpu or cuda
seeds: list = [0]  # training seeds: every run repeats per seed (corpus order, data split, init, dropout)
seeded_presets: list = []  # presets repeated over every seed (empty: all); the others run with the first seed

# %%
from phi_lab.paths import repo_path, stage_dirs

dirs = stage_dirs("training", run_dir, out_dir)
print(dirs.describe())
run, out = dirs.run, dirs.out
corpus = run / "filtering" / "corpus.jsonl"  # the sample the filter scored: the unfiltered baseline
kept = run / "filtering" / "filtered" / "kept.jsonl"
textbooks = run / "synthesis" / "textbooks" / "textbooks.jsonl"
exercises = run / "synthesis" / "exercises" / "exercises.jsonl"

# %% [markdown]
# ## 1. One tokenizer, three packed datasets (+ CodeExercises)

# %%
import json

from phi_lab.data.pack_sources import load_tokenizer, pack_sources
from phi_lab.training.grid import FINETUNE_DATA

tok_dir = out / "tokenizer"
tok_path = repo_path(tokenizer)
tok = load_tokenizer(tok_path) if tok_path.is_dir() else load_tokenizer(vocab_size=tokenizer)
tok.save(tok_dir)
print(f"tokenizer {tok.name}: {tok.vocab_size:,} ids" + (" (a stand-in trained on this interpreter's stdlib)"
      if tok.name in ("cpu-2k", "cpu-4k", "stdlib-bpe-50k") else ""))
sources = {
    "unfiltered": [corpus],
    "filtered": [kept],
    "codetextbook": [kept, textbooks],
    FINETUNE_DATA: [exercises],
}
packed = {}  # seed -> dataset -> packed directory: the held-out split follows the seed
for s in seeds:
    root = out / "data" if s == seeds[0] else out / "data" / f"seed-{s}"
    packed[s] = {name: root / name for name in [*datasets, FINETUNE_DATA]}
    for name, d in packed[s].items():
        pack_sources(sources[name], d, tokenizer=tok_dir, seed=s, progress=False)
{name: json.loads((d / "manifest.json").read_text())["tokens"] for name, d in packed[seeds[0]].items()}

# %% [markdown]
# ## 2. Pretrain every (size, budget, dataset), then finetune each on CodeExercises
# Each run's log streams below as it trains (one line per `log_every` steps, and its validation loss).

# %%
from phi_lab.training.grid import MODELS_FILE, Finetune, Pretrain, figure_2_1_grid, train_grid, write_models
from phi_lab.training.launch import LaunchConfig

grid = figure_2_1_grid(model_presets, pretrain_steps, datasets, seeds, seeded_presets)
pretrain = Pretrain(schedule_steps, pretrain_overrides)
finetune = Finetune(finetune_steps, finetune_lr, finetune_warmup, finetune_weight_decay,
                    finetune_preset or None, finetune_overrides)
processes = LaunchConfig(launcher, nproc_per_node, nnodes, str(repo_path(hostfile)) if hostfile else "",
                         master_addr, master_port)
models = []
for s in seeds:  # one seed at a time: each packs its own split
    cells = [c for c in grid if c.seed_or(seeds[0]) == s]
    models += train_grid(cells, packed[s], out / "runs", finetune, pretrain=pretrain, launch=processes,
                         device=device, seed=s)
write_models(out / MODELS_FILE, models)
[m.name for m in models]

# %% [markdown]
# ## 3. Loss curves

# %%
from IPython.display import Image, display
from matplotlib.figure import Figure  # not pyplot: the kernel's backend stays the user's

from phi_lab.io import atomic_write, atomic_write_json
from phi_lab.training.metrics import read_metrics

fig = Figure(figsize=(7, 4), layout="tight")
ax = fig.subplots()
for m in models:
    rows = read_metrics(m.run_dir)
    ax.plot([r["step"] for r in rows], [r["loss"] for r in rows], label=m.name, lw=1)
ax.set(xlabel="step", ylabel="train loss", yscale="log")
ax.legend(fontsize=6)
atomic_write(out / "loss_curves.png", lambda tmp: fig.savefig(tmp, format="png", dpi=120))
display(Image(filename=str(out / "loss_curves.png")))

# %%
metrics = {
    "models": [m.to_json() for m in models],
    "tokenizer": tok.fingerprint(),
    "tokenizer_name": tok.name,  # cpu-2k / cpu-4k / stdlib-bpe-50k: stand-ins trained here; codegen-350M-mono
    "vocab_size": tok.vocab_size,
    "launcher": processes.to_json(),
}
atomic_write_json(out / "metrics.json", metrics)  # atomic: metrics.json marks the stage done
