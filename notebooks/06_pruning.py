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
#
# **How long.** One finetune per tau (each in its own process, its log streamed below) plus an
# evaluation of every model: on 2 CPU cores 37 s in the smoke reproduction (2 taus), 63 s with the
# defaults below after it (4 taus), about 2 min in the micro one (4 taus).
#
# **Where it reads and writes.** Paths resolve against the repository root. It reads the exercises
# and models of `run_dir` (empty: `$PHI_LAB_RUN`, else the most recent finished reproduction under
# `runs/`). With `out_dir` empty it writes a scratch copy (Table 3 included) to
# `<run>/explore/pruning`, never over the reproduction's own `<run>/pruning` or `<run>/table_3.md`;
# `phi-lab reproduce` sets both.

# %% tags=["parameters"]
run_dir: str = ""  # reproduction to read (empty: $PHI_LAB_RUN, else the latest finished one in runs/)
out_dir: str = ""  # this stage's outputs (empty: a scratch directory, <run>/explore/pruning)
taus: list = [0.95, 0.9, 0.85, 0.8]  # AST match-rate thresholds (the paper's four)
embedder: str = "minilm"  # embedder for the distance prefilter: minilm or a causal-LM checkpoint
max_new_tokens: int = 96  # completion budget per HumanEval problem
device: str = "cpu"  # cpu or cuda: the embedder, the retraining and the sampling
launcher: str = "none"  # how each retraining starts: none (one process), torchrun (DDP) or deepspeed (ZeRO-2)
nproc_per_node: int = 0  # processes per node (0: the node's GPUs, or 1)
nnodes: int = 1  # nodes (deepspeed: those of the hostfile)
hostfile: str = ""  # DeepSpeed hostfile of the nodes (empty: this machine only)
seed: int = 0  # training and sampling seed
allow_unisolated: bool = False  # run model-written code even where no sandbox isolation exists and secrets are set (docs/sandbox.md; or set PHI_LAB_ALLOW_UNISOLATED to 1)

# %%
from phi_lab.paths import repo_path, stage_dirs
from phi_lab.training.grid import Finetune, base_of, latest, read_models

dirs = stage_dirs("pruning", run_dir, out_dir)
print(dirs.describe())
run, out = dirs.run, dirs.out
exercises = run / "synthesis" / "exercises" / "exercises.jsonl"
models = read_models(run / "training")
original = latest(models, finetuned=True)  # the largest grid model after CodeExercises
base = base_of(original, models)
finetune = Finetune.of(original)  # the original finetune's settings, from its run.json

# %% [markdown]
# ## 1. Similarity and pruning decisions for every tau

# %%
from IPython.display import Markdown, display

from phi_lab.decontamination.pruning import tau_key
from phi_lab.decontamination.run import PruneConfig, Table3Inputs, prune_exercises
from phi_lab.reporting import markdown_table

config = PruneConfig(
    taus=tuple(taus), embedder=embedder if embedder == "minilm" else str(repo_path(embedder)), device=device
)
pruning = prune_exercises(exercises, out, config, progress=False)
display(Markdown(markdown_table(["tau", "exercises removed", "similar HumanEval problems"], [
    (t, len(v["removed_ids"]), len(v["similar_tasks"])) for t, v in pruning["taus"].items()])))

# %% [markdown]
# ## 2. Retrain on each pruned set, evaluate every model on all 164 problems

# %%
from pathlib import Path

from phi_lab.evaluation.run import SamplingOptions, SandboxOptions, run_humaneval, run_likelihood
from phi_lab.training.launch import LaunchConfig, run_training

processes = LaunchConfig(launcher, nproc_per_node, nnodes, str(repo_path(hostfile)) if hostfile else "")
greedy = SamplingOptions(temperature=0.0, max_new_tokens=max_new_tokens, seed=seed, device=device)
isolation = SandboxOptions(allow_unisolated=allow_unisolated or None)  # None: PHI_LAB_ALLOW_UNISOLATED decides


def evaluate(name: str, ckpt: str | Path) -> tuple[Path, Path]:
    d = out / "eval" / name
    run_humaneval(d / "humaneval", model=ckpt, sampling=greedy, sandbox=isolation)
    run_likelihood(ckpt, d / "nll", benchmark="humaneval", device=device)
    return d / "humaneval" / "results.jsonl", d / "nll" / "likelihood.jsonl"


orig_results, orig_nll = evaluate("original", original.path)
retrained = {}
for t in config.taus:
    key = tau_key(t)
    ckpt = run_training(finetune.preset_for(base.preset), out / "runs" / f"tau-{key}",
                        overrides={**finetune.overrides(), "seed": seed}, data=str(out / "exercises" / f"tau-{key}.jsonl"),
                        init=base.path, device=device, launch_config=processes)
    retrained[t] = evaluate(f"tau-{key}", ckpt)

# %% [markdown]
# ## 3. Table 3: pass@1 on similar / non-similar problems (cached similarities: this is fast)

# %%
import csv

from phi_lab.io import atomic_write_text

inputs = Table3Inputs(
    original_results=orig_results,
    retrained_results={t: res for t, (res, _) in retrained.items()},
    original_likelihood=orig_nll,
    retrained_likelihood={t: nll for t, (_, nll) in retrained.items()},
)
prune_exercises(exercises, out, config, inputs, progress=False)
rows = list(csv.DictReader((out / "table3.csv").open()))
md = "# Table 3: HumanEval pass@1 on problems similar / not similar to CodeExercises\n\n"
md += ("This run's original model is finetuned on all exercises; *retrained* is finetuned on the exercises "
       "left after pruning at tau. The paper's columns are its published numbers for phi-1.\n\n")
md += markdown_table(list(rows[0]), [list(r.values()) for r in rows])
# Controlled contamination (notebook 02's plant_problems): how many planted copies each tau finds.
from phi_lab.benchmarks import load_benchmark
from phi_lab.decontamination.planting import PLANTED_FILE, calibration, load_planted

calibrated = None
if (exercises.parent / PLANTED_FILE).exists():
    planted = load_planted(exercises.parent / PLANTED_FILE)
    similar = {t: pruning["taus"][tau_key(t)]["similar_tasks"] for t in config.taus}
    calibrated = calibration(similar, planted, sorted(load_benchmark("humaneval")))
    md += ("\n\n## Calibration: planted near-copies found similar\n\n"
           f"{len(planted)} HumanEval problems were planted into CodeExercises as near-copies (renamed, reordered, "
           "rewritten); *recall* is the share of them found similar at tau, *false matches* the problems "
           "flagged with nothing planted for them (real look-alikes or errors).\n\n")
    cols = [k for k in calibrated[0] if k != "not_planted"]
    md += markdown_table(cols, [[f"{r[k]:.2f}" if isinstance(r[k], float) else r[k] for k in cols] for r in calibrated])
atomic_write_text(dirs.publish / "table_3.md", md)
display(Markdown(md))

# %%
from phi_lab.io import atomic_write_json

metrics = {"taus": {k: {"removed": len(v["removed_ids"]), "similar": len(v["similar_tasks"])}
                    for k, v in pruning["taus"].items()}, "table3": rows, "calibration": calibrated}
atomic_write_json(out / "metrics.json", metrics)  # atomic: metrics.json marks the stage done
