"""Batched decoding for Phi: greedy, temperature, top-p, stop strings, per-row finish.

Prompts of different lengths are left-padded so every row's next token sits in the last column.
Decoding writes into a pre-allocated KV cache; rows that finish are dropped from the batch (and the
cache), so a batch costs what its longest *unfinished* row costs. Sampling draws each row's
randomness from its own generator (each prompt's seed is given to `complete`), so a completion does
not depend on which other prompts shared its batch.

`complete` is the one completion path of evaluation (`evaluation.sampling`) and probes
(`probes.compare`): encode, cut from the left to fit the window, batch by length, seed per prompt,
decode, cut at the caller's stop strings (each benchmark's own list, the probe set's list).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from phi_lab.model.phi import Phi
from phi_lab.model.tokenizer import PhiTokenizer

log = logging.getLogger(__name__)


def _sample(
    logits: torch.Tensor, temperature: float, top_p: float, gens: list[torch.Generator]
) -> torch.Tensor:
    """Next token per row from (B, V) logits. Greedy when temperature == 0."""
    if temperature == 0.0:
        return logits.argmax(dim=-1)
    probs = torch.softmax(logits.float() / temperature, dim=-1)
    sorted_p, order = probs.sort(dim=-1, descending=True)
    if top_p < 1.0:
        # keep the smallest prefix whose mass reaches top_p (the first token always stays)
        keep = sorted_p.cumsum(-1) - sorted_p < top_p
        sorted_p = sorted_p * keep
    cdf = sorted_p.cumsum(-1)
    u = torch.stack([torch.rand((), generator=g) for g in gens]).to(cdf.device) * cdf[:, -1]
    idx = torch.searchsorted(cdf, u.unsqueeze(-1)).clamp_max(cdf.shape[-1] - 1)
    return order.gather(-1, idx).squeeze(-1)


def _prefill_mask(valid: torch.Tensor) -> torch.Tensor:
    """(B, 1, T, T) boolean mask: causal, no attention to left padding, every position sees itself
    (so padded rows stay finite instead of softmaxing over nothing)."""
    T = valid.shape[1]
    causal = torch.ones(T, T, dtype=torch.bool, device=valid.device).tril()
    mask = causal & valid[:, None, None, :]
    return mask | torch.eye(T, dtype=torch.bool, device=valid.device)


@torch.no_grad()
def generate(
    model: Phi,
    prompts: Sequence[Sequence[int]],
    max_new_tokens: int,
    temperature: float = 0.0,
    top_p: float = 1.0,
    eos_id: int | None = None,
    stop_strings: Sequence[str] = (),
    tokenizer: PhiTokenizer | None = None,
    seed: int | Sequence[int] | None = None,
    use_cache: bool = True,
) -> list[list[int]]:
    """New tokens for each prompt. A row ends at `eos_id` (not included), when its decoded text
    contains a stop string (the tokens that completed it are included; `complete` cuts the
    text), or after `max_new_tokens`. `use_cache=False` recomputes the whole sequence each step
    (the reference the cache is tested against)."""
    if not prompts or any(len(p) == 0 for p in prompts):
        raise ValueError("generate() needs at least one prompt, and every prompt needs at least one token")
    if stop_strings and tokenizer is None:
        raise ValueError("stop_strings need a tokenizer to decode with")
    if temperature < 0 or not 0 < top_p <= 1:
        raise ValueError(f"need temperature >= 0 and 0 < top_p <= 1, got {temperature}, {top_p}")
    B = len(prompts)
    seeds = list(seed) if isinstance(seed, Sequence) else [(seed or 0) + i for i in range(B)]
    gens = [torch.Generator().manual_seed(s) for s in seeds]
    device = model.lm_head.weight.device
    was_training = model.training
    model.eval()

    L = max(len(p) for p in prompts)
    ids = torch.zeros(B, L, dtype=torch.long)
    valid = torch.zeros(B, L + max_new_tokens, dtype=torch.bool)
    for i, p in enumerate(prompts):
        ids[i, L - len(p) :] = torch.as_tensor(list(p))
        valid[i, L - len(p) : L] = True
    ids, valid = ids.to(device), valid.to(device)
    padded = bool((~valid[:, :L]).any())
    positions = (valid[:, :L].long().cumsum(-1) - 1).clamp_min(0)

    rows = list(range(B))  # original index of each live row
    out: list[list[int]] = [[] for _ in range(B)]
    # A stop string of n characters spans at most 4n byte-level tokens (each token is >= 1 byte, a
    # character <= 4 bytes): decoding that tail each step finds it without re-decoding the whole row.
    tail_tokens = 4 * max((len(s) for s in stop_strings), default=0) + 1

    cache = model.new_kv_cache(B, L + max_new_tokens) if use_cache else None
    logits = model(ids, positions, _prefill_mask(valid[:, :L]) if padded else None, cache)[:, -1]
    seq = ids  # only used without the cache
    for step in range(max_new_tokens):
        nxt = _sample(logits, temperature, top_p, [gens[r] for r in rows])
        keep: list[int] = []
        for j, r in enumerate(rows):
            tok = int(nxt[j])
            if eos_id is not None and tok == eos_id:
                continue
            out[r].append(tok)
            if stop_strings:
                tail = tokenizer.decode(out[r][-tail_tokens:])  # type: ignore[union-attr]
                if any(s in tail for s in stop_strings):
                    continue
            keep.append(j)
        if not keep or step == max_new_tokens - 1:
            break
        if len(keep) < len(rows):  # drop finished rows from everything that has a batch dimension
            sel = torch.as_tensor(keep, device=device)
            rows = [rows[j] for j in keep]
            nxt, valid, positions = nxt[sel], valid[sel], positions[sel]
            seq = seq[sel]
            if cache is not None:
                cache.select_rows(sel)
        pos = positions[:, -1:] + 1
        positions = torch.cat([positions, pos], dim=1)
        cur = L + step + 1  # sequence length including the token just sampled
        valid[:, cur - 1] = True
        padded = bool((~valid[:, :cur]).any())
        if cache is not None:
            mask = valid[:, None, None, :cur] if padded else None
            logits = model(nxt[:, None], pos, mask, cache)[:, -1]
        else:
            seq = torch.cat([seq, nxt[:, None]], dim=1)
            mask = _prefill_mask(valid[:, :cur]) if padded else None
            logits = model(seq, positions, mask, None)[:, -1]
    model.train(was_training)
    return out


def truncate_at_stop(text: str, stop_strings: Sequence[str]) -> str:
    cut = min((i for i in (text.find(s) for s in stop_strings) if i >= 0), default=len(text))
    return text[:cut]


@dataclass(frozen=True)
class Completion:
    """One prompt's completion. `n_tokens`: tokens generated, up to the one that completed a stop string
    (EOS not counted); `prompt_truncated`: the prompt was cut from the left to fit the window;
    `seconds`: its batch's wall time divided by the batch's rows."""

    text: str
    n_tokens: int
    prompt_truncated: bool
    seconds: float


def fit_budget(max_new_tokens: int, window: int) -> int:
    """`max_new_tokens`, or half of `window` when the budget would leave no room for a prompt (a
    notebook default meant for larger models meeting a small one's window)."""
    return max_new_tokens if max_new_tokens < window else max(1, window // 2)


def complete(
    model: Phi,
    tokenizer: PhiTokenizer,
    prompts: Sequence[str],
    seeds: Sequence[int],
    *,
    max_new_tokens: int = 256,
    temperature: float = 0.0,
    top_p: float = 1.0,
    stop_strings: Sequence[str] = (),
    batch_size: int = 16,
    progress: bool = False,
    desc: str = "generate",
    on_batch: Callable[[list[int], list[Completion]], None] | None = None,
) -> list[Completion]:
    """The completion path of evaluation and probes: one Completion per prompt, in input order.

    Prompts longer than `max_seq_len - max_new_tokens` tokens are cut from the left (with a warning).
    Prompts are batched by length (less padding); prompt i samples with `seeds[i]` whatever its batch,
    so a caller decides what a completion's randomness depends on. Each text is cut before its first
    stop string. `on_batch(indices, completions)` runs after every batch (a caller's cache appends
    there, so an interrupted run keeps what it finished)."""
    from tqdm.auto import tqdm

    if len(seeds) != len(prompts):
        raise ValueError(f"need one seed per prompt, got {len(seeds)} seeds for {len(prompts)} prompts")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    budget = model.config.max_seq_len - max_new_tokens
    if budget <= 0:
        raise ValueError(
            f"max_new_tokens={max_new_tokens} leaves no room in a {model.config.max_seq_len}-token window"
        )
    if not prompts:
        return []
    encoded = tokenizer.encode_batch(list(prompts))
    cut = [len(e) > budget for e in encoded]
    if any(cut):
        log.warning("%s: %d prompt(s) longer than %d tokens were cut from the left", desc, sum(cut), budget)
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
    results: list[Completion | None] = [None] * len(encoded)
    bar = tqdm(total=len(order), desc=desc, unit="prompt", disable=not progress)
    for b in range(0, len(order), batch_size):
        batch = order[b : b + batch_size]
        start = time.perf_counter()
        toks = generate(
            model,
            [encoded[i][-budget:] for i in batch],
            max_new_tokens,
            temperature=temperature,
            top_p=top_p,
            eos_id=tokenizer.eos_id,
            stop_strings=stop_strings,
            tokenizer=tokenizer,
            seed=[seeds[i] for i in batch],
        )
        seconds = (time.perf_counter() - start) / len(batch)
        done = [
            Completion(truncate_at_stop(tokenizer.decode(t), stop_strings), len(t), cut[i], seconds)
            for i, t in zip(batch, toks)
        ]
        for i, c in zip(batch, done):
            results[i] = c
        if on_batch is not None:
            on_batch(batch, done)
        bar.update(len(batch))
    bar.close()
    return results  # type: ignore[return-value]


def generate_text(
    model: Phi,
    tokenizer: PhiTokenizer,
    prompts: Sequence[str],
    max_new_tokens: int = 256,
    temperature: float = 0.0,
    top_p: float = 1.0,
    stop_strings: Sequence[str] = (),
    batch_size: int = 16,
    seed: int | None = None,
    progress: bool = False,
) -> list[str]:
    """Texts of `complete` with prompt i seeded `seed + i`."""
    base = seed or 0
    comps = complete(
        model,
        tokenizer,
        prompts,
        [base + i for i in range(len(prompts))],
        max_new_tokens=max_new_tokens,
        temperature=temperature,
        top_p=top_p,
        stop_strings=stop_strings,
        batch_size=batch_size,
        progress=progress,
    )
    return [c.text for c in comps]
