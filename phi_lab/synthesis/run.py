"""What `phi-lab synth` needs beyond `SynthConfig` / `run_synthesis`: the LLM client's settings from
command-line options, including a JSON price table read from a file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def read_price_table(path: str | Path) -> dict[str, tuple[float, float]]:
    """{"model": [usd_per_1M_in, usd_per_1M_out]} from a JSON file (added over the default prices)."""
    path = Path(path)
    try:
        table = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(f"cannot read price table {path}: {e}") from None
    if not isinstance(table, dict):
        raise ValueError(f"price table {path}: expected a JSON object of model -> [in, out]")
    try:
        return {str(model): (float(p[0]), float(p[1])) for model, p in table.items()}
    except (TypeError, ValueError, IndexError, KeyError):
        raise ValueError(f"price table {path}: every value must be [usd_per_1M_in, usd_per_1M_out]") from None


def llm_options(
    *,
    concurrency: int = 8,
    requests_per_minute: float = 500.0,
    tokens_per_minute: float = 200_000.0,
    max_retries: int = 6,
    base_url: str | None = None,
    cache_dir: str | Path | None = None,
    prices: str | Path | None = None,
    price: list[str] | None = None,
    endpoint: str = "chat",
) -> dict[str, Any]:
    """`SynthConfig.llm`: LLMConfig fields other than the model (the key always comes from the environment)."""
    llm: dict[str, Any] = {
        "max_concurrency": concurrency,
        "requests_per_minute": requests_per_minute,
        "tokens_per_minute": tokens_per_minute,
        "max_retries": max_retries,
        "endpoint": endpoint,
    }
    if base_url:
        llm["base_url"] = base_url
    if cache_dir:
        llm["cache_dir"] = cache_dir
    if prices:
        llm["prices"] = read_price_table(prices)
    if price:  # --price MODEL=IN,OUT, over the table
        from phi_lab.llm.prices import parse_prices

        llm["prices"] = {**llm.get("prices", {}), **parse_prices(price)}
    return llm
