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

# %% tags=["parameters"]
run_dir: str = "runs/dev"  # run directory (set by phi-lab reproduce)
out_dir: str = "runs/dev/evaluation"  # this stage's outputs (set by phi-lab reproduce)
humaneval_limit: int = 0  # only the first N HumanEval problems (0: all 164)
mbpp_limit: int = 0  # only the first N MBPP test problems (0: all 500)
mbpp_path: str = ""  # mbpp.jsonl (empty: PHI_LAB_MBPP or ../shared/data/mbpp/ beside the checkout)
max_new_tokens: int = 128  # completion budget per problem
llm_model: str = ""  # grader model for Table 2 (empty: grade by running the tests)
device: str = "cpu"  # cpu or cuda
seed: int = 0  # sampling seed (greedy decoding ignores it)

# %%
import json
from pathlib import Path

from IPython.display import Markdown, display

from phi_lab.cli import main as phi_lab
from phi_lab.paths import default_mbpp_path

run, out = Path(run_dir), Path(out_dir)
models = json.loads((run / "training" / "models.json").read_text())
mbpp = mbpp_path or str(default_mbpp_path())
# MBPP is not bundled (CC-BY 4.0, read from a path): without it the MBPP columns stay empty, loudly.
has_mbpp = Path(mbpp).exists()
if not has_mbpp:
    display(Markdown(f"**MBPP not found at `{mbpp}`**: its columns are left empty. Set `mbpp_path` or "
                     "`PHI_LAB_MBPP` to an mbpp.jsonl to fill them."))
gen = ["--temperature", "0", "--max-new-tokens", str(max_new_tokens), "--seed", str(seed),
       "--device", device]


def summary(path: Path) -> dict:
    return json.loads((path / "summary.json").read_text())


# %%
rows = []
for m in models:
    d = out / m["name"]
    he = ["--limit", str(humaneval_limit)] if humaneval_limit else []
    mb = ["--limit", str(mbpp_limit)] if mbpp_limit else []
    grader = ["--llm-model", llm_model] if llm_model else []
    assert phi_lab(["eval", "humaneval", "--model", m["path"], "--n", "1", *gen, *he, "--out", str(d / "humaneval")]) == 0
    if has_mbpp:
        assert phi_lab(["eval", "mbpp", "--model", m["path"], "--n", "1", "--mbpp", mbpp, *gen, *mb, "--out", str(d / "mbpp")]) == 0
    for bench, limit in (("humaneval", he), ("mbpp", mb))[: 2 if has_mbpp else 1]:
        assert phi_lab(["eval", "likelihood", "--model", m["path"], "--benchmark", bench, "--mbpp", mbpp, *limit,
                        "--device", device, "--out", str(d / f"nll-{bench}")]) == 0
    assert phi_lab(["eval", "grade", "--model", m["path"], *gen, *grader, "--out", str(d / "graded")]) == 0
    graded = summary(d / "graded")
    rows.append({
        **m,
        "humaneval_pass1": summary(d / "humaneval")["pass@1"],
        "mbpp_pass1": summary(d / "mbpp")["pass@1"] if has_mbpp else None,
        "humaneval_nll": summary(d / "nll-humaneval")["nll_per_token"],
        "mbpp_nll": summary(d / "nll-mbpp")["nll_per_token"] if has_mbpp else None,
        "graded_score": None if graded["score_percent"] is None else graded["score_percent"] / 100,
        "grader": graded["grader"],
        "isolation": summary(d / "humaneval").get("isolation"),
    })

# %%
def fmt(x, spec: str) -> str:
    return "-" if x is None else format(x, spec)


display(Markdown("| model | HumanEval | MBPP | HumanEval NLL | MBPP NLL | graded |\n|---|---|---|---|---|---|\n" + "\n".join(
    f"| {r['name']} | {fmt(r['humaneval_pass1'], '.1%')} | {fmt(r['mbpp_pass1'], '.1%')} | {fmt(r['humaneval_nll'], '.3f')} | "
    f"{fmt(r['mbpp_nll'], '.3f')} | {fmt(r['graded_score'], '.0%')} |"
    for r in rows)))

# %%
(out / "results.json").write_text(json.dumps(rows, indent=2))
metrics = {"models": len(rows), "results": rows}
(out / "metrics.json").write_text(json.dumps(metrics, indent=2))
