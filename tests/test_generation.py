"""KV-cached batched decoding against recomputing the whole sequence; `complete`, the one completion path
of evaluation and probes, against decoding each prompt alone."""

from __future__ import annotations

import pytest
import torch

from phi_lab.model.generation import Completion, complete, generate, generate_text, truncate_at_stop
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


TEXT_PROMPTS = [
    "def add(a, b):\n    ",
    "import os\n",
    "x = 1\n",
    "class A:\n    def f(self):\n        return 1\n\n" * 20,  # longer than the smoke window
    "# comment\n",
]


def _alone(model, tok, prompt, seed, max_new_tokens, temperature, top_p, stop_strings):
    """The reference: one prompt decoded alone, cut from the left to fit the window, cut at a stop."""
    ids = tok.encode(prompt)[-(model.config.max_seq_len - max_new_tokens) :]
    toks = generate(
        model,
        [ids],
        max_new_tokens,
        temperature=temperature,
        top_p=top_p,
        eos_id=tok.eos_id,
        stop_strings=stop_strings,
        tokenizer=tok,
        seed=[seed],
    )[0]
    return truncate_at_stop(tok.decode(toks), stop_strings), len(toks)


@pytest.mark.parametrize("temperature", [0.0, 0.8])
def test_complete_equals_each_prompt_decoded_alone(tiny_model_dir, temperature):
    model, tok = load_model(tiny_model_dir)
    free = complete(model, tok, TEXT_PROMPTS[:1], [0], max_new_tokens=30)[0].text
    stops = ("\n#", free[4:7])  # one string the first completion is known to contain
    seeds = [11, 5, 97, 3, 42]
    kw = dict(max_new_tokens=30, temperature=temperature, top_p=0.95, stop_strings=stops)
    seen: list[tuple[list[int], list[Completion]]] = []
    got = complete(
        model, tok, TEXT_PROMPTS, seeds, batch_size=2, on_batch=lambda b, c: seen.append((b, c)), **kw
    )
    for prompt, seed, c in zip(TEXT_PROMPTS, seeds, got):
        assert (c.text, c.n_tokens) == _alone(model, tok, prompt, seed, **kw)
        assert not any(s in c.text for s in stops) and c.seconds > 0
    assert stops[1] not in got[0].text and len(got[0].text) < len(free)  # the stop did cut
    assert [c.prompt_truncated for c in got] == [False, False, False, True, False]
    # batches went by length, each reported once with its own completions
    assert sorted(i for b, _ in seen for i in b) == list(range(len(TEXT_PROMPTS)))
    assert all(got[i] == c for b, cs in seen for i, c in zip(b, cs))
    assert [len(b) for b, _ in seen] == [2, 2, 1]
    # a prompt's completion depends on its seed only, not on its batch or neighbours
    alone = complete(model, tok, TEXT_PROMPTS[3:4], seeds[3:4], batch_size=1, **kw)
    assert alone[0] == Completion(got[3].text, got[3].n_tokens, True, alone[0].seconds)
    if temperature:
        other = complete(model, tok, TEXT_PROMPTS, [s + 1 for s in seeds], **kw)
        assert [c.text for c in other] != [c.text for c in got]
    # generate_text is complete with seeds seed + i
    assert generate_text(model, tok, TEXT_PROMPTS, seed=7, **kw) == [
        c.text for c in complete(model, tok, TEXT_PROMPTS, [7 + i for i in range(5)], **kw)
    ]


def test_complete_rejects_bad_arguments(tiny_model_dir):
    model, tok = load_model(tiny_model_dir)
    with pytest.raises(ValueError, match="one seed per prompt"):
        complete(model, tok, ["a", "b"], [0])
    with pytest.raises(ValueError, match="leaves no room"):
        complete(model, tok, ["a"], [0], max_new_tokens=model.config.max_seq_len)
    with pytest.raises(ValueError, match="batch_size"):
        complete(model, tok, ["a"], [0], batch_size=0)
    assert complete(model, tok, [], [], max_new_tokens=8) == []


def test_fit_budget_leaves_room_for_a_prompt():
    from phi_lab.model.generation import fit_budget

    assert fit_budget(64, 128) == 64 and fit_budget(127, 128) == 127
    assert fit_budget(128, 128) == 64 and fit_budget(256, 128) == 64 and fit_budget(5, 1) == 1
