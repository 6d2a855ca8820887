"""Evaluation (paper §4): HumanEval / MBPP pass@k in the sandbox, solution likelihood, LLM grading.

Submodules: `tasks` (benchmarks and prompts), `passk` (unbiased estimator), `samples` (JSONL I/O),
`functional` (run samples in `phi_lab.sandbox`), `sampling` (generate completions from a checkpoint),
`likelihood` (NLL of canonical solutions), `grading` (Table 2's LLM grading), `cli` (`phi-lab eval`).
"""
