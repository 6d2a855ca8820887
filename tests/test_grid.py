"""Figure 2.1's grid of runs and the models table (models.json) that notebooks 03-07 share."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from phi_lab.training.grid import (
    Finetune,
    GridCell,
    ModelRun,
    base_of,
    figure_2_1_grid,
    latest,
    read_models,
    train_grid,
    write_models,
)


def test_the_grid_is_every_size_budget_and_dataset_in_order():
    grid = figure_2_1_grid(["smoke", "micro"], [40, 120])
    assert len(grid) == 12 and grid[0] == GridCell("smoke", 40, "unfiltered")
    assert [c.name for c in grid[:3]] == ["smoke-40-unfiltered", "smoke-40-filtered", "smoke-40-codetextbook"]
    assert grid[-1].finetuned_name == "micro-120-codetextbook-ft"
    with pytest.raises(ValueError, match=r"unknown Figure 2.1 datasets \['stack'\]"):
        figure_2_1_grid(["smoke"], [10], ["stack"])
    with pytest.raises(ValueError, match="at least one"):
        figure_2_1_grid([], [10])


def _table(tmp: Path) -> list[ModelRun]:
    rows = []
    for preset in ("smoke", "micro"):
        for data in ("unfiltered", "codetextbook"):
            name = f"{preset}-10-{data}"
            rows.append(
                ModelRun(name, preset, 10, 640, data, False, str(tmp / name / "checkpoints" / "step-10"))
            )
            rows.append(
                ModelRun(
                    f"{name}-ft", preset, 10, 640, data, True, str(tmp / f"{name}-ft" / "c" / "s"), base=name
                )
            )
    return rows


def test_models_table_round_trips_and_names_each_base(tmp_path):
    models = _table(tmp_path)
    write_models(tmp_path / "training" / "models.json", models)
    back = read_models(tmp_path / "training")  # the stage directory or the file itself
    assert back == models == read_models(tmp_path / "training" / "models.json")
    tuned = latest(back, finetuned=True)
    assert (
        tuned.name == "micro-10-codetextbook-ft"
        and latest(back, finetuned=False).name == "micro-10-codetextbook"
    )
    # the base is recorded, not guessed from a suffix
    assert base_of(tuned, back).name == "micro-10-codetextbook"
    assert tuned.run_dir == tmp_path / "micro-10-codetextbook-ft"
    with pytest.raises(ValueError, match="is not finetuned"):
        base_of(latest(back, finetuned=False), back)


def test_a_broken_models_table_says_what_is_wrong(tmp_path):
    with pytest.raises(FileNotFoundError, match="run the training stage"):
        read_models(tmp_path)
    rows = [m.to_json() for m in _table(tmp_path)]
    path = tmp_path / "models.json"
    path.write_text(json.dumps(rows[1:]))  # the first finetuned model's base is missing
    with pytest.raises(ValueError, match="base model 'smoke-10-unfiltered' is not in the table"):
        read_models(path)
    path.write_text(json.dumps([{k: v for k, v in rows[0].items() if k != "tokens"}]))
    with pytest.raises(ValueError, match=r"lacks \['tokens'\]"):
        read_models(path)
    with pytest.raises(ValueError, match="must name its base"):
        ModelRun("x-ft", "smoke", 1, 1, "filtered", True, "p")
    assert ModelRun.from_json({**rows[0], "extra": 1}) == _table(tmp_path)[0]  # readers ignore additions
    # a table written before finetuned rows named their base (runs of earlier versions) still reads
    old = {k: v for k, v in rows[1].items() if k != "base"}
    assert ModelRun.from_json(old) == _table(tmp_path)[1]


def test_train_grid_pretrains_then_finetunes_from_that_checkpoint(tmp_path, packed_code):
    """Real runs, each in its own process: the table records tokens, checkpoints and the base; the
    finetune starts from the pretrained checkpoint with the given settings; a rerun resumes."""
    cells = figure_2_1_grid(["smoke"], [5], ["filtered"])
    packed = {"filtered": packed_code, "codeexercises": packed_code}
    ft = Finetune(steps=2, lr=2e-4, warmup_steps=1, weight_decay=0.02)
    lines: list[str] = []
    models = train_grid(cells, packed, tmp_path / "runs", ft, device="cpu", seed=3, log=lines.append)
    base, tuned = models
    assert (base.name, tuned.name, tuned.base) == (
        "smoke-5-filtered",
        "smoke-5-filtered-ft",
        "smoke-5-filtered",
    )
    assert base.tokens == 5 * 8 * 64  # smoke: 8 sequences of 64 tokens per step
    assert base.seed == tuned.seed == 3
    assert Path(base.path).name == "step-00000005" and Path(tuned.path).name == "step-00000002"
    cfg = tuned.train_config()
    assert (cfg["max_steps"], cfg["lr"], cfg["warmup_steps"], cfg["weight_decay"], cfg["seed"]) == (
        2,
        2e-4,
        1,
        0.02,
        3,
    )
    assert Finetune.of(tuned) == ft
    run = json.loads((tuned.run_dir / "run.json").read_text())
    assert run["init"] == base.path
    assert any(line.startswith("[smoke-5-filtered-ft] step") for line in lines)  # the log streamed through
    lines.clear()
    assert train_grid(cells, packed, tmp_path / "runs", ft, device="cpu", seed=3, log=lines.append) == models
    assert any("resuming from" in line for line in lines)
    with pytest.raises(ValueError, match=r"no packed data for \['codeexercises'\]"):
        train_grid(cells, {"filtered": packed_code}, tmp_path / "runs", ft)


def test_seeds_repeat_the_seeded_presets_cells_and_name_them():
    one = figure_2_1_grid(["smoke", "micro"], [10], ["filtered"], seeds=[4])
    assert [c.name for c in one] == ["smoke-10-filtered", "micro-10-filtered"]  # one seed: names as before
    many = figure_2_1_grid(["smoke", "micro"], [10], ["filtered"], seeds=[0, 1, 2], seeded_presets=["smoke"])
    assert [c.name for c in many] == [
        "smoke-10-filtered-s0",
        "micro-10-filtered-s0",
        "smoke-10-filtered-s1",
        "smoke-10-filtered-s2",
    ]
    assert many[2].finetuned_name == "smoke-10-filtered-s1-ft"
    with pytest.raises(ValueError, match="distinct"):
        figure_2_1_grid(["smoke"], [10], ["filtered"], seeds=[1, 1])
    with pytest.raises(ValueError, match="not among"):
        figure_2_1_grid(["smoke"], [10], ["filtered"], seeds=[0, 1], seeded_presets=["micro"])


def test_a_seed_decides_the_run_and_nothing_else_does(tmp_path, packed_code):
    """Same seed, same losses bit for bit; another seed, other losses (init, order and dropout)."""
    from phi_lab.training.metrics import read_metrics

    packed = {"filtered": packed_code, "codeexercises": packed_code}
    ft = Finetune(steps=1, lr=2e-4, warmup_steps=0, weight_decay=0.0)
    losses = {}
    for run, seed in (("a", 7), ("b", 7), ("c", 8)):
        cells = figure_2_1_grid(["smoke"], [3], ["filtered"], seeds=[seed, 99], seeded_presets=["smoke"])[:1]
        (base, _) = train_grid(cells, packed, tmp_path / run, ft, device="cpu", log=None)
        assert base.seed == seed and base.name == f"smoke-3-filtered-s{seed}"
        losses[run] = [r["loss"] for r in read_metrics(base.run_dir)]
    assert losses["a"] == losses["b"] and losses["a"] != losses["c"]


@pytest.fixture(scope="module")
def packed_code(tmp_path_factory, tiny_tokenizer) -> Path:
    from test_train import pack_code

    return pack_code(tmp_path_factory.mktemp("packed"), tiny_tokenizer)


def test_a_moved_run_directory_still_finds_its_models(tmp_path):
    run = tmp_path / "run"
    models = _table(run / "training" / "runs")
    table = write_models(run / "training" / "models.json", models)
    stored = json.loads(table.read_text())
    assert stored[0]["path"] == "runs/smoke-10-unfiltered/checkpoints/step-10"  # relative to the table
    run.rename(tmp_path / "moved")
    back = read_models(tmp_path / "moved" / "training")
    assert [m.path for m in back] == [m.path.replace(str(run), str(tmp_path / "moved")) for m in models]
    # a checkpoint outside the run stays absolute
    outside = [*models[:1], ModelRun("x", "smoke", 1, 1, "filtered", False, str(tmp_path / "elsewhere"))]
    table = write_models(tmp_path / "sub" / "t.json", outside[1:])
    assert json.loads(table.read_text())[0]["path"] == str(tmp_path / "elsewhere")
    assert read_models(table)[0].path == str(tmp_path / "elsewhere")
