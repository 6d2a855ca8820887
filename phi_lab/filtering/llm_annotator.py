"""OpenAIAnnotator: GPT-4-style educational-value labels over any OpenAI-compatible API (§2.1).

phi-1 asked GPT-4 to "determine its educational value for a student whose goal is to learn basic
coding concepts" for a sample of The Stack; this module asks the same of the configured model
through the shared `phi_lab.llm.client.LLMClient` (cache by content, rate limits, retries, cost). The
reply is hostile input: it is parsed for a 0-10 score in several forms, and a reply that says
nothing usable becomes a label with an error, never a guessed verdict.
"""

from __future__ import annotations

import json
import re
from typing import Any

from phi_lab.data.documents import Document
from phi_lab.filtering.labels import Label
from phi_lab.llm.client import LLMClient, LLMConfig, LLMError

PROMPT_VERSION = "edu-value-v1"
SYSTEM = "You are an experienced programming teacher who reviews code for use in a beginners' course."
TEMPLATE = """Here is a Python file{truncated}.

```python
{code}
```

Determine its educational value for a student whose goal is to learn basic coding concepts.
Consider whether it is self-contained, whether it does meaningful computation rather than
boilerplate or configuration, whether its algorithmic logic is clear and explained, and whether
it is general rather than tied to one narrow use.

Answer with a JSON object only: {{"score": <integer 0-10, 10 = most educational>, "reason": "<one sentence>"}}"""

WORD_SCORES = {
    "very high": 9.0,
    "high": 8.0,
    "medium": 5.0,
    "moderate": 5.0,
    "low": 2.0,
    "very low": 1.0,
    "none": 0.0,
}
_SCORE_KEYS = ("score", "educational_value", "educational value", "value", "rating")
_FRACTION = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)\s*(?:/|out of)\s*(10|100|5)\b", re.I)
_KEYED = re.compile(r"\b(?:score|rating|educational[ _]value)\b[^0-9a-z]{0,12}(\d+(?:\.\d+)?)", re.I)
_WORD = re.compile(r"\b(very high|very low|high|medium|moderate|low|none)\b", re.I)


class UnparseableReply(ValueError):
    pass


def _number(value: Any, scale: float = 10.0) -> float:
    """A score given as a number or a numeric/fraction/word string, rescaled to 0..10."""
    if isinstance(value, bool):
        raise UnparseableReply(f"boolean score {value!r}")
    if isinstance(value, int | float):
        x = float(value) * 10.0 / scale
    elif isinstance(value, str):
        v = value.strip().lower()
        m = _FRACTION.search(v)
        if m:
            x = float(m.group(1)) * 10.0 / float(m.group(2))
        elif re.fullmatch(r"\d+(\.\d+)?", v):
            x = float(v) * 10.0 / scale
        elif v in WORD_SCORES:
            x = WORD_SCORES[v]
        else:
            raise UnparseableReply(f"score {value!r} is not a number")
    else:
        raise UnparseableReply(f"score of type {type(value).__name__}")
    if not 0.0 <= x <= 10.0:
        raise UnparseableReply(f"score {value!r} outside 0-10")
    return x


def _json_objects(text: str) -> list[dict[str, Any]]:
    """Every JSON object embedded in `text` (code fences and chatter around it are ignored)."""
    decoder = json.JSONDecoder()
    found = []
    for m in re.finditer(r"\{", text):
        try:
            obj, _ = decoder.raw_decode(text, m.start())
        except ValueError:
            continue
        if isinstance(obj, dict):
            found.append(obj)
    return found


def parse_reply(text: str) -> tuple[float, str]:
    """(score in 0..10, reason) from a model reply; raises UnparseableReply when there is none."""
    if not text or not text.strip():
        raise UnparseableReply("empty reply")
    for obj in _json_objects(text):
        lowered = {str(k).lower(): v for k, v in obj.items()}
        for key in _SCORE_KEYS:
            if key in lowered:
                reason = lowered.get("reason") or lowered.get("explanation") or ""
                return _number(lowered[key]), str(reason).strip()
    for pattern in (_FRACTION, _KEYED):
        m = pattern.search(text)
        if m:
            scale = float(m.group(2)) if pattern is _FRACTION else 10.0
            return _number(float(m.group(1)), scale), text.strip()[:300]
    words = {w.lower() for w in _WORD.findall(text)}
    if len(words) == 1:
        return WORD_SCORES[words.pop()], text.strip()[:300]
    if words:
        raise UnparseableReply(f"ambiguous verdict words {sorted(words)}: {text.strip()[:120]!r}")
    raise UnparseableReply(f"no score in reply: {text.strip()[:120]!r}")


class OpenAIAnnotator:
    """Per-file educational value from a chat model; label 1 when score/10 reaches `threshold`."""

    name = "openai"
    prompt_version = PROMPT_VERSION

    def __init__(
        self,
        config: LLMConfig | None = None,
        client: LLMClient | None = None,
        threshold: float = 0.5,
        max_chars: int = 12_000,
        max_tokens: int = 200,
        batch_size: int = 64,
    ) -> None:
        if client is None and config is None:
            raise ValueError("OpenAIAnnotator needs an LLMConfig (model, base URL) or an LLMClient")
        if not 0.0 < threshold < 1.0:
            raise ValueError(f"threshold must be in (0, 1), got {threshold}")
        # No key: fail here, before a corpus is read or a snapshot written (check() also warns once
        # when the model has no price, so the cost will read "unknown").
        self.client = (client or LLMClient(config)).check()  # type: ignore[arg-type]
        self.model = self.client.config.model
        self.threshold = threshold
        self.max_chars = max_chars
        self.max_tokens = max_tokens
        self.batch_size = batch_size

    def messages(self, doc: Document) -> list[dict[str, str]]:
        code = doc.text
        truncated = ""
        if len(code) > self.max_chars:
            # Said in the prompt and recorded in the label: the model judged only the head.
            truncated = f" (only its first {self.max_chars} of {len(code)} characters are shown)"
            code = code[: self.max_chars]
        return [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": TEMPLATE.format(code=code, truncated=truncated)},
        ]

    def _label(self, doc: Document, text: str | None, model: str, error: str | None, cached: bool) -> Label:
        meta: dict[str, Any] = {"threshold": self.threshold, "cached": cached}
        if len(doc.text) > self.max_chars:
            meta["truncated_to_chars"] = self.max_chars
        base = dict(
            path=doc.path,
            source=doc.source,
            sha256=doc.sha256,
            annotator=self.name,
            prompt_version=self.prompt_version,
            model=model,
            meta=meta,
            text=doc.text,
        )
        if error is None:
            try:
                score10, reason = parse_reply(text or "")
            except UnparseableReply as e:
                error = f"unparseable reply: {e}"
            else:
                score = round(score10 / 10.0, 4)
                return Label(score=score, label=int(score >= self.threshold), reasons=[reason], **base)
        return Label(score=None, label=None, reasons=[], error=error, **base)

    def annotate(self, docs: list[Document], progress: bool = False) -> list[Label]:
        """Labels in input order. A request that fails for good fails only its own files, except
        that a first chunk failing file by file (a wrong model name, a refused request) stops the run
        with the server's message instead of failing every file of the corpus the same way."""
        from tqdm.auto import tqdm

        labels: list[Label] = []
        bar = tqdm(total=len(docs), desc=f"annotate {self.model}", unit="file", disable=not progress)
        kw = dict(temperature=0.0, max_tokens=self.max_tokens, template_version=self.prompt_version)
        answered = 0
        for start in range(0, len(docs), self.batch_size):
            chunk = docs[start : start + self.batch_size]
            try:
                results = self.client.chat_many([self.messages(d) for d in chunk], progress=False, **kw)
                labels += [self._label(d, r.text, r.model, None, r.cached) for d, r in zip(chunk, results)]
                answered += len(chunk)
            except LLMError:
                # Replies that did arrive are cached, so going one by one re-pays nothing.
                errors = []
                for d in chunk:
                    try:
                        r = self.client.chat(self.messages(d), **kw)
                        labels.append(self._label(d, r.text, r.model, None, r.cached))
                        answered += 1
                    except LLMError as e:
                        errors.append(str(e))
                        labels.append(self._label(d, None, self.model, f"request failed: {e}", False))
                if not answered:
                    bar.close()
                    raise LLMError(
                        f"every request of the first {len(chunk)} files failed; first: {errors[0]}"
                    ) from None
            bar.update(len(chunk))
        bar.close()
        return labels
