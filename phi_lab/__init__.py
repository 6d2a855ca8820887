"""phi-lab: reproduce and extend "Textbooks Are All You Need" (phi-1) and phi-1.5."""

__version__ = "0.1.0"
