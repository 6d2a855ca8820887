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
# # phi-1.5: 20K seed topics, filtered web data, three mixtures, and the report's benchmarks
#
# "Textbooks Are All You Need II" (phi-1.5, arXiv 2309.05463) keeps phi-1's recipe and turns it to
# common sense in natural language: synthetic textbooks seeded by **20K topics** (with web samples in
# the prompts for diversity), **web data filtered** for educational value with phi-1's method, and
# three 1.3B models trained with one recipe on three **mixtures** (phi-1.5, phi-1.5-web-only,
# phi-1.5-web). It reports common-sense and language benchmarks through EleutherAI's **lm-eval**
# harness (its Tables 2-3), **GSM8K by writing Python** that is executed (Table 4), a **safety**
# evaluation on 86 adversarial prompts, and the **prompt formats** that suit a base model.
#
# This notebook runs each of those pieces at CPU scale:
#
# 1. seed topics: >= 20,000 distinct topics from Princeton WordNet 3.0 (Debian's `wordnet-base`), with
#    provenance, and the textbook prompts sampled from them (topic, audience, form, web extract);
# 2. web data: the educational-value filter on natural-language text (offline: documentation shipped
#    inside installed packages, marked as a stand-in for the web);
# 3. the mixtures and the recipe as training presets (and, with `web_only_steps > 0`, a CPU-scale
#    phi-1.5-web-only run: the one mixture whose data exists offline);
# 4. the benchmarks through lm-eval's Hugging Face model class on the training stage's checkpoints;
#    offline the tasks are stand-ins with the hub tasks' formats (`lm_suite="hub"` uses the real ones);
# 5. GSM8K via code in the sandbox, the safety prompts, the prompt formats as a probe set;
# 6. a table beside the report's numbers.
#
# **At CPU scale chance-level scores are expected.** The models here have well under a million
# parameters and were trained on a few thousand tokens of Python, not on phi-1.5's 150B tokens of
# textbooks: the point is that every path runs end to end on the real tools (lm-eval, the sandbox,
# the LLM client), not the numbers. The stand-in tasks have six items each, so one item moves a score
# by 0.17.
#
# **Where it reads and writes.** Paths resolve against the repository root. It evaluates the models
# of `run_dir`'s training stage (empty: `$PHI_LAB_RUN`, else the most recent finished reproduction
# under `runs/`). With `out_dir` empty it writes a scratch copy to `<run>/explore/phi15`;
# `phi-lab reproduce` sets both. On 2 CPU cores the smoke preset takes about a minute.

# %% tags=["parameters"]
run_dir: str = ""  # reproduction to read (empty: $PHI_LAB_RUN, else the latest finished one in runs/)
out_dir: str = ""  # this stage's outputs (empty: a scratch directory, <run>/explore/phi15)
n_topics: int = 20000  # seed topics (the report: 20K)
topic_source: str = "auto"  # 'wordnet' (Princeton WordNet 3.0 nouns), 'composed' (subject x aspect x angle), 'auto' (wordnet if installed)
wordnet_dir: str = "/usr/share/wordnet"  # data.noun, index.noun, cntlist.rev (apt-get install wordnet-base)
n_prompt_examples: int = 4  # textbook prompts to show
web_sources: list = ["offline-web"]  # web corpus: 'offline-web' (stand-in), Parquet/JSONL paths or hf://repo
web_text_field: str = ""  # text column of the web sources (empty: detected)
web_documents: int = 200  # web documents to filter (0: all)
web_annotate: int = 100  # of them annotated for the classifier
web_embedder: str = "hashing:256"  # embedder of the web filter: 'minilm', 'hashing:DIM' or a checkpoint
web_only_steps: int = 0  # train phi-1.5-web-only at CPU scale for this many steps (0: skip)
lm_suite: str = "standin"  # lm-eval tasks: 'standin' (offline, six items each) or 'hub' (downloads data)
lm_tasks: list = ["phi15"]  # benchmarks ('phi15': all ten of the report's Tables 2-3) or lm-eval task names
lm_limit: int = 0  # documents per lm-eval task (0: all)
gsm8k_data: str = ""  # GSM8K JSONL with question/answer (empty: the offline stand-in, 8 problems)
max_new_tokens: int = 64  # budget for GSM8K programs, safety answers and prompt-format probes
safety_grader: str = ""  # grader model on an OpenAI-compatible API (empty: the offline rubric)
device: str = "cpu"  # cpu or cuda
seed: int = 0  # sampling and sampling-order seed
allow_unisolated: bool = False  # run model-written code even where no sandbox isolation exists and secrets are set (docs/sandbox.md; or set PHI_LAB_ALLOW_UNISOLATED to 1)

# %%
import json

from IPython.display import HTML, Markdown, display

from phi_lab.paths import stage_dirs
from phi_lab.training.grid import latest, read_models

dirs = stage_dirs("phi15", run_dir, out_dir)
print(dirs.describe())
run, out = dirs.run, dirs.out
models = read_models(run / "training")
chosen = {"base": latest(models, finetuned=False), "finetuned": latest(models, finetuned=True)}
paths = {f"{m.name}": m.path for m in chosen.values()}
print({k: m.name for k, m in chosen.items()})

# %% [markdown]
# ## 1. Web data filtered for educational value
#
# phi-1's filter (annotate a sample, fit a random forest on embeddings, apply it to all) with a
# natural-language annotator: offline a transparent rubric (prose, explanation, substance, general
# interest), at scale an LLM asked the same question (`phi_lab.filtering.web.OpenAIProseAnnotator`).

# %%
from phi_lab.data.web import web_corpus
from phi_lab.filtering.web import filter_web

web = filter_web(
    web_corpus(web_sources, web_documents or None, seed=seed, text_field=web_text_field or None),
    out / "web",
    n_annotate=web_annotate,
    embedder=web_embedder,
    seed=seed,
    progress=False,
)
kept_web = out / "web" / "filtered" / "kept.jsonl"
display(Markdown(
    f"{web['documents']} documents ({web['stand_in']} from the offline stand-in), {web['annotated']} annotated "
    f"({web['positive_rate']:.0%} educational), held-out accuracy {web['classifier']['heldout']['accuracy']:.2f}; "
    f"**{web['filter']['n_kept']} kept** (threshold {web['filter']['threshold']:.2f})."
))

# %% [markdown]
# ## 2. Seed topics and textbook prompts
#
# Each textbook gets a topic, an audience and a form; half of the prompts also carry an extract of
# filtered web text, as the report's "samples from web datasets for diversity".

# %%
import random

from phi_lab.io import read_jsonl
from phi_lab.synthesis.samplers import CommonSensePromptSampler
from phi_lab.synthesis.topics import category_counts, load_topics

topics = load_topics(n_topics, source=topic_source, wordnet_dir=wordnet_dir, seed=seed)
topics.save(out / "topics")
web_texts = [row["text"] for _, row in read_jsonl(kept_web, on_torn="raise")]
sampler = CommonSensePromptSampler(topics, web_texts=web_texts)
rng = random.Random(seed)
examples = [sampler.sample(rng) for _ in range(n_prompt_examples)]
top = list(category_counts(topics.topics).items())[:8]
display(Markdown(
    f"**{len(topics):,} distinct topics** from {topics.provenance['source']} "
    f"(dropped: {topics.provenance.get('dropped', {})}). Most common categories: "
    + ", ".join(f"{c} {n:,}" for c, n in top)
))
for ex in examples:
    print(ex.messages[-1]["content"], "\n---")

# %% [markdown]
# ## 3. The three mixtures and the recipe, as presets
#
# One recipe (random init, constant lr 2e-4, no warmup, weight decay 0.1, Adam (0.9, 0.98), eps 1e-7,
# fp16, DeepSpeed ZeRO-2, batch 2048 x 2048 tokens, 150B tokens), three mixtures. `phi-1.5-smoke` and
# `phi-1.5-micro` (and the same for each variant) keep the recipe's shape at CPU size. Offline there
# is no synthetic natural-language data (it needs an LLM), so only phi-1.5-web-only can be trained here.

# %%
from phi_lab.training.config import TrainConfig
from phi_lab.training.phi15 import VARIANTS, mixture_data

recipe = TrainConfig.from_preset("phi-1.5")
lines = ["| preset | mixture | report |", "|---|---|---|"]
for v in VARIANTS.values():
    mix = ", ".join(f"{c} {w:.0%}" for c, w in v.weights.items())
    lines.append(f"| {v.name} | {mix} | {v.paper} |")
display(Markdown("\n".join(lines)))
print(
    f"recipe: lr {recipe.lr} {recipe.schedule}, warmup {recipe.warmup_steps}, wd {recipe.weight_decay}, "
    f"betas {recipe.betas}, eps {recipe.eps}, {recipe.precision}, {recipe.engine} ZeRO-{recipe.zero_stage}, "
    f"batch {recipe.batch_size} x {recipe.seq_len}, {recipe.max_steps * recipe.tokens_per_step() / 1e9:.0f}B tokens"
)

# %%
if web_only_steps > 0:
    from phi_lab.data.pack_sources import pack_sources
    from phi_lab.training.launch import run_training

    web_packed = out / "data" / "web_nl"
    pack_sources([str(kept_web)], web_packed, tokenizer=run / "training" / "tokenizer", seed=seed, progress=False)
    size = next(m.preset for m in chosen.values())
    components = {"web_nl": web_packed, "web_code": run / "training" / "data" / "filtered"}
    ckpt = run_training(
        f"phi-1.5-web-only-{size}",
        out / "runs" / "phi-1.5-web-only",
        overrides={"max_steps": web_only_steps, "seed": seed},
        data=mixture_data("phi-1.5-web-only", components),
        device=None if device == "cpu" else device,
    )
    paths[f"phi-1.5-web-only-{size}"] = str(ckpt)

# %% [markdown]
# ## 4. The report's Tables 2-3 through lm-eval
#
# lm-eval's `HFLM` loads each checkpoint directory; its tasks build the prompts and score the
# answers (zero-shot, MMLU 2-shot, SQuAD exact match). Results JSON, lm-eval's table and every
# document's requests land in `lm_eval/<model>/`.

# %%
from phi_lab.evaluation.lm_harness import BENCHMARKS, HarnessConfig, run_lm_harness

harness = HarnessConfig(tasks=lm_tasks, suite=lm_suite, limit=lm_limit or None, device=device, seed=seed)
lm_rows = {name: run_lm_harness(path, out / "lm_eval" / name, harness)["rows"] for name, path in paths.items()}
display(Markdown((out / "lm_eval" / next(iter(paths)) / "table.md").read_text()))

# %% [markdown]
# ## 5. GSM8K via code, safety, prompt formats

# %%
from phi_lab.evaluation.gsm8k import run_gsm8k
from phi_lab.evaluation.run import SamplingOptions, SandboxOptions

greedy = SamplingOptions(max_new_tokens=max_new_tokens, seed=seed, device=device)
isolation = SandboxOptions(allow_unisolated=allow_unisolated or None)  # None: PHI_LAB_ALLOW_UNISOLATED decides
gsm = {
    name: run_gsm8k(out / "gsm8k" / name, model=path, data=gsm8k_data or None, sampling=greedy, sandbox=isolation,
                   progress=False)
    for name, path in paths.items()
}
print({name: (g["pass@1"], g["outcomes"]) for name, g in gsm.items()})

# %%
from phi_lab.evaluation.safety import LLMSafetyGrader, run_safety

grader = None
if safety_grader:
    from phi_lab.llm.client import LLMClient, LLMConfig

    grader = LLMSafetyGrader(LLMClient(LLMConfig(model=safety_grader)))
safety = run_safety(
    paths, out / "safety", grader=grader, max_new_tokens=max_new_tokens, seed=seed, device=device, progress=False
)
lines = ["| model | pass | fail | did not understand | unparsable |", "|---|---|---|---|---|"]
for name, c in safety["counts"].items():
    lines.append(f"| {name} | {c['pass']} | {c['fail']} | {c['did_not_understand']} | {c['unparsable']} |")
display(Markdown(
    "\n".join(lines) + f"\n\n{safety['n_prompts']} prompts, grader: {safety['grader']}. The report used "
    f"{safety['paper']['n_prompts']} prompts of its own; its per-model counts are not transcribed here "
    "(they could not be checked against the report's text)."
))

# %%
from phi_lab.probes.compare import DecodingConfig
from phi_lab.probes.probeset import prompt_formats_path
from phi_lab.probes.run import run_probes

formats = run_probes(
    list(paths.values()),
    out / "prompt_formats",
    names=list(paths),
    probes=prompt_formats_path(),
    decoding=DecodingConfig(max_new_tokens=max_new_tokens, seed=seed),
    device=device,
    progress=False,
    allow_unisolated=allow_unisolated or None,
)
display(HTML((out / "prompt_formats" / "comparison.html").read_text()))

# %% [markdown]
# ### Prompt formats in the explorer (JupyterLab)

# %%
from phi_lab.probes.compare import load_models
from phi_lab.probes.probeset import load_probes
from phi_lab.probes.widgets import ProbeExplorer

entries = load_models(list(paths.values()), names=list(paths), device=device)
ProbeExplorer(entries, probes=load_probes(prompt_formats_path()))

# %% [markdown]
# ## 6. Beside the report's numbers
#
# Chance is what guessing scores. HumanEval and MBPP come from the evaluation stage (notebook 04)
# where it ran.

# %%
from phi_lab.evaluation.phi15_paper import comparison_table

ours = {
    name: {r["benchmark"]: r["value"] for r in rows if r["benchmark"] in BENCHMARKS} for name, rows in lm_rows.items()
}
for name, g in gsm.items():
    ours[name]["gsm8k"] = g["pass@1"]
evaluated = run / "evaluation" / "results.json"
if evaluated.exists():
    for row in json.loads(evaluated.read_text()):
        if row.get("name") in ours:
            ours[row["name"]].update(humaneval=row.get("humaneval_pass1"), mbpp=row.get("mbpp_pass1"))
chance = {b.key: b.chance for b in BENCHMARKS.values()} | {"gsm8k": 0.0, "humaneval": 0.0, "mbpp": 0.0}
note = (
    f"Ours: CPU-scale models of this run ({', '.join(paths)}), lm-eval suite '{lm_suite}'"
    + (" (stand-in tasks, six items each: not comparable with the report)" if lm_suite == "standin" else "")
    + f", GSM8K on {'the offline stand-in (8 problems)' if not gsm8k_data else gsm8k_data}. "
    "At this scale chance-level scores are expected."
)
table = comparison_table(ours, chance, note)
(out / "table_phi15.md").write_text("# phi-1.5 (arXiv 2309.05463) Tables 2-4 beside this run\n\n" + table)
if dirs.publish != out:
    (dirs.publish / "table_phi15.md").write_text((out / "table_phi15.md").read_text())
display(Markdown(table))

# %%
metrics = {
    "models": paths,
    "topics": {"n": len(topics), "provenance": topics.provenance},
    "web": {k: web[k] for k in ("documents", "stand_in", "annotated", "positive_rate")}
    | {"kept": web["filter"]["n_kept"]},
    "lm_eval": lm_rows,
    "gsm8k": {name: {"pass@1": g["pass@1"], "outcomes": g["outcomes"]} for name, g in gsm.items()},
    "safety": safety["counts"],
    "prompt_formats": formats.manifest["scores"],
}
(out / "metrics.json").write_text(json.dumps(metrics, indent=2, default=str))
