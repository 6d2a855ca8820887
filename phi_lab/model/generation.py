"""Batched decoding for Phi: greedy, temperature, top-p, stop strings, per-row finish.

Prompts of different lengths are left-padded so every row's next token sits in the last column.
Decoding writes into a pre-allocated KV cache; rows that finish are dropped from the batch (and the
cache), so a batch costs what its longest *unfinished* row costs. Sampling draws each row's
randomness from its own generator (seeded `seed + row index` by `generate_text`), so a completion
does not depend on which other prompts shared its batch.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

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
    contains a stop string (the tokens that completed it are included; `generate_text` cuts the
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
    """Completions for text prompts, each cut before the first stop string, in input order.

    Prompts are batched by length (less padding); row i samples with seed `seed + i` whatever its batch.
    Prompts longer than the context window are cut from the left (with a warning).
    """
    from tqdm.auto import tqdm

    encoded = tokenizer.encode_batch(list(prompts))
    budget = model.config.max_seq_len - max_new_tokens
    if budget <= 0:
        raise ValueError(
            f"max_new_tokens={max_new_tokens} leaves no room in a {model.config.max_seq_len}-token window"
        )
    if any(len(e) > budget for e in encoded):
        log.warning("some prompts exceed %d tokens and were cut from the left", budget)
        encoded = [e[-budget:] for e in encoded]
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
    results: list[str] = [""] * len(encoded)
    base = seed or 0
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    for batch in tqdm(batches, desc="generate", unit="batch", disable=not progress):
        toks = generate(
            model,
            [encoded[i] for i in batch],
            max_new_tokens,
            temperature=temperature,
            top_p=top_p,
            eos_id=tokenizer.eos_id,
            stop_strings=stop_strings,
            tokenizer=tokenizer,
            seed=[base + i for i in batch],
        )
        for i, t in zip(batch, toks):
            results[i] = truncate_at_stop(tokenizer.decode(t), stop_strings)
    return results
