"""Decontamination of training data against HumanEval/MBPP and pruning of CodeExercises (phi-1 §5).

- `ngrams`: normalized n-gram overlap, hits with context.
- `ast_match`: the AST match rate tau between two programs (definition in its docstring).
- `similarity`: embedding distance + AST match rate for exercise x problem pairs, cached.
- `ast_first`: the same close pairs with the stages reversed, for CPU-only runs at scale.
- `pruning`: per-tau removed exercises and similar problems, pruned sets for retraining.
- `table3`: pass@1 on similar / non-similar problems beside the paper's Table 3.
"""
