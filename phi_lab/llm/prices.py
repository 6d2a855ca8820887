"""What replies cost: a price table in USD per 1M tokens (input, output), and its lookup.

The defaults are OpenAI's published list prices (checked 2025; providers change them, so set your
own with `LLMConfig.prices` or `--price MODEL=IN,OUT`). A model with no price has an *unknown* cost,
never $0: `Usage.cost_usd` is then None and the client warns once.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

Price = tuple[float, float]

DEFAULT_PRICES: dict[str, Price] = {
    "gpt-4o": (2.50, 10.00),
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-3.5-turbo": (0.50, 1.50),  # phi-1's synthesis model (the paper's GPT-3.5)
    "gpt-4-turbo": (10.00, 30.00),
    "gpt-4": (30.00, 60.00),  # phi-1's annotator (the paper's GPT-4, 8K context)
}
BATCH_DISCOUNT = 0.5  # the Batch API bills half price

# A dated snapshot bills like its base name: "gpt-4o-mini-2024-07-18", "gpt-4-0613". Nothing else
# is matched by prefix: "gpt-4-32k" or "gpt-4.5" must not silently take gpt-4's price.
_SNAPSHOT = re.compile(r"-(\d{4}|\d{4}-\d{2}-\d{2})$")


def check_price(model: str, price: object) -> Price:
    if (
        not isinstance(price, list | tuple)
        or len(price) != 2
        or not all(isinstance(x, int | float) and not isinstance(x, bool) and x >= 0 for x in price)
    ):
        raise ValueError(
            f"price of {model!r} must be (usd_per_1M_input, usd_per_1M_output) >= 0, got {price!r}"
        )
    return float(price[0]), float(price[1])


def lookup_price(table: Mapping[str, Price], model: str) -> Price | None:
    """The (input, output) price of `model`, or None when the table does not know it."""
    if model in table:
        return table[model]
    m = _SNAPSHOT.search(model)
    if m and model[: m.start()] in table:
        return table[model[: m.start()]]
    return None


def parse_price(spec: str) -> tuple[str, Price]:
    """`MODEL=IN,OUT` (USD per 1M input and output tokens) -> (model, (in, out))."""
    model, sep, rest = spec.rpartition("=")
    parts = rest.split(",")
    try:
        if not sep or not model.strip() or len(parts) != 2:
            raise ValueError
        price = (float(parts[0]), float(parts[1]))
    except ValueError:
        raise ValueError(
            f"price {spec!r} must read MODEL=IN,OUT in USD per 1M tokens, e.g. gpt-4=30,60"
        ) from None
    return model.strip(), check_price(model, price)


def parse_prices(specs: Iterable[str]) -> dict[str, Price]:
    return dict(parse_price(s) for s in specs)
