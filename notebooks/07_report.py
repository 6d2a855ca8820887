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
# # Report: Figure 2.1 and Tables 1-3
#
# Collects the stages' outputs into the paper's figures and tables, with this run's numbers beside
# the paper's. At CPU scale the models are tiny and pass@1 is mostly 0%; the solution-likelihood
# panel of Figure 2.1 is where the effect of data quality shows. Each of Figure 2.1's claims is measured
# as a paired per-problem NLL difference with a 95% bootstrap interval (`claims.md`), and called
# "supported" only where that interval excludes zero. `report.html` holds everything.
#
# **Where it reads and writes.** Paths resolve against the repository root. It reads the stages of
# `run_dir` (empty: `$PHI_LAB_RUN`, else the most recent finished reproduction under `runs/`).
# Under `phi-lab reproduce` the figures, tables and `report.html` go into the run directory itself;
# with `out_dir` empty (exploring) they go to `<run>/explore/report` instead, so the reproduction's
# own report is never overwritten. A few seconds.

# %% tags=["parameters"]
run_dir: str = ""  # reproduction to read (empty: $PHI_LAB_RUN, else the latest finished one in runs/)
out_dir: str = ""  # this stage's outputs (empty: a scratch directory, <run>/explore/report)
title: str = "phi-lab: Textbooks Are All You Need, reproduced"  # title of report.html

# %%
import json
import shutil

from phi_lab.paths import stage_dirs

dirs = stage_dirs("report", run_dir, out_dir)
print(dirs.describe())
run, out, publish = dirs.run, dirs.out, dirs.publish
results = json.loads((run / "evaluation" / "results.json").read_text())
# What earlier stages published into the run (Figure 3.1, Table 3) joins this report's own outputs.
for name in ("figure_3_1.png", "table_3.md"):
    if publish != run and (run / name).exists():
        shutil.copy(run / name, publish / name)

# %%
from IPython.display import Image, Markdown, display

from phi_lab import reporting
from phi_lab.io import atomic_write_json, atomic_write_text
from phi_lab.model.tools import model_info

params = {r["name"]: model_info(path=r["path"])["parameters"] for r in results}
from phi_lab.reporting.claims import figure_2_1_intervals

# bars: mean over seeds; error bars: 95% bootstrap intervals over problems (BCa)
reporting.figure_2_1(results, publish / "figure_2_1.png", intervals=figure_2_1_intervals(results, run / "evaluation"))
display(Image(filename=str(publish / "figure_2_1.png")))

# %%
from phi_lab.reporting.claims import claims_table, figure_2_1_claims

# Figure 2.1's claims with 95% bootstrap intervals over problems: "supported" only where it excludes zero
claims = figure_2_1_claims(results, run / "evaluation", params)
atomic_write_text(publish / "claims.md", claims_table(claims))
atomic_write_text(publish / "table_1.md", reporting.table_1(results, params))
grader = results[0]["grader"] if results else "-"
graded = [{"name": r["name"], "score": r["graded_score"], "humaneval_pass1": r["humaneval_pass1"]} for r in results]
atomic_write_text(publish / "table_2.md", reporting.table_2(graded, grader))
for t in ("claims.md", "table_1.md", "table_2.md", "table_3.md"):
    if (publish / t).exists():
        display(Markdown((publish / t).read_text()))

# %%
page = reporting.report_html(publish, title=title)
metrics = {"report": str(page), "figures": ["figure_2_1.png", "figure_3_1.png"],
           "tables": ["claims.md", "table_1.md", "table_2.md", "table_3.md"],
           "claims": [c.to_dict() for c in claims]}
atomic_write_json(out / "metrics.json", metrics)  # atomic: metrics.json marks the stage done
