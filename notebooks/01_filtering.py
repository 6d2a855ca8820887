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
#
# **Where it reads and writes.** Paths resolve against the repository root. This stage reads no
# earlier stage. With `out_dir` empty it writes a scratch copy to `<run>/explore/filtering`, where
# `<run>` is `$PHI_LAB_RUN` or else the most recent finished reproduction under `runs/` (or to
# `runs/explore/filtering` when there is none yet), never over a reproduction's own
# `<run>/filtering`; `phi-lab reproduce` sets `run_dir` and `out_dir`.
#
# **How long.** On 2 CPU cores: 47 s in the smoke reproduction; with the defaults below (1,200 files,
# MiniLM) 295 s, most of it embedding files and shown by progress bars. The micro preset embeds with
# `hashing:1024` (hashed code tokens), which is much faster and, measured on these labels, agrees better
# with the annotator than MiniLM (README, "Uncertainty").

# %% tags=["parameters"]
run_dir: str = ""  # run directory (empty: $PHI_LAB_RUN, else the latest finished reproduction in runs/)
out_dir: str = ""  # this stage's outputs (empty: a scratch directory, <run>/explore/filtering)
corpus: str = "offline"  # 'offline' (this interpreter's Python files), a directory, or a .jsonl/.parquet file
n_corpus: int = 1200  # files sampled from the corpus and filtered (paper: the whole 35B-token corpus)
n_annotate: int = 400  # of those, files the annotator labels (paper: ~100K)
max_file_kb: int = 6  # skip larger offline files (CPU embedding cost grows with file length)
include_site_packages: bool = True  # offline corpus: site-packages as well as the standard library
annotator: str = "heuristic"  # 'heuristic' (offline) or 'openai' (OpenAI-compatible API from the environment)
llm_model: str = ""  # chat model of the openai annotator, e.g. gpt-4o-mini
embedder: str = "minilm"  # 'minilm' (offline), 'hashing:DIM' (hashed code tokens, model-free) or a causal-LM checkpoint (the paper's choice)
n_estimators: int = 200  # trees in the random forest
keep_fraction: float = 0.3  # fraction of the corpus the filter keeps
seed: int = 0  # order of the offline corpus, and the seed of the annotation sample
text_field: str = ""  # text field/column of a JSONL/Parquet corpus (empty: 'content' or 'text', whichever exists)
executor: str = "local"  # where the datatrove tasks run: 'local', 'slurm' or 'ray'
tasks: int = 1  # tasks the corpus is split into (annotation sample and filter)
workers: int = -1  # tasks at once (-1: local all CPUs, slurm/ray no limit)
device: str = "cpu"  # embedder device for the filter ('cuda': one GPU per task)
batch_size: int = 32  # embedder batch size (chunks per forward pass)

# %%
from phi_lab.paths import repo_path, stage_dirs

dirs = stage_dirs("filtering", run_dir, out_dir, needs_run=False)
print(dirs.describe())
out = dirs.out
labels, clf_dir, filtered = out / "labels.jsonl", out / "classifier", out / "filtered"

# %% [markdown]
# ## 0. A fixed sample of the corpus
# One snapshot (JSONL, with each file's provenance) feeds the annotator, the filter and, in the
# training notebook, the *unfiltered* baseline, so all three see exactly the same files.

# %%
from phi_lab.data import read_source, write_documents
from phi_lab.filtering.run import CorpusSpec
from phi_lab.pipelines import ExecutorConfig

jobs = ExecutorConfig(kind=executor, tasks=tasks, workers=workers)

snapshot = out / "corpus.jsonl"
if corpus == "offline":
    docs = read_source(
        "offline", seed=seed, max_file_bytes=max_file_kb * 1024, include_site_packages=include_site_packages
    )
else:
    docs = read_source(repo_path(corpus), text_field=text_field or None)
n_docs = write_documents(docs, snapshot, limit=n_corpus)
f"{n_docs} documents in {snapshot}"

# %% [markdown]
# ## 1. Annotate a sample

# %%
from phi_lab.filtering.run import annotate_corpus

annotate_corpus(
    CorpusSpec([str(snapshot)], max_documents=n_annotate),
    labels,
    annotator=annotator,
    model=llm_model or None,
    executor=jobs,
)

# %% [markdown]
# ## 2. Learn the labels from embeddings (random forest), scored on a held-out split

# %%
from IPython.display import Markdown, display

from phi_lab.filtering.run import fit_filter

spec = embedder if embedder == "minilm" or embedder.startswith("hashing") else str(repo_path(embedder))
classifier = fit_filter(labels, clf_dir, embedder=spec, n_estimators=n_estimators, seed=seed)
heldout = classifier["heldout"]


def interval(k: str) -> str:  # 95% paired bootstrap over the held-out files
    iv = heldout.get("intervals", {}).get(k)
    return f"[{iv['low']:.3f}, {iv['high']:.3f}]" if iv else ""


display(Markdown(f"Held out: {heldout['n']} files.\n\n| metric | held-out | 95% interval |\n|---|---|---|\n" + "\n".join(
    f"| {k} | {v:.3f} | {interval(k)} |" for k, v in heldout.items() if isinstance(v, float))))

# %% [markdown]
# ## 3. Filter the corpus

# %%
from IPython.display import Image

from phi_lab.filtering.run import apply_filter

manifest = apply_filter(
    CorpusSpec([str(snapshot)], max_documents=n_corpus),
    clf_dir,
    filtered,
    keep_fraction=keep_fraction,
    device=device,
    batch_size=batch_size,
    executor=jobs,
)
display(Image(filename=str(filtered / "histograms.png")))

# %%
from phi_lab.io import atomic_write_json

metrics = {
    "annotated": n_annotate,
    "annotator": annotator,
    "heldout": classifier["heldout"],
    "n_documents": manifest["n_documents"],
    "n_kept": manifest["n_kept"],
    "kept_fraction": manifest["kept_fraction"],
    "threshold": manifest["threshold"],
    "kept": str(filtered / "kept.jsonl"),
    "corpus": str(snapshot),
}
atomic_write_json(out / "metrics.json", metrics)  # atomic: metrics.json marks the stage done
metrics
