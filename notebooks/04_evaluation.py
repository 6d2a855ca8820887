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
# # §4 Evaluation: HumanEval, MBPP, solution likelihood, graded unconventional problems
#
# Every completion is hostile input and runs only in phi-lab's sandbox (own pid/mount/network
# namespaces where the machine allows; `isolation` is recorded with every result). pass@1 uses
# greedy decoding and the usual stop sequences. Small models score 0% pass@1, so the mean per-token
# negative log-likelihood of the canonical solutions is reported beside it: the continuous signal
# that shows the paper's data effect at small scale. Table 2's graded score comes from an LLM grader
# when `llm_model` is set and `OPENAI_API_KEY` is in the environment, otherwise from running the
# problems' tests (and the outputs say which).
#
# **Where it reads and writes.** Paths resolve against the repository root. It evaluates the models
# of `run_dir`'s training stage (empty: `$PHI_LAB_RUN`, else the most recent finished reproduction
# under `runs/`). With `out_dir` empty it writes a scratch copy to `<run>/explore/evaluation`, never
# over the reproduction's own `<run>/evaluation`; `phi-lab reproduce` sets both. On 2 CPU cores:
# 18 s for the smoke reproduction's 6 models, about 2 min for the micro one's 24.

# %% tags=["parameters"]
run_dir: str = ""  # reproduction to read (empty: $PHI_LAB_RUN, else the latest finished one in runs/)
out_dir: str = ""  # this stage's outputs (empty: a scratch directory, <run>/explore/evaluation)
humaneval_limit: int = 0  # pass@1 on the first N HumanEval problems only (0: all 164; likelihoods always use all)
mbpp_limit: int = 0  # pass@1 on the first N MBPP test problems only (0: all 500; likelihoods always use all)
mbpp_path: str = ""  # mbpp.jsonl (empty: PHI_LAB_MBPP or ../shared/data/mbpp/ beside the checkout)
max_new_tokens: int = 128  # completion budget per problem
llm_model: str = ""  # grader model for Table 2 (empty: grade by running the tests)
device: str = "cpu"  # cpu or cuda
seed: int = 0  # sampling seed (greedy decoding ignores it)
allow_unisolated: bool = False  # run model-written code even where no sandbox isolation exists and secrets are set (docs/sandbox.md; or set PHI_LAB_ALLOW_UNISOLATED to 1)

# %%
from IPython.display import Markdown, display

from phi_lab.paths import default_mbpp_path, repo_path, stage_dirs
from phi_lab.training.grid import read_models

dirs = stage_dirs("evaluation", run_dir, out_dir)
print(dirs.describe())
run, out = dirs.run, dirs.out
models = read_models(run / "training")
mbpp = repo_path(mbpp_path) if mbpp_path else default_mbpp_path()
# MBPP is not bundled (CC-BY 4.0, read from a path): without it the MBPP columns stay empty, loudly.
has_mbpp = mbpp.exists()
if not has_mbpp:
    display(Markdown(f"**MBPP not found at `{mbpp}`**: its columns are left empty. Set `mbpp_path` or "
                     "`PHI_LAB_MBPP` to an mbpp.jsonl to fill them."))

# %%
from phi_lab.evaluation.run import SamplingOptions, SandboxOptions, run_grade, run_humaneval, run_likelihood, run_mbpp
from phi_lab.model.generation import fit_budget
from phi_lab.model.tools import model_info

# A budget as long as a model's window leaves no room for the prompt: half the smallest window instead.
window = min(model_info(path=m.path)["config"]["max_seq_len"] for m in models)
if fit_budget(max_new_tokens, window) != max_new_tokens:
    print(f"max_new_tokens {max_new_tokens} >= the models' {window}-token window: using {fit_budget(max_new_tokens, window)}")
    max_new_tokens = fit_budget(max_new_tokens, window)

greedy = dict(temperature=0.0, max_new_tokens=max_new_tokens, seed=seed, device=device)
isolation = SandboxOptions(allow_unisolated=allow_unisolated or None)  # None: PHI_LAB_ALLOW_UNISOLATED decides
he_limit, mb_limit = humaneval_limit or None, mbpp_limit or None
rows = []
for m in models:
    d = out / m.name
    he = run_humaneval(d / "humaneval", model=m.path, sampling=SamplingOptions(**greedy, limit=he_limit),
                       sandbox=isolation)
    mb = (
        run_mbpp(d / "mbpp", model=m.path, mbpp=mbpp, sampling=SamplingOptions(**greedy, limit=mb_limit),
                 sandbox=isolation)
        if has_mbpp
        else None
    )
    nll = {
        # every problem: likelihoods are cheap, and the report's intervals and claims are over all of them
        bench: run_likelihood(m.path, d / f"nll-{bench}", benchmark=bench, mbpp=mbpp, device=device)
        for bench in ("humaneval", "mbpp")[: 2 if has_mbpp else 1]
    }
    graded = run_grade(d / "graded", model=m.path, llm_model=llm_model or None, sampling=SamplingOptions(**greedy),
                       sandbox=isolation)
    rows.append({
        **m.to_json(),
        "humaneval_pass1": he["pass@1"],
        "mbpp_pass1": mb["pass@1"] if mb else None,
        "humaneval_nll": nll["humaneval"]["nll_per_token"],
        "mbpp_nll": nll["mbpp"]["nll_per_token"] if has_mbpp else None,
        "graded_score": None if graded["score_percent"] is None else graded["score_percent"] / 100,
        "grader": graded["grader"],
        "isolation": he.get("isolation"),
    })


# %%
def fmt(x, spec: str) -> str:
    return "-" if x is None else format(x, spec)


display(Markdown("| model | HumanEval | MBPP | HumanEval NLL | MBPP NLL | graded |\n|---|---|---|---|---|---|\n" + "\n".join(
    f"| {r['name']} | {fmt(r['humaneval_pass1'], '.1%')} | {fmt(r['mbpp_pass1'], '.1%')} | {fmt(r['humaneval_nll'], '.3f')} | "
    f"{fmt(r['mbpp_nll'], '.3f')} | {fmt(r['graded_score'], '.0%')} |"
    for r in rows)))

# %%
from phi_lab.io import atomic_write_json

atomic_write_json(out / "results.json", rows)
metrics = {"models": len(rows), "results": rows}
atomic_write_json(out / "metrics.json", metrics)  # atomic: metrics.json marks the stage done
