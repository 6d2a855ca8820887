"""KV-cached batched decoding against recomputing the whole sequence."""

from __future__ import annotations

import torch

from phi_lab.model.generation import generate, generate_text, truncate_at_stop
from phi_lab.model.loading import load_model
from phi_lab.model.phi import Phi, PhiConfig


def _model(seed: int = 0) -> Phi:
    torch.manual_seed(seed)
    m = Phi(PhiConfig.from_preset("smoke", vocab_size=256)).eval()
    with torch.no_grad():  # larger weights -> peaked, varied distributions (no argmax near-ties)
        for p in m.parameters():
            if p.dim() > 1:
                p.mul_(8)
    return m


PROMPTS = [[5, 9, 200, 31], [17], [3, 3, 3, 3, 3, 3, 3, 90], [250, 1]]


def test_cached_greedy_equals_recompute_with_ragged_prompts():
    m = _model()
    cached = generate(m, PROMPTS, max_new_tokens=20)
    full = generate(m, PROMPTS, max_new_tokens=20, use_cache=False)
    assert cached == full
    assert all(len(r) == 20 for r in cached)


def test_batched_rows_equal_rows_alone():
    m = _model()
    together = generate(m, PROMPTS, max_new_tokens=12, temperature=0.9, top_p=0.95, seed=[10, 11, 12, 13])
    alone = [
        generate(m, [p], max_new_tokens=12, temperature=0.9, top_p=0.95, seed=[10 + i])[0]
        for i, p in enumerate(PROMPTS)
    ]
    assert together == alone


def test_sampling_is_seeded_and_top_p_tiny_is_greedy():
    m = _model()
    a = generate(m, PROMPTS, 10, temperature=1.0, seed=3)
    b = generate(m, PROMPTS, 10, temperature=1.0, seed=3)
    c = generate(m, PROMPTS, 10, temperature=1.0, seed=4)
    assert a == b and a != c
    assert generate(m, PROMPTS, 10, temperature=1.0, top_p=1e-6, seed=5) == generate(m, PROMPTS, 10)


def test_eos_ends_a_row_and_others_continue():
    m = _model()
    free = generate(m, PROMPTS, 15)
    eos = free[0][4]  # the fifth token row 0 would produce
    out = generate(m, PROMPTS, 15, eos_id=eos)
    first = free[0].index(eos)
    assert out[0] == free[0][:first]
    for row_free, row in zip(free[1:], out[1:]):  # other rows stop only where they emit that token
        cut = row_free.index(eos) if eos in row_free else len(row_free)
        assert row == row_free[:cut]


def test_generate_text_stop_strings(tiny_model_dir):
    model, tok = load_model(tiny_model_dir)
    prompts = ["def add(a, b):\n    ", "import os\n", "x = 1\n"]
    free = generate_text(model, tok, prompts, max_new_tokens=30)
    stop = free[0][3:6]  # a string the first completion is known to contain
    got = generate_text(model, tok, prompts, max_new_tokens=30, stop_strings=[stop])
    assert got[0] == truncate_at_stop(free[0], [stop]) and stop not in got[0]
    for f, g in zip(free[1:], got[1:]):
        assert f.startswith(g) and stop not in g
    # batch size does not change results
    assert generate_text(model, tok, prompts, max_new_tokens=30, stop_strings=[stop], batch_size=1) == got


def test_truncate_at_stop():
    assert truncate_at_stop("return x\ndef g", ["\ndef", "\nclass"]) == "return x"
    assert truncate_at_stop("abc", ["zz"]) == "abc"
