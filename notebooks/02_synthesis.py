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
# # §2.2 Synthetic textbooks and exercises
#
# phi-1 adds <1B tokens of GPT-3.5-written *textbooks* (text interleaved with code; diversity from
# constraints on topic and audience) to the filtered code, making **CodeTextbook**, and ~180M tokens
# of *exercises* (a function signature with a docstring, then its solution; diversity from constrained
# function names) making **CodeExercises**, used for finetuning. phi-1.5 adds 20K seed topics and web
# samples as seeds for common-sense textbooks.
#
# The offline backend (the default) builds both procedurally and from documented functions of the
# corpus, checks every solution against its tests in the sandbox, and labels every record
# `backend: offline`. With `backend: openai` the same pipeline asks an OpenAI-compatible endpoint.

# %% tags=["parameters"]
run_dir: str = "runs/dev"  # run directory (set by phi-lab reproduce)
out_dir: str = "runs/dev/synthesis"  # this stage's outputs (set by phi-lab reproduce)
backend: str = "offline"  # 'offline' or 'openai' (OpenAI-compatible API; key from the environment)
llm_model: str = ""  # model of the openai backend, e.g. gpt-3.5-turbo
n_exercises: int = 300  # CodeExercises records to keep (paper: ~880K)
n_textbooks: int = 60  # textbook sections to keep (paper: <1B tokens)
seed: int = 0  # sampler seed

# %%
import json
from pathlib import Path

from IPython.display import Markdown, display

from phi_lab.cli import main as phi_lab

out = Path(out_dir)
model = ["--model", llm_model] if backend == "openai" else []

# %%
assert phi_lab(["synth", "exercises", "--backend", backend, *model, "--n", str(n_exercises),
                "--seed", str(seed), "--out", str(out / "exercises"), "--quiet"]) == 0
assert phi_lab(["synth", "textbooks", "--backend", backend, *model, "--n", str(n_textbooks),
                "--seed", str(seed), "--out", str(out / "textbooks"), "--quiet"]) == 0

# %% [markdown]
# ## A look at the data

# %%
first = json.loads((out / "exercises" / "exercises.jsonl").open().readline())
display(Markdown(f"**Exercise** `{first['id']}`\n```python\n{first['prompt']}{first['solution']}\n```"))
book = json.loads((out / "textbooks" / "textbooks.jsonl").open().readline())
display(Markdown(book["text"][:1500]))

# %%
cards = {kind: json.loads((out / kind / "dataset_card.json").read_text()) for kind in ("exercises", "textbooks")}
metrics = {"backend": backend, "cards": cards}
(out / "metrics.json").write_text(json.dumps(metrics, indent=2))
metrics
