"""Throughput of decontamination (phi-1 §5.2) on this machine, projected to the paper's size.

    .venv/bin/python bench/prune_throughput.py --exercises 3000 --embed-sample 192

The paper prunes 879.5K CodeExercises against HumanEval's 164 problems (144.2M pairs). Synthetic
exercises are made from MBPP's reference solutions (a realistic mix of short Python programs), with
identifiers renamed per copy so every exercise has distinct content (no cache hits). Measured, each with
the real code paths and a fresh cache:

- AST match, all pairs, one process (`score_chunk`: parse + vectorized match rate) -> pairs/s/core;
- AST match, all pairs, end to end with the worker pool on all cores (`compute_similarities`);
- MiniLM embedding of a sample of exercises (torch on all cores) -> texts/s, and the fraction of
  exercise x HumanEval pairs within the default embedding threshold (what the AST stage then scores);
- the embedding-distance prefilter (matrix product) and the n-gram scan -> per exercise.

Projected: embedding-first (embed all, AST on prefiltered pairs), ast-first (AST on all pairs, embed only
exercises with a pair >= 0.8: at least the 40% the paper removed at tau=0.8), and AST only.

The projection for 879.5K x 164 adds the per-exercise and per-pair costs; "16 cores" scales the
process-parallel parts (AST, embedding) linearly by 16 / this machine's cores, a simplification
(the n-gram scan is one stream and is not scaled).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import re
import tempfile
import time
from pathlib import Path

PAPER_EXERCISES = 879_500
PAPER_PROBLEMS = 164


class _ConstantEmbedder:
    """Every pair at distance 0, so `compute_similarities` AST-matches all pairs (timing only)."""

    name, dim = "bench-constant", 4

    def embed(self, texts, batch_size=32, progress=False):
        import numpy as np

        return np.tile(np.array([1, 0, 0, 0], dtype=np.float32), (len(texts), 1))


def synthetic_exercises(n: int, seed: int = 0) -> list[tuple[str, str, str]]:
    """(id, prompt, solution) from MBPP solutions, identifiers suffixed per copy."""
    from phi_lab.decontamination.benchmarks import load_mbpp

    base = [p for p in load_mbpp(split="all") if p.code.strip()]
    rng = random.Random(seed)
    out = []
    for i in range(n):
        p = base[rng.randrange(len(base))]
        suffix = f"_{i}"
        code = re.sub(r"\b(def|class)\s+(\w+)", lambda m, s=suffix: f"{m.group(1)} {m.group(2)}{s}", p.code)
        out.append((f"bench-{i}", f'"""{p.prompt}"""\n', code))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--exercises", type=int, default=3000, help="synthetic exercises for the AST timing [3000]")
    ap.add_argument("--embed-sample", type=int, default=192, help="exercises embedded with MiniLM [192]")
    ap.add_argument("--workers", type=int, default=0, help="pool size (0 = all cores)")
    ap.add_argument("--target-cores", type=int, default=16)
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = ap.parse_args(argv)

    import numpy as np

    from phi_lab.decontamination import similarity as sim
    from phi_lab.decontamination.benchmarks import load_humaneval
    from phi_lab.decontamination.ngrams import NGramIndex

    cores = os.cpu_count() or 1
    load = os.getloadavg()[0]
    if load > cores:
        print(f"warning: load average {load:.1f} on {cores} cores: other work shares this machine, rates are low")
    workers = args.workers or cores
    problems = load_humaneval()
    pcodes = [p.code for p in problems]
    exs = synthetic_exercises(args.exercises)
    codes = [p + s for _, p, s in exs]
    res: dict = {"machine": f"{platform.processor() or platform.machine()}, {cores} cores", "workers": workers, "load_average_1min": load,
                 "exercises": len(codes), "problems": len(problems)}

    # 1. AST match rate, all pairs, one process (includes parsing each exercise once).
    sim._init_worker(pcodes)
    n1 = min(len(codes), 600)
    local = np.repeat(np.arange(n1), len(problems))
    prob = np.tile(np.arange(len(problems)), n1)
    t0 = time.perf_counter()
    sim.score_chunk(codes[:n1], local, prob)
    dt = time.perf_counter() - t0
    res["ast_pairs_per_s_one_process"] = len(local) / dt
    print(f"AST match, 1 process: {len(local):,} pairs in {dt:.2f} s = {len(local) / dt:,.0f} pairs/s", flush=True)

    # 2. End to end on all pairs with the pool (fresh cache, constant embedder so nothing is prefiltered).
    with tempfile.TemporaryDirectory(prefix="prune-bench-") as cache:
        t0 = time.perf_counter()
        pairs = sim.compute_similarities(codes, pcodes, _ConstantEmbedder(), cache,
                                         sim.SimilarityConfig(math.inf, workers=workers))
        dt = time.perf_counter() - t0
    res["ast_pairs_per_s_pool"] = len(pairs) / dt
    # AST-first embeds only exercises with some pair at >= the lowest tau (0.8)
    near = np.zeros(len(codes), dtype=bool)
    near[pairs.ex_index[pairs.close(0.8)]] = True
    res["ast_first_embed_fraction_sample"] = float(near.mean())
    print(f"AST match, pool of {workers}: {len(pairs):,} pairs in {dt:.2f} s = {len(pairs) / dt:,.0f} pairs/s "
          f"(incl. pool start-up and cache writes)", flush=True)

    # 3. Embedding throughput and the prefilter's pass rate with the default embedder and threshold.
    from phi_lab.embeddings import get_embedder

    emb = get_embedder("minilm")
    sample = codes[: args.embed_sample]
    t0 = time.perf_counter()
    ev = emb.embed(sample, batch_size=64)
    dt = time.perf_counter() - t0
    res["embed_texts_per_s"] = len(sample) / dt
    pv = emb.embed(pcodes, batch_size=64)
    d = sim.embedding_distances(ev, pv)
    res["prefilter_pass_rate"] = float((d <= sim.DEFAULT_MAX_EMBEDDING_DISTANCE).mean())
    # the prefilter itself (distances + threshold, chunked as in compute_similarities) on 65,536 random rows
    rows = np.random.default_rng(0).standard_normal((65536, pv.shape[1])).astype(np.float32)
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    t0 = time.perf_counter()
    for s in range(0, len(rows), 8192):
        np.nonzero(sim.embedding_distances(rows[s : s + 8192], pv) <= sim.DEFAULT_MAX_EMBEDDING_DISTANCE)
    res["distance_pairs_per_s"] = len(rows) * len(pv) / (time.perf_counter() - t0)
    print(f"MiniLM embedding: {len(sample) / dt:,.1f} texts/s; {res['prefilter_pass_rate']:.1%} of pairs within "
          f"{sim.DEFAULT_MAX_EMBEDDING_DISTANCE}", flush=True)

    # 4. n-gram scan.
    index = NGramIndex(problems, n=13)
    t0 = time.perf_counter()
    for i, c in enumerate(codes):
        index.find(str(i), c)
    res["ngram_docs_per_s"] = len(codes) / (time.perf_counter() - t0)

    # Projection for the paper's size.
    n_pairs = PAPER_EXERCISES * PAPER_PROBLEMS
    per_core_ast = res["ast_pairs_per_s_one_process"]

    # The paper removed 354K of 879.5K exercises at tau=0.8, so at least 40% have a pair >= 0.8: AST-first
    # must embed at least that many there (our MBPP-made sample has far fewer).
    f_paper = max(354_000 / PAPER_EXERCISES, res["ast_first_embed_fraction_sample"])

    def project(n_cores: int, scale: float) -> dict:
        embed_all = PAPER_EXERCISES / (res["embed_texts_per_s"] * scale)
        ast_all = n_pairs / (per_core_ast * n_cores)
        ngram = PAPER_EXERCISES / res["ngram_docs_per_s"]
        t = {
            "embed_all_s": embed_all,
            "distances_s": n_pairs / res["distance_pairs_per_s"],
            "ast_prefiltered_s": ast_all * res["prefilter_pass_rate"],
            "ast_all_pairs_s": ast_all,
            "ngram_s": ngram,
        }
        t["embedding_first_total_s"] = embed_all + t["distances_s"] + t["ast_prefiltered_s"] + ngram
        t["ast_first_total_s"] = ast_all + f_paper * embed_all + ngram
        t["ast_only_total_s"] = ast_all + ngram  # no embedding threshold (--max-embedding-distance inf)
        return {k: round(v, 1) for k, v in t.items()}

    res["paper_size"] = {"exercises": PAPER_EXERCISES, "problems": PAPER_PROBLEMS, "pairs": n_pairs}
    res["projected_this_machine"] = project(cores, 1.0)
    res["projected_target_cores"] = project(args.target_cores, args.target_cores / cores)
    res["target_cores"] = args.target_cores
    res["ast_first_embed_fraction_paper"] = f_paper
    for label, key in (("this machine", "projected_this_machine"), (f"{args.target_cores} cores", "projected_target_cores")):
        p = res[key]
        print(f"projected 879.5K x 164 on {label}: embedding-first {p['embedding_first_total_s'] / 3600:.2f} h "
              f"(embed {p['embed_all_s'] / 60:.1f} min, AST on prefiltered pairs {p['ast_prefiltered_s'] / 60:.1f} min); "
              f"ast-first {p['ast_first_total_s'] / 3600:.2f} h (AST all pairs {p['ast_all_pairs_s'] / 60:.1f} min + "
              f"embed {f_paper:.0%}); AST only {p['ast_only_total_s'] / 60:.1f} min; n-grams {p['ngram_s'] / 60:.1f} min")
    print(json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in res.items()}, indent=1))
    if args.json:
        args.json.write_text(json.dumps(res, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
