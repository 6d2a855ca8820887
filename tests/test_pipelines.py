"""The corpus stages as datatrove pipelines: same outputs for any task count, resume, Ray, Slurm, dedup, sample.

The embedder here is `HashingEmbedder`: it embeds each text on its own, so any split into tasks must
give byte-identical outputs, which is what these tests check (MiniLM is tested elsewhere).
"""

from __future__ import annotations

import builtins
import itertools
import json
import keyword
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from edu_corpus import NAMES, corpus_texts

from phi_lab.data.documents import EmptySourceError
from phi_lab.data.sample import sample_documents
from phi_lab.data.sources import read_source
from phi_lab.filtering.classifier import ClassifierConfig, fit_classifier
from phi_lab.filtering.corpus_filter import FilterConfig
from phi_lab.filtering.hashing_embedder import HashingEmbedder
from phi_lab.filtering.heuristic import HeuristicAnnotator
from phi_lab.filtering.labels import read_labels, read_labels_metadata
from phi_lab.pipelines import ExecutorConfig, filter_corpus
from phi_lab.pipelines.annotate import annotate_corpus
from phi_lab.pipelines.dedup import minhash_dedup

REPO = Path(__file__).resolve().parents[1]
OUTPUTS = ["kept.jsonl", "dropped.jsonl", "manifest.json", "histograms.png", "skipped.jsonl"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """12 files, one per work unit: half textbook-like, half GUI boilerplate, and one unreadable."""
    src = tmp_path_factory.mktemp("pipelines") / "src"
    src.mkdir()
    for i, (name, text) in enumerate(corpus_texts().items()):
        if i == 2:
            text += "# BLOCK_HERE\n"  # the first file task 2 of 4 reads (units 2, 6, 10)
        (src / name).write_text(text)
    (src / "zz_latin1.py").write_bytes("x = 'caf\xe9'\n".encode("latin-1"))  # skipped with its reason
    return src


@pytest.fixture(scope="module")
def classifier(corpus, tmp_path_factory) -> Path:
    docs = list(read_source(corpus))
    labels = HeuristicAnnotator().annotate(docs)
    emb = HashingEmbedder()
    y = np.array([lab.label for lab in labels])
    cfg = ClassifierConfig(n_estimators=25, test_fraction=0.34)
    X = emb.embed([d.text for d in docs])
    clf = fit_classifier(X, y, emb.name, {"name": "heuristic"}, cfg, keys=[d.sha256 for d in docs])
    clf.extra["embedder_spec"] = "hashing"
    return clf.save(tmp_path_factory.mktemp("clf"))


def run_filter(corpus: Path, classifier: Path, out: Path, executor: ExecutorConfig, **kw) -> dict:
    config = kw.pop("config", FilterConfig(shard_size=1))
    return filter_corpus([str(corpus)], classifier, out, config, executor, progress=False, **kw)


@pytest.fixture(scope="module")
def reference(corpus, classifier, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("reference") / "run"
    run_filter(corpus, classifier, out, ExecutorConfig(tasks=1, workers=1))
    return out


def outputs(out: Path) -> dict[str, bytes]:
    return {f: (out / f).read_bytes() for f in OUTPUTS}


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_reference_run_keeps_textbook_files_with_reasons(reference, corpus):
    kept, dropped = rows(reference / "kept.jsonl"), rows(reference / "dropped.jsonl")
    manifest = json.loads((reference / "manifest.json").read_text())
    t = manifest["threshold"]
    assert len(kept) + len(dropped) == len(NAMES) == manifest["n_documents"]
    assert kept and all(r["kept"] and f">= threshold {t:.4f}" in r["reason"] for r in kept)
    assert dropped and all(
        not r["kept"] and r["score"] < t and f"< threshold {t:.4f}" in r["reason"] for r in dropped
    )
    assert {r["path"] for r in kept + dropped} == {str(p) for p in corpus.glob("f*.py")}
    assert [(r["unit"], r["offset"]) for r in kept] == sorted((r["unit"], r["offset"]) for r in kept)
    assert (
        manifest["skipped"] == {"non-utf8": 1} and "zz_latin1.py" in (reference / "skipped.jsonl").read_text()
    )
    assert sum(manifest["sources"]["src"]["histogram"]) == len(NAMES)
    assert (reference / "histograms.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_files_whose_label_trained_the_forest_are_marked(reference, classifier):
    """§2.1 scores the whole corpus, the annotated sample included: those scores are optimistic."""
    fitted = set(json.loads((classifier / "classifier.json").read_text())["fitted_sha256"])
    rows = [json.loads(line) for f in ("kept.jsonl", "dropped.jsonl") for line in (reference / f).open()]
    marked = {r["sha256"] for r in rows if r["fitted_on"]}
    assert marked == fitted and 0 < len(marked) < len(rows)
    assert all(("fitted on this file's label" in r["reason"]) == r["fitted_on"] for r in rows)


def test_one_task_and_four_tasks_give_identical_outputs(reference, corpus, classifier, tmp_path):
    out = tmp_path / "four"
    result = run_filter(corpus, classifier, out, ExecutorConfig(tasks=4, workers=2))
    assert result["pipeline"]["stages"]["score"]["ran"] == 4
    assert len(list((out / "parts" / "scores").glob("*.jsonl"))) == 4
    assert outputs(out) == outputs(reference)  # kept and dropped sets, reasons, histograms, manifest


def test_killed_run_reruns_only_unfinished_tasks(reference, corpus, classifier, tmp_path):
    out, blocked = tmp_path / "killed", tmp_path / "blocked"
    script = tmp_path / "stalling_run.py"
    script.write_text(
        "import sys, time\n"
        "from pathlib import Path\n"
        "from phi_lab.filtering.corpus_filter import FilterConfig\n"
        "from phi_lab.filtering.hashing_embedder import HashingEmbedder\n"
        "from phi_lab.pipelines import ExecutorConfig, filter_corpus\n\n"
        "class Stalls(HashingEmbedder):\n"
        "    def embed(self, texts, batch_size=32, progress=False):\n"
        "        if any('BLOCK_HERE' in t for t in texts):  # task 2 hangs until it is killed\n"
        "            Path(sys.argv[3]).touch()\n"
        "            time.sleep(600)\n"
        "        return super().embed(texts, batch_size, progress)\n\n"
        "if __name__ == '__main__':\n"
        "    filter_corpus([sys.argv[1]], sys.argv[2], sys.argv[4], FilterConfig(shard_size=1),\n"
        "                  ExecutorConfig(tasks=4, workers=1), embedder=Stalls(), progress=False)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO), "TQDM_DISABLE": "1"}
    proc = subprocess.Popen(
        [sys.executable, str(script), str(corpus), str(classifier), str(blocked), str(out)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,  # the whole run (pool and manager processes too) is killed below
    )
    try:
        deadline = time.monotonic() + 120
        while not blocked.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert blocked.exists(), proc.stderr.read().decode()[-3000:] if proc.poll() is not None else "timeout"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    completions = out / "logs" / "score" / "completions"
    assert sorted(p.name for p in completions.iterdir()) == ["00000", "00001"]
    assert not (out / "kept.jsonl").exists()
    done = {p: p.stat().st_mtime_ns for p in sorted((out / "parts" / "scores").glob("*.jsonl"))}
    assert [p.name for p in done] == ["00000.jsonl", "00001.jsonl"]

    result = run_filter(
        corpus, classifier, out, ExecutorConfig(tasks=4, workers=1), embedder=HashingEmbedder()
    )
    assert result["pipeline"]["stages"]["score"]["ran"] == 2  # tasks 2 and 3 only
    assert {p: p.stat().st_mtime_ns for p in done} == done  # the finished tasks' outputs untouched
    assert outputs(out) == outputs(reference)
    again = run_filter(
        corpus, classifier, out, ExecutorConfig(tasks=4, workers=1), embedder=HashingEmbedder()
    )
    assert all(s["ran"] == 0 for s in again["pipeline"]["stages"].values())


def test_a_new_cut_reuses_the_scores(reference, corpus, classifier, tmp_path):
    out = tmp_path / "frac"
    shutil.copytree(reference, out)
    scores = {p: p.stat().st_mtime_ns for p in (out / "parts" / "scores").iterdir()}
    result = run_filter(
        corpus, classifier, out, ExecutorConfig(), config=FilterConfig(shard_size=1, keep_fraction=0.25)
    )
    ran = {k: v["ran"] for k, v in result["pipeline"]["stages"].items()}
    assert ran == {"score": 0, "threshold": 1, "verdicts": 1, "report": 1}
    assert {p: p.stat().st_mtime_ns for p in scores} == scores
    kept = rows(out / "kept.jsonl")
    all_scores = sorted(
        r["score"] for r in rows(reference / "kept.jsonl") + rows(reference / "dropped.jsonl")
    )
    assert result["threshold"] == all_scores[-3] and len(kept) == sum(s >= all_scores[-3] for s in all_scores)


def test_refuses_other_settings_and_a_changed_corpus(reference, corpus, classifier, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(reference, out)
    with pytest.raises(ValueError, match="'shard_size'"):
        run_filter(corpus, classifier, out, ExecutorConfig(), config=FilterConfig(shard_size=2))
    with pytest.raises(ValueError, match="'tasks'"):
        run_filter(corpus, classifier, out, ExecutorConfig(tasks=2))
    first = sorted(corpus.glob("f*.py"))[0]
    original, st = first.read_text(), first.stat()
    try:
        first.write_text(original + "\n# edited\n")
        with pytest.raises(ValueError, match="corpus changed"):
            run_filter(corpus, classifier, out, ExecutorConfig())
    finally:
        first.write_text(original)
        os.utime(first, ns=(st.st_atime_ns, st.st_mtime_ns))  # the other tests' plans stay the same


def test_a_source_without_documents_is_an_error(corpus, classifier, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "blank.py").write_text("   \n")
    with pytest.raises(
        RuntimeError, match=r"empty: no documents: looked for UTF-8, non-empty \.py files.*blank\.py"
    ):
        filter_corpus(
            [str(corpus), str(empty)],
            classifier,
            tmp_path / "out",
            FilterConfig(shard_size=4),
            progress=False,
        )
    (tmp_path / "nothing").mkdir()
    with pytest.raises(EmptySourceError, match="no corpus files"):
        filter_corpus([str(tmp_path / "nothing")], classifier, tmp_path / "out2", progress=False)


@pytest.mark.slow
def test_ray_executor_gives_the_same_kept_set(reference, corpus, classifier, tmp_path):
    ray = pytest.importorskip("ray")
    for attempt in range(2):  # Ray gives its raylet a fixed 30 s to start; a loaded machine may need two goes
        try:
            ray.init(
                num_cpus=2, include_dashboard=False, object_store_memory=100 * 1024**2, log_to_driver=False
            )
            break
        except Exception as e:
            ray.shutdown()
            if attempt or "timed out during startup" not in str(e):
                raise
    try:
        out = tmp_path / "ray"
        cfg = ExecutorConfig(kind="ray", tasks=3, mem_per_cpu_gb=0.25)
        result = run_filter(corpus, classifier, out, cfg)
    finally:
        ray.shutdown()
    assert result["pipeline"]["stages"]["score"]["ran"] == 3
    assert rows(out / "kept.jsonl") == rows(reference / "kept.jsonl")
    assert outputs(out) == outputs(reference)


SBATCH = r'''#!/usr/bin/env python3
"""Stand-in sbatch: runs each array task of the script now, in order, with the SLURM_* variables set."""
import json, os, re, subprocess, sys
from pathlib import Path

state = Path(os.environ["FAKE_SLURM_STATE"])
jobs_file = state / "jobs.json"
jobs = json.loads(jobs_file.read_text()) if jobs_file.exists() else {}
opts, script = {}, None
for arg in sys.argv[1:]:
    if arg.startswith("--"):
        k, _, v = arg[2:].partition("=")
        opts[k] = v
    else:
        script = arg
text = Path(script).read_text()
for k, v in re.findall(r"^#SBATCH --([\w-]+)(?:=(.*))?$", text, re.M):
    opts.setdefault(k, v)
job_id = str(100 + len(jobs))
deps = [j for d in opts.get("dependency", "").split(",") if d for j in d.split(":")[1:]]
ready = all(jobs.get(j, {}).get("state") == "ok" for j in deps)
env = dict(os.environ)
for pair in opts.get("export", "ALL").split(",")[1:]:
    k, _, v = pair.partition("=")
    env[k] = v
m = re.fullmatch(r"(\d+)-(\d+)(?:%\d+)?", opts.get("array", ""))
tasks = list(range(int(m.group(1)), int(m.group(2)) + 1)) if m else [None]
body = state / f"job-{job_id}.sh"
body.write_text(text)
record = {"opts": opts, "tasks": len(tasks), "state": "ok" if ready else "dependency never satisfied"}
for t in tasks if ready else []:
    tenv = {**env, "SLURM_JOB_ID": job_id, "SLURM_NODELIST": "localhost", "SLURM_NODEID": "0", "SLURM_PROCID": "0"}
    if t is not None:
        tenv.update(SLURM_ARRAY_JOB_ID=job_id, SLURM_ARRAY_TASK_ID=str(t))
    log = opts["output"].replace("%A", job_id).replace("%a", str(t))
    Path(log).parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as f:
        rc = subprocess.run(["bash", str(body)], env=tenv, stdout=f, stderr=subprocess.STDOUT).returncode
    if rc:
        record["state"] = f"failed: task {t} exit {rc}, see {log}"
jobs[job_id] = record
jobs_file.write_text(json.dumps(jobs, indent=1))
print(f"Submitted batch job {job_id}")
'''
SRUN = """#!/usr/bin/env python3
import os, sys
args = sys.argv[1:]
while args and args[0].startswith("-"):
    if args.pop(0) in ("-n", "-N") and args:
        args.pop(0)
os.execvp(args[0], args)
"""
SCONTROL = """#!/usr/bin/env python3
import sys
if sys.argv[1:3] == ["show", "hostnames"]:
    print("\\n".join(sys.argv[3].split(",")))
"""


@pytest.mark.slow
def test_slurm_executor_runs_its_array_jobs_through_sbatch(
    reference, corpus, classifier, tmp_path, monkeypatch
):
    bin_dir, state = tmp_path / "bin", tmp_path / "slurm"
    bin_dir.mkdir()
    state.mkdir()
    for name, text in {"sbatch": SBATCH, "srun": SRUN, "scontrol": SCONTROL}.items():
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(stat.S_IRWXU)
    monkeypatch.setenv("PATH", f"{bin_dir}:{Path(sys.executable).parent}:{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_SLURM_STATE", str(state))
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    out = tmp_path / "slurm-run"
    cfg = ExecutorConfig(kind="slurm", tasks=3, partition="cpu", gpus_per_task=1, time="00:10:00")
    result = run_filter(corpus, classifier, out, cfg)
    assert result["submitted"]["submitted"] is True
    jobs = json.loads((state / "jobs.json").read_text())
    assert all(j["state"] == "ok" for j in jobs.values()), jobs
    ids = {k: v["job_id"] for k, v in result["submitted"]["stages"].items()}
    assert jobs[ids["score"]]["tasks"] == 3 and jobs[ids["verdicts"]]["tasks"] == 3
    assert jobs[ids["threshold"]]["opts"]["dependency"] == f"afterok:{ids['score']}"
    assert jobs[ids["report"]]["opts"]["dependency"] == f"afterok:{ids['verdicts']}"
    assert jobs[ids["score"]]["opts"]["partition"] == "cpu" and jobs[ids["score"]]["opts"]["gpus"] == "1"
    assert "gpus" not in jobs[ids["threshold"]]["opts"]  # only the embedding stage asks for GPUs
    assert outputs(out) == outputs(reference)


def test_annotation_sample_is_uniform_over_the_corpus_and_recorded(corpus, tmp_path):
    one = annotate_corpus([str(corpus)], tmp_path / "one.jsonl", 4, 3, shard_size=1, progress=False)
    annotate_corpus(
        [str(corpus)],
        tmp_path / "three.jsonl",
        4,
        3,
        executor=ExecutorConfig(tasks=3),
        shard_size=1,
        progress=False,
    )
    assert (tmp_path / "one.jsonl").read_bytes() == (tmp_path / "three.jsonl").read_bytes()
    labels = list(read_labels(one["labels"]))
    expected, n = sample_documents(read_source(corpus), 4, seed=3)
    order = [d.path for d in read_source(corpus)]
    assert [lab.path for lab in labels] == sorted((d.path for d in expected), key=order.index)  # corpus order
    assert n == len(NAMES)
    meta = read_labels_metadata(one["labels"])["sample"]
    assert (meta["seed"], meta["size"], meta["corpus_size"]) == (3, 4, len(NAMES))
    assert "bottom-k" in meta["method"] and meta["corpus_by_source"] == {"src": len(NAMES)}
    other = annotate_corpus([str(corpus)], tmp_path / "other.jsonl", sample_size=4, seed=4, progress=False)
    assert [lab.path for lab in read_labels(other["labels"])] != [lab.path for lab in labels]


def test_minhash_dedup_removes_near_copies_and_names_the_kept_one(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    names = [w for w in dir(builtins) if w.isalpha() and w.islower()][:40] + keyword.kwlist[:10]
    base = "\n".join(
        f"def {a}_{b}(values, limit):\n    return [{b}(v) for v in values if {a}(v) < limit]\n"
        for a, b in itertools.pairwise(names)
    )
    (src / "a_original.py").write_text(base)
    (src / "b_renamed.py").write_text(base.replace("limit", "bound", 2))
    (src / "c_commented.py").write_text("# a copy\n" + base)
    words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet"]
    for i, name in enumerate(["d_other.py", "e_other.py"]):
        lines = [
            f"class {w.title()}{i}:\n    {words[(j + 3 * i) % 10]} = '{w}'\n" for j, w in enumerate(words)
        ]
        (src / name).write_text("\n".join(lines[::-1] if i else lines))
    m = minhash_dedup([str(src)], tmp_path / "out", ExecutorConfig(tasks=2), shard_size=1, progress=False)
    assert (m["n_documents"], m["n_kept"], m["n_removed"], m["clusters"]) == (5, 3, 2, 1)
    removed = rows(tmp_path / "out" / "removed.jsonl")
    kept_paths = {r["path"] for r in rows(tmp_path / "out" / "kept.jsonl")}
    copies = {str(src / n) for n in ("a_original.py", "b_renamed.py", "c_commented.py")}
    assert {r["path"] for r in removed} | (kept_paths & copies) == copies
    assert all(r["duplicate_of"] in kept_paths & copies and "near-duplicate" in r["reason"] for r in removed)
    assert {str(src / "d_other.py"), str(src / "e_other.py")} <= kept_paths


def test_hashing_embedder_rows_do_not_depend_on_the_batch():
    emb = HashingEmbedder(dim=64)
    texts = ["def f(x):\n    return x + 1\n", "import os\nprint(os.getcwd())\n", ""]
    together = emb.embed(texts)
    assert together.shape == (3, 64) and np.allclose(np.linalg.norm(together[:2], axis=1), 1.0)
    for i, t in enumerate(texts):
        assert np.array_equal(emb.embed([t])[0], together[i])
    assert not np.array_equal(together[0], HashingEmbedder(dim=64, seed=1).embed(texts[:1])[0])
