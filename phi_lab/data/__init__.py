"""Text to tokens (paper §2.3): corpus readers, the offline corpus, packing, samplers, mixtures.

Public API
----------
Documents and readers (`documents`, `tables`, `hub`, `stackexchange`, `sources`)
    Document(text, source, path, meta)      one training document with its provenance
    SkipLog                                  skipped inputs with reasons; .write("skipped.jsonl")
    EmptySourceError                         a source that yields no document (always an error)
    read_python_tree(dir) / read_jsonl(path, text_field=None) / read_parquet(path, text_field=None)
        JSONL plain or .gz/.zst/.bz2/.xz (by content); text field 'content' or 'text' unless named
    read_hf_dataset(dir, text_field, split)  a `save_to_disk` dataset (needs `datasets`)
    read_hub(HubSource)                      hf://repo[/data_dir], streamed (`load_dataset(..., streaming=True)`)
    read_stackexchange(Posts.xml | export)   each Python question with its answers by score
    SourceSpec.parse("PATH?kind=..&text_field=..&name=..")
    read_source(spec) / read_sources(specs)  'offline', a path recognised by content, or hf://...
    write_documents(docs, path, limit)       JSONL snapshot that read_jsonl reads back with provenance
Sharded reading (`phi_lab.data.units`) and samples (`phi_lab.data.sample`)
    plan_corpus(specs, work_dir, ...) -> Plan of Units; read_unit(unit); write_plan / read_plan(rank, N)
    sample_documents(docs, k, seed)          seeded uniform sample (bottom-k priorities, mergeable)
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
    default_tokenizer(vocab_size=4096 | 'cpu-2k' | 'cpu-4k' | 'stdlib-bpe-50k' | 'codegen' (published), ...) -> PhiTokenizer
    default_packed_corpus(vocab_size=4096, max_documents=None, max_bytes=16e6, ...) -> Path

Torch is imported only inside `next_batch`, so packing workers and the CLI start fast.
"""

from phi_lab.data.defaults import TOKENIZER_PRESETS, default_packed_corpus, default_tokenizer
from phi_lab.data.documents import (
    Document,
    EmptySourceError,
    SkipLog,
    read_python_tree,
    write_documents,
)
from phi_lab.data.hub import HubSource, read_hub
from phi_lab.data.mixture import Mixture
from phi_lab.data.offline import offline_python_corpus
from phi_lab.data.pack import PackConfig, pack
from phi_lab.data.packed import DEFAULT_SEQ_LEN, PackedDataset, WindowSampler
from phi_lab.data.sample import sample_documents
from phi_lab.data.sources import SourceSpec, detect_kind, iter_corpus, read_source, read_sources
from phi_lab.data.stackexchange import read_stackexchange
from phi_lab.data.tables import read_hf_dataset, read_jsonl, read_parquet
from phi_lab.data.units import Plan, Unit, plan_corpus, read_unit

__all__ = [
    "DEFAULT_SEQ_LEN",
    "TOKENIZER_PRESETS",
    "Document",
    "EmptySourceError",
    "HubSource",
    "Mixture",
    "PackConfig",
    "PackedDataset",
    "Plan",
    "SkipLog",
    "SourceSpec",
    "Unit",
    "WindowSampler",
    "default_packed_corpus",
    "default_tokenizer",
    "detect_kind",
    "iter_corpus",
    "offline_python_corpus",
    "pack",
    "plan_corpus",
    "read_hf_dataset",
    "read_hub",
    "read_jsonl",
    "read_parquet",
    "read_python_tree",
    "read_source",
    "read_sources",
    "read_stackexchange",
    "read_unit",
    "sample_documents",
    "write_documents",
]
