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
# panel of Figure 2.1 is where the effect of data quality shows. `report.html` holds everything.

# %% tags=["parameters"]
run_dir: str = "runs/dev"  # run directory (set by phi-lab reproduce)
out_dir: str = "runs/dev/report"  # this stage's outputs (set by phi-lab reproduce)
title: str = "phi-lab: Textbooks Are All You Need, reproduced"  # title of report.html

# %%
import json
from pathlib import Path

import torch
from IPython.display import Image, Markdown, display

from phi_lab import reporting
from phi_lab.model.hf_format import read_config
from phi_lab.model.phi import Phi

run, out = Path(run_dir), Path(out_dir)
results = json.loads((run / "evaluation" / "results.json").read_text())


def n_params(path: str) -> int:
    config = read_config(path)
    with torch.device("meta"):
        return Phi(config).num_parameters()


params = {r["name"]: n_params(r["path"]) for r in results}

# %%
reporting.figure_2_1(results, run / "figure_2_1.png")
display(Image(filename=str(run / "figure_2_1.png")))

# %%
(run / "table_1.md").write_text(reporting.table_1(results, params))
grader = results[0]["grader"] if results else "-"
graded = [{"name": r["name"], "score": r["graded_score"], "humaneval_pass1": r["humaneval_pass1"]} for r in results]
(run / "table_2.md").write_text(reporting.table_2(graded, grader))
for t in ("table_1.md", "table_2.md", "table_3.md"):
    if (run / t).exists():
        display(Markdown((run / t).read_text()))

# %%
page = reporting.report_html(run, title=title)
metrics = {"report": str(page), "figures": ["figure_2_1.png", "figure_3_1.png"],
           "tables": ["table_1.md", "table_2.md", "table_3.md"]}
(out / "metrics.json").write_text(json.dumps(metrics, indent=2))
