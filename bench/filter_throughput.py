"""Throughput of the §2.1 filter on CPU: files/s of embed + classify (and of the heuristic annotator).

    .venv/bin/python bench/filter_throughput.py --files 64
    .venv/bin/python bench/filter_throughput.py --files 32 --embedder runs/ckpt/final

Files are a seeded sample of the offline Python corpus (stdlib + site-packages), so the mix of
file sizes is the real one. The forest is trained on heuristic labels of the same sample (its
predict cost depends on its size, not on what it learned). Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from itertools import islice


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=64, help="number of corpus files to score")
    ap.add_argument("--embedder", default="minilm", help="'minilm' or a causal-LM checkpoint directory")
    ap.add_argument("--dtype", default="float32", help="float32 or bfloat16 (MiniLM only)")
    ap.add_argument("--batch-size", type=int, default=32, help="chunks per forward pass")
    ap.add_argument("--n-estimators", type=int, default=300)
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    ap.add_argument("--seed", type=int, default=1, help="which sample of the offline corpus")
    ap.add_argument("--out", help="also write the JSON result here")
    args = ap.parse_args()

    import numpy as np
    import torch

    from phi_lab.data.offline import offline_python_corpus
    from phi_lab.filtering.classifier import ClassifierConfig, fit_classifier
    from phi_lab.filtering.heuristic import HeuristicAnnotator
    from phi_lab.model.embeddings import get_embedder

    if args.threads:
        torch.set_num_threads(args.threads)
    docs = list(islice(offline_python_corpus(seed=args.seed), args.files))
    texts = [d.text for d in docs]

    t0 = time.perf_counter()
    labels = HeuristicAnnotator().annotate(docs)
    t_heuristic = time.perf_counter() - t0

    t0 = time.perf_counter()
    embedder = (
        get_embedder(args.embedder, dtype=args.dtype)
        if args.dtype != "float32"
        else get_embedder(args.embedder)
    )
    t_load = time.perf_counter() - t0

    t0 = time.perf_counter()
    X = embedder.embed(texts, batch_size=args.batch_size, progress=True)
    t_embed = time.perf_counter() - t0

    y = np.array([lab.label for lab in labels])
    if y.min() == y.max():  # the forest needs two classes; flip two labels rather than fail
        y[:2] = 1 - y[:2]
    clf = fit_classifier(X, y, embedder.name, config=ClassifierConfig(n_estimators=args.n_estimators))
    t0 = time.perf_counter()
    clf.predict_proba(X)
    t_classify = time.perf_counter() - t0

    tokenizer = getattr(embedder, "tokenizer", None)
    n_tokens = None
    if tokenizer is not None and hasattr(tokenizer, "encode_batch"):
        enc = tokenizer.encode_batch(texts)
        n_tokens = sum(len(e.ids) if hasattr(e, "ids") else len(e) for e in enc)
    result = {
        "embedder": embedder.name,
        "files": len(texts),
        "mean_file_chars": round(sum(map(len, texts)) / max(len(texts), 1)),
        "tokens": n_tokens,
        "load_s": round(t_load, 2),
        "embed_s": round(t_embed, 2),
        "classify_s": round(t_classify, 3),
        "files_per_s": round(len(texts) / (t_embed + t_classify), 3),
        "tokens_per_s": round(n_tokens / t_embed, 1) if n_tokens else None,
        "heuristic_files_per_s": round(len(texts) / t_heuristic, 1),
        "torch_threads": torch.get_num_threads(),
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
