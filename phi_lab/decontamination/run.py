"""§5 as one typed call: decontaminate CodeExercises against HumanEval/MBPP and prune it per tau.

`prune_exercises(...)` (what `phi-lab prune` and notebook 06 run) writes into `out`: pruning.json
(per tau: similar tasks, removed ids, closest matches), the pruned sets exercises/tau-<tau>.jsonl with
removed/tau-<tau>.jsonl (each with its reason), ngram_hits.jsonl (13-gram overlap with context),
table3.csv and manifest.json. Similarities are cached, so a rerun with other taus or with
evaluation results (`Table3Inputs`) is cheap.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from phi_lab.decontamination.pruning import DEFAULT_TAUS
from phi_lab.decontamination.similarity import DEFAULT_MAX_EMBEDDING_DISTANCE

ORDERS = ("embedding-first", "ast-first")
EMBED_DTYPES = ("float32", "bfloat16")


@dataclass(frozen=True)
class PruneConfig:
    taus: tuple[float, ...] = DEFAULT_TAUS  # AST match-rate thresholds
    benchmark: str = "humaneval"  # humaneval or mbpp
    benchmark_path: Path | None = None  # override the benchmark file
    embedder: str = "minilm"  # 'minilm' or a causal LM directory
    max_embedding_distance: float = DEFAULT_MAX_EMBEDDING_DISTANCE  # inf: AST-match every pair
    order: str = "embedding-first"  # or ast-first: AST-match all pairs, embed only candidates
    device: str = "cpu"  # device of the embedder
    embed_dtype: str = "float32"  # bfloat16 vectors are cached apart from float32's
    workers: int = 0  # processes for AST matching (0 = all cores)
    cache_dir: Path | None = None  # similarity cache (default: <phi-lab cache>/decontamination)
    ngram_n: int = 13  # n of the n-gram overlap check
    ngram_data: tuple[Path, ...] = ()  # extra training JSONL scanned for n-gram overlap
    text_field: str = "text"  # text field of ngram_data records

    def __post_init__(self) -> None:
        from phi_lab.benchmarks import BENCHMARKS

        if self.benchmark not in BENCHMARKS:
            raise ValueError(f"unknown benchmark {self.benchmark!r}; choose one of {BENCHMARKS}")
        if self.order not in ORDERS:
            raise ValueError(f"unknown order {self.order!r}; choose one of {ORDERS}")
        if self.embed_dtype not in EMBED_DTYPES:
            raise ValueError(f"unknown embed_dtype {self.embed_dtype!r}; choose one of {EMBED_DTYPES}")
        if not self.taus or any(not 0.0 < t <= 1.0 for t in self.taus):
            raise ValueError(f"every tau must be in (0, 1], got {list(self.taus)}")
        object.__setattr__(self, "taus", tuple(sorted(set(self.taus), reverse=True)))
        object.__setattr__(self, "ngram_data", tuple(Path(p) for p in self.ngram_data))


@dataclass(frozen=True)
class Table3Inputs:
    """Evaluation results that fill Table 3: the original model's and each tau-retrained model's."""

    original_results: Path | None = None  # eval results.jsonl of the original model
    retrained_results: dict[float, Path] = field(default_factory=dict)  # tau -> results.jsonl
    original_likelihood: Path | None = None  # `phi-lab eval likelihood` likelihood.jsonl
    retrained_likelihood: dict[float, Path] = field(default_factory=dict)  # tau -> likelihood.jsonl

    def files(self) -> list[Path]:
        return [
            p
            for p in (
                self.original_results,
                *self.retrained_results.values(),
                self.original_likelihood,
                *self.retrained_likelihood.values(),
            )
            if p is not None
        ]


def parse_tau_files(specs: list[str], flag: str) -> dict[float, Path]:
    """`TAU=FILE` command-line values -> {tau: path}."""
    out = {}
    for spec in specs:
        tau, sep, path = spec.partition("=")
        try:
            out[float(tau)] = Path(path)
        except ValueError:
            sep = ""
        if not sep or not path:
            raise ValueError(f"{flag} wants TAU=FILE, got {spec!r}")
    return out


def _jsonable(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and math.isinf(value):
        return None
    return value


def prune_exercises(
    exercises_path: str | Path,
    out: str | Path,
    config: PruneConfig | None = None,
    table3_inputs: Table3Inputs | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Decontaminate and prune; returns the pruning report (also written to OUT/pruning.json)."""
    from phi_lab.benchmarks import load_benchmark
    from phi_lab.decontamination.exercises import iter_texts, read_exercises
    from phi_lab.decontamination.ngrams import NGramIndex, summarize
    from phi_lab.decontamination.pruning import decide, tau_key, write_pruned_sets
    from phi_lab.decontamination.similarity import SimilarityConfig, compute_similarities
    from phi_lab.decontamination.table3 import read_task_likelihood, read_task_results, table3, write_table3
    from phi_lab.io import atomic_open, atomic_write_json

    config = config or PruneConfig()
    inputs = table3_inputs or Table3Inputs()
    exercises_path, out = Path(exercises_path), Path(out)
    taus = config.taus

    def as_tau(t: float) -> float:  # the configured tau a TAU=FILE refers to
        return next(x for x in taus if abs(x - t) < 1e-6)

    missing_taus = [
        t
        for t in [*inputs.retrained_results, *inputs.retrained_likelihood]
        if not any(abs(t - x) < 1e-6 for x in taus)
    ]
    if missing_taus:
        raise ValueError(
            f"--retrained-results/--retrained-likelihood for tau {missing_taus} not among --taus "
            f"{','.join(f'{t:g}' for t in taus)}"
        )
    for f in [exercises_path, *config.ngram_data, *inputs.files()]:
        if not f.exists():
            raise FileNotFoundError(f"{f} does not exist")
    sim = SimilarityConfig(
        max_embedding_distance=config.max_embedding_distance, workers=config.workers, order=config.order
    )
    started = time.time()

    exercises = read_exercises(exercises_path)
    problems = list(load_benchmark(config.benchmark, config.benchmark_path).values())
    out.mkdir(parents=True, exist_ok=True)

    # N-gram overlap: the exercises themselves, then any extra training data.
    index = NGramIndex(problems, n=config.ngram_n)
    hits = []
    with atomic_open(out / "ngram_hits.jsonl") as fh:
        sources = [
            ((e.id, e.code) for e in exercises),
            *(iter_texts(p, (config.text_field,)) for p in config.ngram_data),
        ]
        for docs in sources:
            for h in index.scan(docs, progress=progress):
                hits.append(h)
                fh.write(json.dumps(h.to_json(), ensure_ascii=False) + "\n")

    # Embedding + AST similarity, then the per-tau decisions.
    from phi_lab.model.embeddings import get_embedder
    from phi_lab.paths import cache_dir

    # The dtype is part of embedder.name, which keys the embedding cache: float32 and bfloat16 never mix.
    embedder = get_embedder(config.embedder, device=config.device, dtype=config.embed_dtype)
    cache = config.cache_dir or cache_dir() / "decontamination"
    ex_codes, prob_codes = [e.code for e in exercises], [p.code for p in problems]
    if sim.order == "ast-first":
        from phi_lab.decontamination.ast_first import compute_similarities_ast_first

        pairs = compute_similarities_ast_first(
            ex_codes, prob_codes, embedder, cache, sim, ast_floor=min(taus), progress=progress
        )
    else:
        pairs = compute_similarities(ex_codes, prob_codes, embedder, cache, sim, progress=progress)
    decisions = decide(pairs, exercises, problems, taus)
    files = write_pruned_sets(out, exercises, decisions)

    original = read_task_results(inputs.original_results) if inputs.original_results else None
    original_nll = read_task_likelihood(inputs.original_likelihood) if inputs.original_likelihood else None
    rows = table3(
        {t: d.similar_tasks for t, d in decisions.items()},
        [p.task_id for p in problems],
        original,
        {as_tau(t): read_task_results(p) for t, p in inputs.retrained_results.items()},
        paper_reference=config.benchmark == "humaneval",
        original_nll=original_nll,
        retrained_nll={as_tau(t): read_task_likelihood(p) for t, p in inputs.retrained_likelihood.items()},
    )
    write_table3(rows, out / "table3.csv")

    from phi_lab.decontamination.ast_match import AST_DEFINITION_VERSION, METHOD_NAMES

    methods = {name: int((pairs.method == code).sum()) for code, name in METHOD_NAMES.items()}
    report = {
        "benchmark": config.benchmark,
        "n_exercises": len(exercises),
        "n_problems": len(problems),
        "embedder": embedder.name,
        "embed_dtype": config.embed_dtype,
        "max_embedding_distance": None
        if math.isinf(sim.max_embedding_distance)
        else sim.max_embedding_distance,
        "ast_definition": AST_DEFINITION_VERSION,
        "order": sim.order,
        "candidate_pairs": len(pairs),
        "candidate_pairs_by_method": methods,
        "ngram": {"n": config.ngram_n, **summarize(hits)},
        "taus": {
            tau_key(t): {
                **d.to_json(),
                "n_kept": len(exercises) - len(d.removed_ids),
                "files": files[tau_key(t)],
            }
            for t, d in decisions.items()
        },
    }
    atomic_write_json(out / "pruning.json", report, indent=1, ensure_ascii=False)
    atomic_write_json(
        out / "manifest.json",
        {
            "command": "phi-lab prune",
            "args": _jsonable(
                {"exercises": exercises_path, "out": out, **asdict(config), "table3_inputs": asdict(inputs)}
            ),
            "cache_dir": str(cache),
            "seconds": round(time.time() - started, 2),
            "outputs": ["pruning.json", "table3.csv", "ngram_hits.jsonl", "exercises/", "removed/"],
        },
        indent=1,
        ensure_ascii=False,
    )
    return report
