"""OpenAI-compatible LLM access for annotation, synthesis and grading.

client.py (LLMClient, LLMConfig, ChatResult, Usage) · replies.py (reply bodies, errors, base-model
prompts) · ratelimit.py (token buckets) · cache.py (ReplyCache, cache_key) · prices.py · batch.py
(the Batch API).
"""
