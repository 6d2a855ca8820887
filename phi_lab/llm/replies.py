"""What a server says: reply bodies of both endpoints, errors, and prompts for base models.

`/v1/chat/completions` answers in `choices[0].message.content`; `/v1/completions` (how servers
expose base models, which have no chat format) in `choices[0].text`. A 2xx body without usable text
is `MalformedResponse` (retried by the client); an error reply's own message is pulled out of
whatever shape the server used, so the user reads what the server said.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

Messages = list[dict[str, str]]
ENDPOINTS = ("chat", "completions")
ENDPOINT_PATHS = {"chat": "/v1/chat/completions", "completions": "/v1/completions"}


class LLMError(RuntimeError):
    """A request failed for good (the server refused it, or retries ran out)."""


class MalformedResponse(Exception):
    """The server answered 2xx with a body that is not a usable completion."""


@dataclass
class Reply:
    text: str
    prompt_tokens: int  # -1 when the server did not say
    completion_tokens: int
    finish_reason: str | None
    model: str | None


def render_prompt(messages: Messages) -> str:
    """The text a base model continues: every message's content, each followed by a blank line.

    `phi_lab.model.tokenizer.CHAT_TEMPLATE` renders the same text, so a checkpoint answers one
    conversation identically through either endpoint.
    """
    return "".join(f"{m.get('content') or ''}\n\n" for m in messages)


def estimate_tokens(messages: Messages, max_tokens: int | None) -> int:
    """A rough upper bound for the tokens-per-minute bucket (4 characters a token)."""
    chars = sum(len(m.get("content") or "") for m in messages)
    return chars // 4 + 8 * len(messages) + (max_tokens or 256)


def parse_reply(body: Any, endpoint: str = "chat") -> Reply:
    if not isinstance(body, dict):
        raise MalformedResponse(f"body is {type(body).__name__}, not a JSON object")
    choices = body.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise MalformedResponse("no choices in the reply")
    if endpoint == "chat":
        msg = choices[0].get("message")
        text = msg.get("content") if isinstance(msg, dict) else None
        where = "choices[0].message.content"
    else:
        text, where = choices[0].get("text"), "choices[0].text"
    if not isinstance(text, str):
        raise MalformedResponse(f"{where} is missing or not a string")
    usage = body.get("usage") if isinstance(body.get("usage"), dict) else {}
    pt, ct = usage.get("prompt_tokens"), usage.get("completion_tokens")
    # A server that omits usage is still accounted: completion tokens estimated at 4 chars a token.
    pt = int(pt) if isinstance(pt, int) else -1
    ct = int(ct) if isinstance(ct, int) else max(1, len(text) // 4)
    model = body.get("model") if isinstance(body.get("model"), str) else None
    return Reply(text, pt, ct, choices[0].get("finish_reason"), model)


def server_message(err: Any, limit: int = 500) -> str:
    """The server's own words from an `openai.APIStatusError` (JSON `error.message`, FastAPI's
    `detail`, or a plain-text body), not the SDK's generic 'Error code: 500'."""
    body = getattr(err, "body", None)
    msg: Any = None
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict):
            msg = inner.get("message") or inner.get("detail")
        elif isinstance(inner, str):
            msg = inner
        msg = msg or body.get("detail") or body.get("message")
    elif isinstance(body, str):
        msg = body
    if not msg:
        response = getattr(err, "response", None)
        try:
            msg = response.text if response is not None else None
        except Exception:  # a streamed body that was never read
            msg = None
    text = str(msg if msg else err).replace("\n", " ").strip()
    return text[:limit] or "(empty body)"
