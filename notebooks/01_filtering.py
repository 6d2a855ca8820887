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
# # §2.1 Filtering code for educational value
#
# phi-1 starts from The Stack + StackOverflow (Python, ~35B tokens) and keeps only what a strong
# LLM judges to have *educational value for a student whose goal is to learn basic coding concepts*.
# Annotating 35B tokens with GPT-4 is too expensive, so the paper annotates ~100K files, embeds every
# file with a pretrained code model, trains a random forest on the embeddings to predict the label,
# and filters the whole corpus with it (35B -> ~6B tokens).
#
# Here the same three steps run on the offline stand-in corpus (this interpreter's stdlib and
# site-packages) with the offline `heuristic` annotator, which scores the paper's four criteria;
# set `annotator: openai` (key from `OPENAI_API_KEY`, never a parameter) to use an LLM instead.

# %% tags=["parameters"]
run_dir: str = "runs/dev"  # run directory (set by phi-lab reproduce)
out_dir: str = "runs/dev/filtering"  # this stage's outputs (set by phi-lab reproduce)
corpus: str = "offline"  # 'offline' (this interpreter's Python files), a directory, or a .jsonl/.parquet file
n_corpus: int = 2000  # files sampled from the corpus and filtered (paper: the whole 35B-token corpus)
n_annotate: int = 400  # of those, files the annotator labels (paper: ~100K)
max_file_kb: int = 16  # skip larger offline files (CPU embedding cost grows with file length)
include_site_packages: bool = True  # offline corpus: site-packages as well as the standard library
annotator: str = "heuristic"  # 'heuristic' (offline) or 'openai' (OpenAI-compatible API from the environment)
llm_model: str = ""  # chat model of the openai annotator, e.g. gpt-4o-mini
embedder: str = "minilm"  # 'minilm' (offline) or a causal-LM checkpoint directory (the paper's choice)
n_estimators: int = 200  # trees in the random forest
keep_fraction: float = 0.3  # fraction of the corpus the filter keeps
seed: int = 0  # order of the offline corpus

# %%
import json
from pathlib import Path

from IPython.display import Image, Markdown, display

from phi_lab.cli import main as phi_lab

out = Path(out_dir)
labels, clf_dir, filtered = out / "labels.jsonl", out / "classifier", out / "filtered"

# %% [markdown]
# ## 0. A fixed sample of the corpus
# One snapshot (JSONL, with each file's provenance) feeds the annotator, the filter and, in the
# training notebook, the *unfiltered* baseline, so all three see exactly the same files.

# %%
from phi_lab.data import read_source, write_documents

snapshot = out / "corpus.jsonl"
kwargs = dict(seed=seed, max_file_bytes=max_file_kb * 1024, include_site_packages=include_site_packages)
docs = read_source(corpus, **(kwargs if corpus == "offline" else {}))
n_docs = write_documents(docs, snapshot, limit=n_corpus)
common = ["--corpus", str(snapshot)]
f"{n_docs} documents in {snapshot}"

# %% [markdown]
# ## 1. Annotate a sample

# %%
annotate = ["filter", "annotate", *common, "--max-documents", str(n_annotate), "--annotator", annotator]
if annotator == "openai":
    annotate += ["--model", llm_model]
assert phi_lab([*annotate, "--out", str(labels)]) == 0

# %% [markdown]
# ## 2. Learn the labels from embeddings (random forest), scored on a held-out split

# %%
assert phi_lab(["filter", "fit", "--labels", str(labels), "--embedder", embedder,
                "--n-estimators", str(n_estimators), "--seed", str(seed), "--out", str(clf_dir)]) == 0
classifier = json.loads((clf_dir / "classifier.json").read_text())
display(Markdown("| metric | held-out |\n|---|---|\n" + "\n".join(
    f"| {k} | {v:.3f} |" for k, v in classifier["metrics"].items() if isinstance(v, float))))

# %% [markdown]
# ## 3. Filter the corpus

# %%
assert phi_lab(["filter", "apply", *common, "--max-documents", str(n_corpus), "--classifier", str(clf_dir),
                "--keep-fraction", str(keep_fraction), "--out", str(filtered)]) == 0
manifest = json.loads((filtered / "manifest.json").read_text())
display(Image(filename=str(filtered / "histograms.png")))

# %%
metrics = {
    "annotated": n_annotate,
    "annotator": annotator,
    "heldout": classifier["metrics"],
    "n_documents": manifest["n_documents"],
    "n_kept": manifest["n_kept"],
    "kept_fraction": manifest["kept_fraction"],
    "threshold": manifest["threshold"],
    "kept": str(filtered / "kept.jsonl"),
    "corpus": str(snapshot),
}
(out / "metrics.json").write_text(json.dumps(metrics, indent=2))
metrics
