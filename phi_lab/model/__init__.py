"""The model and what reads and writes it: `phi` (Phi itself), `hf_format` (transformers' layout),
`tokenizer`, `generation`, `loading` (checkpoint directory -> model + tokenizer) and `embeddings`."""
