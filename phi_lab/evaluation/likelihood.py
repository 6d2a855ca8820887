"""Solution likelihood: mean per-token NLL of canonical solutions given their prompts.

Small models score 0% pass@1; this continuous signal still moves with data quality (the paper's
effect at small scale). Prompt and solution are tokenized separately and concatenated, so every
model sees the same solution tokens whatever the prompt's last characters are.
"""

from __future__ import annotations

import math

from phi_lab.benchmarks import Problem


def solution_nll(
    model, tokenizer, problems: dict[str, Problem], *, batch_size: int = 8, progress: bool = False
) -> tuple[list[dict], dict]:
    """(per-task rows, summary). Prompts too long for the window are cut from the left."""
    import torch
    import torch.nn.functional as F
    from tqdm.auto import tqdm

    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    window = model.config.max_seq_len
    items = []
    for tid, p in problems.items():
        prompt, sol = tokenizer.encode(p.prompt), tokenizer.encode(p.canonical_solution)
        if not sol:
            raise ValueError(f"{tid}: empty canonical solution")
        sol_truncated = len(sol) > window - 1
        sol = sol[: window - 1]
        prompt = prompt[-(window - len(sol)) :] if prompt else []
        items.append((tid, prompt, sol, sol_truncated))
    order = sorted(range(len(items)), key=lambda i: len(items[i][1]) + len(items[i][2]))
    rows: list[dict | None] = [None] * len(items)
    device = next(model.parameters()).device
    model.eval()
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    with torch.no_grad():
        for batch in tqdm(batches, desc="likelihood", unit="batch", disable=not progress):
            seqs = [items[i][1] + items[i][2] for i in batch]
            longest = max(map(len, seqs))
            # Right padding: a causal model never looks ahead, so pads cannot change earlier logits.
            ids = torch.zeros(len(seqs), longest, dtype=torch.long)
            for r, s in enumerate(seqs):
                ids[r, : len(s)] = torch.tensor(s)
            logp = F.log_softmax(model(ids.to(device)).float(), dim=-1)
            for r, i in enumerate(batch):
                tid, prompt, sol, truncated = items[i]
                # token t is predicted at position t-1; the first token with no prompt is not scored
                first = max(len(prompt), 1)
                pos = torch.arange(first - 1, len(prompt) + len(sol) - 1, device=logp.device)
                targets = ids[r, first : len(prompt) + len(sol)].to(logp.device)
                nll = -logp[r, pos, targets]
                rows[i] = {
                    "task_id": tid,
                    "n_tokens": int(nll.numel()),
                    "nll_sum": float(nll.sum()),
                    "nll_mean": float(nll.mean()),
                    "prompt_tokens": len(prompt),
                    "solution_truncated": truncated,
                }
    done = [r for r in rows if r is not None]
    n_tokens = sum(r["n_tokens"] for r in done)
    token_mean = sum(r["nll_sum"] for r in done) / max(n_tokens, 1)
    summary = {
        "n_tasks": len(done),
        "n_tokens": n_tokens,
        "nll_per_token": token_mean,  # the headline number: token-weighted over all solutions
        "nll_task_mean": sum(r["nll_mean"] for r in done) / max(len(done), 1),
        "perplexity": math.exp(token_mean) if token_mean < 700 else float("inf"),
    }
    return done, summary
