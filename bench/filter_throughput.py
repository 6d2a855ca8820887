"""Throughput of the §2.1 filter as it runs on a corpus: `filter_corpus` with 1 and 2 local workers.

    .venv/bin/python bench/filter_throughput.py --files 48 --max-file-kb 4
    .venv/bin/python bench/filter_throughput.py --files 32 --embedder runs/ckpt/final --gpus 1 8 64

Files are a seeded sample of the offline Python corpus (stdlib + site-packages) written as one JSONL
source. The same datatrove job (read, embed, classify, threshold, kept/dropped with reasons) runs
with the same 4 tasks, once with 1 worker (a task at a time, all cores' threads) and once with 2
(two tasks at once, the cores split between them); files/s is whole-job wall time, model loading
included. The forest is fitted on heuristic labels of a few of the files (its predict cost depends
on its size, not on what it learned).

The fork server that worker processes start from is started before timing (its one-time cost is
printed on its own).

The projection for The Stack's 35M files on N GPUs is rate arithmetic, not a measurement: this
machine has no GPU. It assumes `--gpu-tokens-per-s` embedder tokens per second per GPU (stated in the
output) and the sample's measured tokens per file, one task per GPU, and no other bottleneck.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from itertools import islice
from pathlib import Path

PAPER_FILES = 35_000_000  # The Stack + StackOverflow Python files filtered for phi-1 (§2.1)


def _tokens_per_file(embedder, texts: list[str]) -> float | None:
    tokenizer = getattr(embedder, "tokenizer", None)
    if tokenizer is None or not hasattr(tokenizer, "encode_batch"):
        return None
    enc = tokenizer.encode_batch(texts)
    return sum(len(e.ids) if hasattr(e, "ids") else len(e) for e in enc) / max(len(texts), 1)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=48, help="number of corpus files to filter")
    ap.add_argument(
        "--max-file-kb", type=int, default=4, help="skip larger offline files (CPU cost grows with length)"
    )
    ap.add_argument(
        "--embedder", default="minilm", help="'minilm', 'hashing' or a causal-LM checkpoint directory"
    )
    ap.add_argument("--dtype", default="float32", help="float32 or bfloat16")
    ap.add_argument("--batch-size", type=int, default=32, help="chunks per forward pass")
    ap.add_argument("--tasks", type=int, default=4, help="tasks of the job (the same for both runs)")
    ap.add_argument("--n-estimators", type=int, default=300)
    ap.add_argument("--fit-files", type=int, default=16, help="files the forest is fitted on")
    ap.add_argument("--seed", type=int, default=1, help="which sample of the offline corpus")
    ap.add_argument("--gpus", type=int, nargs="+", default=[1, 8, 64], help="GPU counts to project for")
    ap.add_argument(
        "--gpu-tokens-per-s",
        type=float,
        default=300_000.0,
        help="ASSUMED embedder tokens/s on one GPU (MiniLM-L6, bf16, 256-token chunks) [300000]",
    )
    ap.add_argument("--out", help="also write the JSON result here")
    args = ap.parse_args()

    import numpy as np

    from phi_lab.data.documents import write_documents
    from phi_lab.data.offline import offline_python_corpus
    from phi_lab.filtering.classifier import ClassifierConfig, fit_classifier
    from phi_lab.filtering.corpus_filter import FilterConfig
    from phi_lab.filtering.heuristic import HeuristicAnnotator
    from phi_lab.pipelines import ExecutorConfig, filter_corpus
    from phi_lab.pipelines.embedders import EmbedderSpec, load_embedder

    os.environ.setdefault("TQDM_DISABLE", "1")
    docs = list(
        islice(offline_python_corpus(seed=args.seed, max_file_bytes=args.max_file_kb * 1024), args.files)
    )
    texts = [d.text for d in docs]
    with tempfile.TemporaryDirectory(prefix="phi-lab-bench-") as tmp:
        work = Path(tmp)
        corpus = work / "sample.jsonl"
        write_documents(docs, corpus)
        spec = EmbedderSpec(args.embedder, "cpu", args.dtype)
        embedder = load_embedder(spec)
        fit = docs[: args.fit_files]
        y = np.array([lab.label for lab in HeuristicAnnotator().annotate(fit)])
        if y.min() == y.max():  # the forest needs two classes; flip two labels rather than fail
            y[:2] = 1 - y[:2]
        X = embedder.embed([d.text for d in fit], batch_size=args.batch_size)
        clf = fit_classifier(
            X, y, embedder.name, config=ClassifierConfig(n_estimators=args.n_estimators, test_fraction=0.25)
        )
        clf.extra.update({"embedder_spec": args.embedder, "embedder_dtype": args.dtype})
        clf.save(work / "clf")
        # The fork server (and the modules it preloads) starts once per process, ~5-10 s here; a long
        # job pays it once, so it is started before timing and measured on its own.
        import multiprocess

        from phi_lab.pipelines.executors import FORKSERVER_PRELOAD

        t0 = time.perf_counter()
        multiprocess.set_forkserver_preload(FORKSERVER_PRELOAD)
        with multiprocess.get_context("forkserver").Pool(2) as pool:
            pool.map(abs, [1, 2])
        forkserver_s = time.perf_counter() - t0
        runs = {}
        for workers in (1, 2):
            t0 = time.perf_counter()
            manifest = filter_corpus(
                [str(corpus)],
                work / "clf",
                work / f"out-{workers}",
                FilterConfig(shard_size=1, keep_fraction=0.3, batch_size=args.batch_size),
                ExecutorConfig(tasks=args.tasks, workers=workers),
                dtype=args.dtype,
                progress=False,
            )
            wall = time.perf_counter() - t0
            runs[workers] = {
                "stage_wall_s": {k: v["wall_s"] for k, v in manifest["pipeline"]["stages"].items()},
                "wall_s": round(wall, 2),
                "files": manifest["n_documents"],
                "files_per_s": round(manifest["n_documents"] / wall, 3),
                "threads_per_task": ExecutorConfig(tasks=args.tasks, workers=workers).threads_per_task(
                    args.tasks
                ),
            }
        same = (work / "out-1" / "kept.jsonl").read_bytes() == (work / "out-2" / "kept.jsonl").read_bytes()
    tokens = _tokens_per_file(embedder, texts)
    gpu_files_per_s = args.gpu_tokens_per_s / tokens if tokens else None
    result = {
        "embedder": embedder.name,
        "files": len(texts),
        "mean_file_chars": round(sum(map(len, texts)) / max(len(texts), 1)),
        "mean_file_tokens": round(tokens, 1) if tokens else None,
        "tasks": args.tasks,
        "local_1_worker": runs[1],
        "local_2_workers": runs[2],
        "ratio_2_vs_1": round(runs[2]["files_per_s"] / runs[1]["files_per_s"], 3),
        "kept_identical_1_vs_2_workers": same,
        "forkserver_start_s": round(forkserver_s, 2),
        "note": "1 worker runs tasks in this process (embedder already loaded); 2 workers load it in each worker",
        "projection_35M_files": {
            "assumption": (
                f"{args.gpu_tokens_per_s:,.0f} embedder tokens/s per GPU (assumed, not measured: no GPU here) "
                f"/ {tokens:.0f} tokens per file (measured on this sample) = {gpu_files_per_s:,.1f} files/s per GPU, "
                "one task per GPU, nothing else limiting"
                if tokens
                else "no tokenizer: cannot convert a token rate into files"
            ),
            "hours_on_gpus": {str(n): round(PAPER_FILES / (gpu_files_per_s * n) / 3600, 2) for n in args.gpus}
            if gpu_files_per_s
            else None,
            "hours_at_this_machines_2_worker_rate": round(PAPER_FILES / runs[2]["files_per_s"] / 3600, 0),
        },
        "cpus": os.cpu_count(),
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "python": sys.version.split()[0],
    }
    print(json.dumps(result, indent=2))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
