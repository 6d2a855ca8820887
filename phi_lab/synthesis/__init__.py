"""Synthetic textbooks and exercises (phi-1 §2.2, phi-1.5): samplers, offline generator, LLM backend, quality."""
