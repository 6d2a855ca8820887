"""N-gram overlap (phi-1 §5.2): normalization, maximal spans with context, streaming JSONL."""

import json

import pytest

from phi_lab.benchmarks import Problem, humaneval_problems, load_benchmark, mbpp_problems
from phi_lab.decontamination.exercises import iter_texts
from phi_lab.decontamination.ngrams import NGramIndex, summarize, words
from phi_lab.paths import default_mbpp_path


@pytest.fixture(scope="module")
def humaneval():
    return list(humaneval_problems().values())


def test_words_normalize_case_whitespace_and_punctuation():
    assert [w for w, _, _ in words("Check IF,  in\tgiven-list!")] == ["check", "if", "in", "given", "list"]


def test_docstring_copy_is_one_hit_with_context(humaneval):
    index = NGramIndex(humaneval, n=13)
    # HumanEval/0's docstring, re-cased, re-wrapped and re-punctuated, inside unrelated text
    doc = (
        "Some textbook prose before.\n# CHECK if in given list of numbers -- are any two numbers\n"
        "# closer to each other than given threshold; then we continue with other things here."
    )
    hits = index.find("doc-1", doc)
    assert len(hits) == 1  # consecutive 13-grams merge into one maximal span
    h = hits[0]
    assert (h.task_id, h.field, h.doc_id) == ("HumanEval/0", "prompt", "doc-1")
    assert h.n_words == 18  # "check ... given threshold"
    assert h.doc_text.startswith("CHECK if in given") and h.doc_text.endswith("given threshold")
    assert h.benchmark_text.startswith("Check if in given list") and h.benchmark_text.endswith(
        "given threshold"
    )
    assert doc[h.doc_span[0] : h.doc_span[1]] == h.doc_text and h.doc_text in h.context


def test_n_is_configurable_and_short_overlaps_do_not_count(humaneval):
    twelve = "check if in given list of numbers are any two numbers closer"  # 12 words
    assert NGramIndex(humaneval, n=13).find("d", twelve) == []
    assert NGramIndex(humaneval, n=12).find("d", twelve)[0].task_id == "HumanEval/0"
    with pytest.raises(ValueError):
        NGramIndex(humaneval, n=0)


def test_solution_hits_and_two_separate_spans():
    prob = Problem("T/1", "Add numbers.", "alpha beta gamma delta epsilon zeta", "")
    index = NGramIndex([prob], n=3)
    hits = index.find("d", "alpha beta gamma xx delta epsilon zeta")
    assert [(h.field, h.doc_text) for h in hits] == [
        ("solution", "alpha beta gamma"),
        ("solution", "delta epsilon zeta"),
    ]
    assert summarize(hits) == {"hits": 2, "documents": 1, "tasks": {"T/1": 2}}


def test_scan_streams_jsonl_and_reports_bad_lines(tmp_path, humaneval):
    path = tmp_path / "train.jsonl"
    recs = [
        {"id": "a", "text": "nothing to see"},
        {
            "id": "b",
            "prompt": "def f(numbers):\n",
            "solution": "    for idx, elem in enumerate(numbers):\n"
            "        for idx2, elem2 in enumerate(numbers):\n            if idx != idx2:\n                pass\n",
        },
    ]
    path.write_text("\n".join(json.dumps(r) for r in recs) + "\n")
    hits = list(NGramIndex(humaneval, n=13).scan(iter_texts(path)))
    assert {h.doc_id for h in hits} == {"b"} and all(h.field == "solution" for h in hits)
    assert "HumanEval/0" in {h.task_id for h in hits}
    path.write_text('{"id": "a", "text": "x"}\n{broken\n')
    with pytest.raises(ValueError, match=r"train.jsonl:2: invalid JSON"):
        list(iter_texts(path))
    path.write_text('{"id": "a", "body": "x"}\n')
    with pytest.raises(ValueError, match=r"train.jsonl:1: no text field"):
        list(iter_texts(path))


@pytest.mark.skipif(not default_mbpp_path().exists(), reason="MBPP data not present (../shared/data/mbpp)")
def test_mbpp_benchmark_loads_by_split(tmp_path):
    test = list(load_benchmark("mbpp").values())
    assert len(test) == 500 and test[0].task_id == "MBPP/11" and "\r" not in test[0].code
    assert len(mbpp_problems(split="all", style="docstring")) == 974
    hits = NGramIndex(test, n=13).find("d", "please: " + test[0].description)
    assert hits and hits[0].task_id == "MBPP/11" and hits[0].field == "prompt"
    with pytest.raises(ValueError, match="unknown MBPP split"):
        mbpp_problems(split="dev")
    bad = tmp_path / "mbpp.jsonl"
    bad.write_text('{"task_id": 11, "text": "x"}\n')
    with pytest.raises(ValueError, match=r"mbpp.jsonl:1: missing field"):
        mbpp_problems(bad)
