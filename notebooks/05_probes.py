# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: phi-lab (.venv)
#     language: python
#     name: phi-lab
# ---

# %% [markdown]
# # §3 Emergent abilities: phi-1-base vs phi-1, side by side
#
# The paper finds that finetuning on CodeExercises improves far more than exercise-like tasks: the
# model follows logical conditions better and uses libraries that never appear in the exercises
# (pygame, tkinter, ...). Each probe here runs on both checkpoints with identical decoding settings
# and seeds, and every completion is checked automatically: does it parse, does it run in the
# sandbox, does it call the right APIs, does it pass its test? In JupyterLab, the explorer widget
# at the end lets you pick a probe or type your own prompt; in a saved notebook the static page
# `comparison.html` carries the same comparison. Figure 3.1 counts the imports across CodeExercises.
#
# **Where it reads and writes.** Paths resolve against the repository root. It compares the models
# of `run_dir`'s training stage (empty: `$PHI_LAB_RUN`, else the most recent finished reproduction
# under `runs/`). With `out_dir` empty it writes a scratch copy (and Figure 3.1) to
# `<run>/explore/probes`, never over the reproduction's own `<run>/probes`; `phi-lab reproduce`
# sets both. On 2 CPU cores: about 30 s (smoke), 11 s (micro: its completions were cached).

# %% tags=["parameters"]
run_dir: str = ""  # reproduction to read (empty: $PHI_LAB_RUN, else the latest finished one in runs/)
out_dir: str = ""  # this stage's outputs (empty: a scratch directory, <run>/explore/probes)
base_model: str = ""  # checkpoint of phi-1-base (empty: the last pretrained model of the training stage)
finetuned_model: str = ""  # checkpoint of phi-1 (empty: that model after CodeExercises)
max_new_tokens: int = 96  # completion budget per probe
device: str = "cpu"  # cpu or cuda
seed: int = 0  # sampling seed (per probe: seed + crc32(probe id))
allow_unisolated: bool = False  # run model-written code even where no sandbox isolation exists and secrets are set (docs/sandbox.md; or set PHI_LAB_ALLOW_UNISOLATED to 1)

# %%
from phi_lab.paths import repo_path, stage_dirs
from phi_lab.training.grid import latest, read_models

dirs = stage_dirs("probes", run_dir, out_dir)
print(dirs.describe())
run, out = dirs.run, dirs.out
models = read_models(run / "training")
base = str(repo_path(base_model)) if base_model else latest(models, finetuned=False).path
tuned = str(repo_path(finetuned_model)) if finetuned_model else latest(models, finetuned=True).path
stats = run / "synthesis" / "exercises" / "import_stats.json"

# %%
import shutil

from IPython.display import HTML, Image, display

from phi_lab.probes.compare import DecodingConfig
from phi_lab.probes.run import run_probes

probe_run = run_probes(
    [base, tuned],
    out,
    names=["phi-1-base", "phi-1"],
    decoding=DecodingConfig(max_new_tokens=max_new_tokens, seed=seed),
    device=device,
    import_stats=stats,
    allow_unisolated=allow_unisolated or None,
)
if dirs.publish != out:  # the run-level copy of Figure 3.1 the report collects
    shutil.copy(out / "figure_3_1.png", dirs.publish / "figure_3_1.png")
display(Image(filename=str(out / "figure_3_1.png")))

# %%
display(HTML((out / "comparison.html").read_text()))

# %% [markdown]
# ## Interactive explorer (JupyterLab)

# %%
from phi_lab.probes.compare import load_models
from phi_lab.probes.widgets import ProbeExplorer

ProbeExplorer(
    load_models([base, tuned], names=["phi-1-base", "phi-1"], device=device),
    decoding=DecodingConfig(max_new_tokens=max_new_tokens, seed=seed),
)

# %%
from phi_lab.io import atomic_write_json

metrics = {"models": {"phi-1-base": base, "phi-1": tuned}, "scores": probe_run.manifest["scores"]}
atomic_write_json(out / "metrics.json", metrics, default=str)  # atomic: metrics.json marks the stage done
