"""Window sampler and mixtures: determinism, exact resume, rank split, proportions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from phi_lab.data.documents import Document
from phi_lab.data.mixture import Mixture
from phi_lab.data.pack import PackConfig, pack
from phi_lab.data.packed import PackedDataset, WindowSampler

SEQ = 16


def _pack(directory: Path, tok, tag: str, n: int) -> PackedDataset:
    docs = [
        Document(f"# {tag} {i}\ndef {tag}_{i}(x):\n    return x * {i} + {i * i}\n", tag, f"{tag}/{i}")
        for i in range(n)
    ]
    pack(docs, tok, directory, PackConfig(val_fraction=0.0, shard_tokens=300), progress=False)
    return PackedDataset(directory)


@pytest.fixture(scope="module")
def packed(tmp_path_factory, tiny_tokenizer) -> PackedDataset:
    return _pack(tmp_path_factory.mktemp("a"), tiny_tokenizer, "alpha", 80)


@pytest.fixture(scope="module")
def packed_b(tmp_path_factory, tiny_tokenizer) -> PackedDataset:
    return _pack(tmp_path_factory.mktemp("b"), tiny_tokenizer, "beta", 40)


def test_windows_are_the_packed_tokens(packed: PackedDataset) -> None:
    flat = packed.read(0, len(packed))
    s = WindowSampler(packed, SEQ, seed=3)
    assert s.n_windows == (len(packed) - 1) // SEQ and len(packed._shards) > 1
    idx = s.next_indices(5)
    batch = s.read_window
    for i in idx:
        np.testing.assert_array_equal(batch(i), flat[i * SEQ : i * SEQ + SEQ + 1])
    b = WindowSampler(packed, SEQ, seed=3).next_batch(5)
    assert b.dtype == torch.int64 and b.shape == (5, SEQ + 1)
    assert b[:, 1:].eq(torch.from_numpy(np.stack([flat[i * SEQ + 1 : i * SEQ + SEQ + 1] for i in idx]))).all()


def test_epochs_are_seeded_permutations(packed: PackedDataset) -> None:
    s = WindowSampler(packed, SEQ, seed=0)
    n = s.n_windows
    e0, e1 = s.take(n), s.take(n)
    assert sorted(e0) == sorted(e1) == list(range(n)) and e0 != e1 and s.epoch == 2
    assert WindowSampler(packed, SEQ, seed=0).take(n) == e0
    assert WindowSampler(packed, SEQ, seed=1).take(n) != e0
    assert WindowSampler(packed, SEQ, shuffle=False).take(n) == list(range(n))


def test_state_dict_resume_equals_uninterrupted(packed: PackedDataset) -> None:
    ref = WindowSampler(packed, SEQ, seed=7)
    batches = [ref.next_batch(6) for _ in range(40)]  # crosses epoch boundaries
    assert ref.epoch >= 1
    s = WindowSampler(packed, SEQ, seed=7)
    for b in batches[:13]:
        assert torch.equal(s.next_batch(6), b)
    state = s.state_dict()
    resumed = WindowSampler(packed, SEQ, seed=7)
    resumed.load_state_dict(state)
    for b in batches[13:]:
        assert torch.equal(resumed.next_batch(6), b)
    seeked = WindowSampler(packed, SEQ, seed=7)
    seeked.seek(6 * 30)
    assert torch.equal(seeked.next_batch(6), batches[30])
    with pytest.raises(ValueError, match="seed"):
        WindowSampler(packed, SEQ, seed=8).load_state_dict(state)
    with pytest.raises(ValueError, match="seq_len"):
        WindowSampler(packed, SEQ * 2, seed=7).load_state_dict(state)


def test_rank_split_equals_single_process_global_batch(packed: PackedDataset) -> None:
    single = WindowSampler(packed, SEQ, seed=5)
    ranks = [WindowSampler(packed, SEQ, seed=5, rank=r, world_size=2) for r in range(2)]
    for _ in range(10):
        global_batch = single.next_batch(8)
        parts = [r.next_batch(4) for r in ranks]
        assert torch.equal(torch.cat(parts), global_batch)
        assert not set(map(tuple, parts[0].tolist())) & set(map(tuple, parts[1].tolist()))
    assert ranks[0].state_dict() == ranks[1].state_dict() == single.state_dict()
    with pytest.raises(ValueError):
        WindowSampler(packed, SEQ, rank=2, world_size=2)


def test_mixture_proportions_resume_and_ranks(packed, packed_b) -> None:
    def make(rank=0, world_size=1):
        return Mixture(
            [WindowSampler(packed, SEQ, seed=1), WindowSampler(packed_b, SEQ, seed=2)],
            [0.8, 0.2],
            rank=rank,
            world_size=world_size,
        )

    m = make()
    picks = m.take(1000)
    comps = [k for k, _ in picks]
    assert comps.count(0) == 800 and comps.count(1) == 200
    for n in range(1, 1001):  # every prefix within one sample of 80/20
        assert abs(comps[:n].count(1) - 0.2 * n) <= 1
    assert make().take(1000) == picks
    ref = make()
    batches = [ref.next_batch(5) for _ in range(20)]
    m = make()
    for b in batches[:7]:
        assert torch.equal(m.next_batch(5), b)
    resumed = make()
    resumed.load_state_dict(m.state_dict())
    for b in batches[7:]:
        assert torch.equal(resumed.next_batch(5), b)
    single, ranks = make(), [make(r, 2) for r in range(2)]
    for _ in range(5):
        assert torch.equal(torch.cat([r.next_batch(3) for r in ranks]), single.next_batch(6))
    with pytest.raises(ValueError, match="seq_len"):
        Mixture([WindowSampler(packed, SEQ), WindowSampler(packed_b, SEQ * 2)], [1, 1])
    with pytest.raises(ValueError, match="weights"):
        Mixture([WindowSampler(packed, SEQ)], [-1])


def test_mixture_components_draw_their_own_data(packed, packed_b) -> None:
    m = Mixture([WindowSampler(packed, SEQ, seed=1), WindowSampler(packed_b, SEQ, seed=2)], [0.5, 0.5])
    for (k, i), row in zip(
        m.next_indices(20),
        Mixture(
            [WindowSampler(packed, SEQ, seed=1), WindowSampler(packed_b, SEQ, seed=2)], [0.5, 0.5]
        ).next_batch_numpy(20),
    ):
        ds = (packed, packed_b)[k]
        np.testing.assert_array_equal(row, ds.read(i * SEQ, SEQ + 1))
