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
#
# **Where it reads and writes.** Paths resolve against the repository root. This stage reads no
# earlier stage. With `out_dir` empty it writes a scratch copy to `<run>/explore/synthesis`, where
# `<run>` is `$PHI_LAB_RUN` or else the most recent finished reproduction under `runs/` (or to
# `runs/explore/synthesis` when there is none yet), never over a reproduction's own
# `<run>/synthesis`; `phi-lab reproduce` sets `run_dir` and `out_dir`. About 10 s on 2 CPU cores
# (smoke and micro reproductions).

# %% tags=["parameters"]
run_dir: str = ""  # run directory (empty: $PHI_LAB_RUN, else the latest finished reproduction in runs/)
out_dir: str = ""  # this stage's outputs (empty: a scratch directory, <run>/explore/synthesis)
backend: str = "offline"  # 'offline' or 'openai' (OpenAI-compatible API; key from the environment)
llm_model: str = ""  # model of the openai backend, e.g. gpt-3.5-turbo
n_exercises: int = 300  # CodeExercises records to keep (paper: ~880K)
n_textbooks: int = 60  # textbook sections to keep (paper: <1B tokens)
seed: int = 0  # sampler seed
plant_problems: int = 0  # controlled contamination: near-copies of this many HumanEval problems planted into CodeExercises (0: off; paper: 0)
allow_unisolated: bool = False  # run model-written code even where no sandbox isolation exists and secrets are set (docs/sandbox.md; or set PHI_LAB_ALLOW_UNISOLATED to 1)

# %%
from phi_lab.paths import stage_dirs

dirs = stage_dirs("synthesis", run_dir, out_dir, needs_run=False)
print(dirs.describe())
out = dirs.out

# %%
from phi_lab.synthesis.pipeline import SynthConfig, run_synthesis

cards = {}
for kind, n in (("exercises", n_exercises), ("textbooks", n_textbooks)):
    cfg = SynthConfig(
        kind=kind, out=out / kind, n=n, backend=backend, seed=seed, model=llm_model or None,
        allow_unisolated=allow_unisolated or None,
    )
    cards[kind] = run_synthesis(cfg, progress=True)
    if not cards[kind]["complete"]:
        raise RuntimeError(f"{kind}: only {cards[kind]['n_kept']} of {n} kept; see {out / kind / 'dataset_card.md'}")

# %% [markdown]
# ### Controlled contamination (off unless `plant_problems` > 0)
#
# Near-copies of known HumanEval problems (renamed, reordered, rewritten; each checked against the
# problem's own tests in the sandbox) join CodeExercises, recorded in `planted.jsonl`: the pruning stage
# then reports how many of them its similarity search finds at each tau, a known truth to read Table 3
# against. Never in the paper preset.

# %%
if plant_problems:
    from phi_lab.decontamination.planting import plant_into

    planted = plant_into(out / "exercises" / "exercises.jsonl", plant_problems, seed=seed)
    print(f"planted {planted['planted']} near-copies of HumanEval problems ({planted['levels']}): {planted['file']}")

# %% [markdown]
# ## A look at the data

# %%
import json

from IPython.display import Markdown, display

from phi_lab.io import atomic_write_json

first = json.loads((out / "exercises" / "exercises.jsonl").open().readline())
display(Markdown(f"**Exercise** `{first['id']}`\n```python\n{first['prompt']}{first['solution']}\n```"))
book = json.loads((out / "textbooks" / "textbooks.jsonl").open().readline())
display(Markdown(book["text"][:1500]))

# %%
cards = {kind: json.loads((out / kind / "dataset_card.json").read_text()) for kind in ("exercises", "textbooks")}
metrics = {"backend": backend, "cards": cards, "planted": planted if plant_problems else None}
atomic_write_json(out / "metrics.json", metrics)  # atomic: metrics.json marks the stage done
metrics
