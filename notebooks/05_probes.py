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
# # §3 Emergent abilities: phi-1-base vs phi-1, side by side
#
# The paper finds that finetuning on CodeExercises improves far more than exercise-like tasks: the
# model follows logical conditions better and uses libraries that never appear in the exercises
# (pygame, tkinter, ...). Each probe here runs on both checkpoints with identical decoding settings
# and seeds, and every completion is checked automatically: does it parse, does it run in the
# sandbox, does it call the right APIs, does it pass its test? In JupyterLab, the explorer widget
# at the end lets you pick a probe or type your own prompt; in a saved notebook the static page
# `comparison.html` carries the same comparison. Figure 3.1 counts the imports across CodeExercises.

# %% tags=["parameters"]
run_dir: str = "runs/dev"  # run directory (set by phi-lab reproduce)
out_dir: str = "runs/dev/probes"  # this stage's outputs (set by phi-lab reproduce)
base_model: str = ""  # checkpoint of phi-1-base (empty: the last pretrained model of the training stage)
finetuned_model: str = ""  # checkpoint of phi-1 (empty: that model after CodeExercises)
max_new_tokens: int = 96  # completion budget per probe
device: str = "cpu"  # cpu or cuda
seed: int = 0  # sampling seed (per probe: seed + crc32(probe id))

# %%
import json
import shutil
from pathlib import Path

from IPython.display import HTML, Image, display

from phi_lab.cli import main as phi_lab

run, out = Path(run_dir), Path(out_dir)
models = json.loads((run / "training" / "models.json").read_text())
base = base_model or next(m for m in reversed(models) if not m["finetuned"])["path"]
tuned = finetuned_model or next(m for m in reversed(models) if m["finetuned"])["path"]
stats = run / "synthesis" / "exercises" / "import_stats.json"

# %%
assert phi_lab(["probe", "--models", base, tuned, "--names", "phi-1-base", "phi-1", "--out", str(out),
                "--max-new-tokens", str(max_new_tokens), "--seed", str(seed), "--device", device,
                "--import-stats", str(stats)]) == 0
shutil.copy(out / "figure_3_1.png", run / "figure_3_1.png")
display(Image(filename=str(run / "figure_3_1.png")))

# %%
display(HTML((out / "comparison.html").read_text()))

# %% [markdown]
# ## Interactive explorer (JupyterLab)

# %%
from phi_lab.probes.compare import load_models
from phi_lab.probes.widgets import ProbeExplorer

ProbeExplorer(load_models([base, tuned], names=["phi-1-base", "phi-1"]))

# %%
manifest = json.loads((out / "manifest.json").read_text())
metrics = {"models": {"phi-1-base": base, "phi-1": tuned}, "scores": manifest.get("scores", manifest)}
(out / "metrics.json").write_text(json.dumps(metrics, indent=2, default=str))
