"""An OpenAI-compatible LLM client for annotation, synthesis and grading."""
