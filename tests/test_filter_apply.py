"""annotate -> fit -> apply through the CLI; a SIGKILLed apply reruns only its unfinished tasks, to identical outputs."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from edu_corpus import NAMES, write_corpus

from phi_lab.cli import main

REPO = Path(__file__).resolve().parents[1]
SHARD = 2  # 6 work units of 2 files
TASKS = 6  # one unit per task: enough tasks to kill the run between two of them


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A small .py corpus (half textbook-like, half GUI boilerplate), its labels and a classifier."""
    d = tmp_path_factory.mktemp("filter")
    src = write_corpus(d / "src")
    labels, clf = d / "labels.jsonl", d / "clf"
    assert main(["filter", "annotate", "--corpus", str(src), "--out", str(labels)]) == 0
    assert (
        main(
            [
                "filter",
                "fit",
                "--labels",
                str(labels),
                "--n-estimators",
                "25",
                "--test-fraction",
                "0.34",
                "--out",
                str(clf),
            ]
        )
        == 0
    )
    return src, clf


@pytest.fixture(scope="module")
def reference(trained, tmp_path_factory):
    """One uninterrupted `apply` run that the other tests compare against or reuse."""
    src, clf = trained
    out = tmp_path_factory.mktemp("reference") / "run"
    assert main(_apply_args(src, clf, out)) == 0
    return out


def test_refit_reuses_cached_embeddings(trained, tmp_path, monkeypatch):
    _src, clf = trained
    from phi_lab.model.embeddings import MiniLMEmbedder

    labels = clf.parent / "labels.jsonl"
    out = tmp_path / "clf"
    shutil.copytree(clf, out)  # holds embeddings.npz from the fixture's fit
    monkeypatch.setattr(MiniLMEmbedder, "embed", lambda *a, **k: pytest.fail("re-embedded cached files"))
    assert (
        main(
            [
                "filter",
                "fit",
                "--labels",
                str(labels),
                "--n-estimators",
                "10",
                "--test-fraction",
                "0.34",
                "--threshold",
                "0.3",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert json.loads((out / "classifier.json").read_text())["threshold"] == 0.3


def _apply_args(src: Path, clf: Path, out: Path, *extra: str) -> list[str]:
    return [
        "filter",
        "apply",
        "--corpus",
        str(src),
        "--classifier",
        str(clf),
        "--shard-size",
        str(SHARD),
        "--tasks",
        str(TASKS),
        "--workers",
        "1",
        "--out",
        str(out),
        *extra,
    ]


def _outputs(out: Path) -> dict[str, bytes]:
    files = ["kept.jsonl", "dropped.jsonl", "manifest.json", "run.json", "skipped.jsonl"]
    files += [f"parts/scores/{p.name}" for p in sorted((out / "parts" / "scores").iterdir())]
    return {f: (out / f).read_bytes() for f in files}


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_apply_writes_verdicts_reasons_and_histograms(trained, reference, tmp_path):
    src, clf = trained
    kept, dropped = _rows(reference / "kept.jsonl"), _rows(reference / "dropped.jsonl")
    assert len(kept) + len(dropped) == len(NAMES)
    # The classifier learned the annotator's taste: textbook files kept, GUI boilerplate dropped.
    assert all("_sum(values)" in r["text"] for r in kept) and all("tkinter" in r["text"] for r in dropped)
    manifest = json.loads((reference / "manifest.json").read_text())
    cut = json.loads((clf / "classifier.json").read_text())["threshold"]  # tuned out of bag at fit
    assert manifest["threshold"] == cut
    assert dropped and all(r["score"] < cut and f"< threshold {cut:.4f}" in r["reason"] for r in dropped)
    assert kept and all(r["kept"] and f">= threshold {cut:.4f}" in r["reason"] for r in kept)
    assert manifest["n_documents"] == len(NAMES) and manifest["n_units"] == len(NAMES) // SHARD
    assert (reference / "histograms.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # A target keep-fraction picks its threshold from the stored scores: nothing is re-scored.
    out = tmp_path / "frac"
    shutil.copytree(reference, out)
    before = {p.name: p.stat().st_mtime_ns for p in (out / "parts" / "scores").iterdir()}
    assert main(_apply_args(src, clf, out, "--keep-fraction", "0.25")) == 0
    assert before == {p.name: p.stat().st_mtime_ns for p in (out / "parts" / "scores").iterdir()}
    m2 = json.loads((out / "manifest.json").read_text())
    assert m2["n_kept"] == 3 and m2["threshold"] == sorted(r["score"] for r in kept)[-3]


def test_apply_resumes_after_sigkill_to_identical_outputs(trained, reference, tmp_path):
    src, clf = trained
    out = tmp_path / "killed"
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "TQDM_DISABLE": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "phi_lab.cli", *_apply_args(src, clf, out)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,  # kill the run with every process it started
    )
    completions = out / "logs" / "score" / "completions"
    deadline = time.monotonic() + 180
    while proc.poll() is None and time.monotonic() < deadline:
        if completions.is_dir() and any(completions.iterdir()):
            break
        time.sleep(0.002)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()[-2000:]
    done = sorted(p.name for p in completions.iterdir())
    assert 1 <= len(done) < TASKS, "the kill should land between two tasks"
    kept_parts = {
        p: p.stat().st_mtime_ns for p in (out / "parts" / "scores").glob("*.jsonl") if p.stem in done
    }
    assert not (out / "kept.jsonl").exists()

    assert main(_apply_args(src, clf, out)) == 0  # resume: completed tasks are skipped
    assert {p: p.stat().st_mtime_ns for p in kept_parts} == kept_parts
    assert _outputs(out) == _outputs(reference)
    assert sorted(p.name for p in completions.iterdir()) == [f"{r:05d}" for r in range(TASKS)]


def test_apply_refuses_to_mix_runs(trained, reference, tmp_path, capsys):
    src, clf = trained
    out = tmp_path / "run"
    shutil.copytree(reference, out)
    args = _apply_args(src, clf, out)
    args[args.index("--shard-size") + 1] = "5"
    assert main(args) == 2
    assert "'shard_size']" in capsys.readouterr().err
    # Same settings, but a file under a completed shard changed: refused, not silently mixed.
    first = sorted(src.iterdir())[0]
    original, st = first.read_text(), first.stat()
    try:
        first.write_text(original + "\n# edited\n")
        assert main(_apply_args(src, clf, out)) == 2
        assert "corpus changed" in capsys.readouterr().err
    finally:
        first.write_text(original)
        os.utime(first, ns=(st.st_atime_ns, st.st_mtime_ns))
