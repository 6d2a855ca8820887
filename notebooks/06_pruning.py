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
# # §5 Decontamination and pruning: Table 3
#
# Is phi-1's HumanEval score an artefact of exercises that resemble HumanEval? The paper scores
# every exercise against every HumanEval problem (embedding distance, plus a match rate tau between
# their abstract syntax trees), removes the exercises closer than tau to any problem, retrains on
# what is left and reports pass@1 separately on the "similar" problems (those with a close exercise)
# and the rest. A 13-gram overlap check runs first. Similarities are computed once and cached, so
# the tau sweep is cheap; each pruned set is then finetuned from the same base checkpoint with the
# same settings as the original finetune, and every model is evaluated on all of HumanEval.

# %% tags=["parameters"]
run_dir: str = "runs/dev"  # run directory (set by phi-lab reproduce)
out_dir: str = "runs/dev/pruning"  # this stage's outputs (set by phi-lab reproduce)
taus: list = [0.95, 0.9, 0.85, 0.8]  # AST match-rate thresholds (the paper's four)
embedder: str = "minilm"  # embedder for the distance prefilter: minilm or a causal-LM checkpoint
max_new_tokens: int = 96  # completion budget per HumanEval problem
device: str = "cpu"  # cpu or cuda
seed: int = 0  # training and sampling seed

# %%
import csv
import json
from pathlib import Path

from IPython.display import Markdown, display

from phi_lab.cli import main as phi_lab
from phi_lab.reporting import markdown_table
from phi_lab.training.launch import run_training

run, out = Path(run_dir), Path(out_dir)
exercises = run / "synthesis" / "exercises" / "exercises.jsonl"
models = json.loads((run / "training" / "models.json").read_text())
original = next(m for m in reversed(models) if m["finetuned"])
base = next(m for m in models if m["name"] == original["name"].removesuffix("-ft"))
ft_run = json.loads((Path(original["path"]).parents[1] / "run.json").read_text())["config"]
tau_arg = ",".join(f"{t:g}" for t in taus)

# %% [markdown]
# ## 1. Similarity and pruning decisions for every tau

# %%
prune = ["prune", "--exercises", str(exercises), "--out", str(out), "--taus", tau_arg, "--embedder", embedder,
         "--no-progress"]
assert phi_lab(prune) == 0
pruning = json.loads((out / "pruning.json").read_text())
display(Markdown(markdown_table(["tau", "exercises removed", "similar HumanEval problems"], [
    (t, len(v["removed_ids"]), len(v["similar_tasks"])) for t, v in pruning["taus"].items()])))


# %% [markdown]
# ## 2. Retrain on each pruned set, evaluate every model on all 164 problems

# %%
def evaluate(name: str, ckpt: str) -> tuple[Path, Path]:
    d = out / "eval" / name
    assert phi_lab(["eval", "humaneval", "--model", ckpt, "--n", "1", "--temperature", "0", "--seed", str(seed),
                    "--max-new-tokens", str(max_new_tokens), "--device", device, "--out", str(d / "humaneval")]) == 0
    assert phi_lab(["eval", "likelihood", "--model", ckpt, "--benchmark", "humaneval", "--device", device,
                    "--out", str(d / "nll")]) == 0
    return d / "humaneval" / "results.jsonl", d / "nll" / "likelihood.jsonl"


def finetune(name: str, data: Path) -> str:
    """The original finetune's settings, from the same base checkpoint, on a pruned set."""
    flags = ["--max-steps", str(ft_run["max_steps"]), "--lr", str(ft_run["lr"]), "--warmup-steps",
             str(ft_run["warmup_steps"]), "--weight-decay", str(ft_run["weight_decay"]), "--seed", str(seed),
             "--device", device]
    return str(run_training(base["preset"], out / "runs" / name, *flags, data=str(data), init=base["path"]))


orig_results, orig_nll = evaluate("original", original["path"])
retrained = {}
for t in taus:
    key = f"{t:g}"
    ckpt = finetune(f"tau-{key}", out / "exercises" / f"tau-{key}.jsonl")
    retrained[key] = evaluate(f"tau-{key}", ckpt)

# %% [markdown]
# ## 3. Table 3: pass@1 on similar / non-similar problems (cached similarities: this is fast)

# %%
table = [*prune, "--original-results", str(orig_results), "--original-likelihood", str(orig_nll)]
for key, (res, nll) in retrained.items():
    table += ["--retrained-results", f"{key}={res}", "--retrained-likelihood", f"{key}={nll}"]
assert phi_lab(table) == 0
rows = list(csv.DictReader((out / "table3.csv").open()))
md = "# Table 3: HumanEval pass@1 on problems similar / not similar to CodeExercises\n\n"
md += ("This run's original model is finetuned on all exercises; *retrained* is finetuned on the exercises "
       "left after pruning at tau. The paper's columns are its published numbers for phi-1.\n\n")
md += markdown_table(list(rows[0]), [list(r.values()) for r in rows])
(run / "table_3.md").write_text(md)
display(Markdown(md))

# %%
metrics = {"taus": {k: {"removed": len(v["removed_ids"]), "similar": len(v["similar_tasks"])}
                    for k, v in pruning["taus"].items()}, "table3": rows}
(out / "metrics.json").write_text(json.dumps(metrics, indent=2))
