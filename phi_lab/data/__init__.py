"""Text to tokens (paper §2.3): corpus readers, the offline corpus, packing, samplers, mixtures.

Public API
----------
Documents and readers (`phi_lab.data.documents`)
    Document(text, source, path, meta)      one training document with its provenance
    SkipLog                                  skipped inputs with reasons; .write("skipped.jsonl")
    read_python_tree(dir) / read_jsonl(path, text_field) / read_parquet(path, text_field)
    read_hf_dataset(dir, text_field, split)  a `save_to_disk` dataset (needs `datasets`)
    read_source(spec) / read_sources(specs)  'offline', a dir, .py/.jsonl/.parquet, a saved dataset
    write_documents(docs, path, limit)       JSONL snapshot that read_jsonl reads back with provenance
Offline corpus (`phi_lab.data.offline`)
    offline_python_corpus(max_documents=None, max_bytes=None, seed=0, include_site_packages=True)
Packing (`phi_lab.data.pack`)
    PackConfig(sources, val_fraction, split_seed, shard_tokens, dedup, extra)
    pack(documents, tokenizer, out_dir, config, skips=None, workers=1) -> manifest dict
Reading and sampling (`phi_lab.data.packed`)
    PackedDataset(dir, split="train")        memory-mapped tokens; len(), read(start, n), documents()
    WindowSampler(dataset, seq_len=2048, seed=0, rank=0, world_size=1, shuffle=True)
        .next_batch(batch_size) -> LongTensor (batch_size, seq_len + 1)   (per-rank batch size)
        .state_dict() / .load_state_dict(state) / .seek(n) / .epoch / .consumed
Mixtures (`phi_lab.data.mixture`)
    Mixture(samplers, weights, rank=0, world_size=1); Mixture.from_dirs(dirs, weights, seq_len, seed)
        same next_batch / state_dict / load_state_dict as WindowSampler
Cached defaults (`phi_lab.data.defaults`)
    default_tokenizer(vocab_size=4096 | 'cpu-2k' | 'cpu-4k' | 'codegen', ...) -> PhiTokenizer
    default_packed_corpus(vocab_size=4096, max_documents=None, max_bytes=16e6, ...) -> Path

Torch is imported only inside `next_batch`, so packing workers and the CLI start fast.
"""

from phi_lab.data.defaults import TOKENIZER_PRESETS, default_packed_corpus, default_tokenizer
from phi_lab.data.documents import (
    Document,
    SkipLog,
    read_hf_dataset,
    read_jsonl,
    read_parquet,
    read_python_tree,
    write_documents,
)
from phi_lab.data.mixture import Mixture
from phi_lab.data.offline import offline_python_corpus
from phi_lab.data.pack import PackConfig, pack
from phi_lab.data.packed import DEFAULT_SEQ_LEN, PackedDataset, WindowSampler
from phi_lab.data.sources import detect_kind, iter_corpus, read_source, read_sources

__all__ = [
    "DEFAULT_SEQ_LEN",
    "TOKENIZER_PRESETS",
    "Document",
    "Mixture",
    "PackConfig",
    "PackedDataset",
    "SkipLog",
    "WindowSampler",
    "default_packed_corpus",
    "default_tokenizer",
    "detect_kind",
    "iter_corpus",
    "offline_python_corpus",
    "pack",
    "read_hf_dataset",
    "read_jsonl",
    "read_parquet",
    "read_python_tree",
    "read_source",
    "read_sources",
    "write_documents",
]
