"""The paper preset's training stage, from params/paper.yaml through the grid to the `phi-lab train`
command line each run gets and the TrainConfig that command line rebuilds (no GPU: nothing trains)."""

from __future__ import annotations

import pytest
import yaml

from phi_lab.paths import repo_path
from phi_lab.training.config import TrainConfig
from phi_lab.training.grid import Finetune, Pretrain, figure_2_1_grid, plan_grid
from phi_lab.training.launch import LaunchConfig, train_argv
from phi_lab.training.schedule import lr_multiplier


def _paper_training() -> dict:
    return yaml.safe_load(repo_path("params/paper.yaml").read_text())["training"]


def _paper_plan():
    p = _paper_training()
    grid = figure_2_1_grid(p["model_presets"], p["pretrain_steps"], ["codetextbook"])
    pretrain = Pretrain(p["schedule_steps"], p["pretrain_overrides"])
    finetune = Finetune(
        p["finetune_steps"],
        p["finetune_lr"],
        p["finetune_warmup"],
        p["finetune_weight_decay"],
        p["finetune_preset"],
        p["finetune_overrides"],
    )
    launch = LaunchConfig(p["launcher"], p["nproc_per_node"])
    return plan_grid(grid, finetune, pretrain), launch


def _rebuilt(run, launch: LaunchConfig, tmp_path) -> tuple[TrainConfig, object]:
    """What the `phi-lab train` process that run_training starts would parse."""
    from phi_lab.cli import build_parser
    from phi_lab.cli.train import config_from_args

    argv = ["train", *train_argv(run.preset, tmp_path / run.name, run.overrides()), *launch.cli_args()]
    args = build_parser().parse_args(argv)
    return config_from_args(args), args


def test_phi_1_base_is_step_24k_of_the_36k_schedule_and_phi_1_finetunes_with_its_own_preset(tmp_path):
    (base, tuned), launch = _paper_plan()
    b, t = base.config, tuned.config
    assert (b.batch_size, b.lr, b.warmup_steps, b.weight_decay, b.seq_len) == (1024, 1e-3, 750, 0.1, 2048)
    assert (b.max_steps, b.schedule_steps, b.schedule) == (24_000, 36_000, "warmup_linear")
    assert (b.precision, b.dropout, b.engine, b.zero_stage) == ("fp16", 0.1, "deepspeed", 2)
    assert tuned.preset == "phi-1" and tuned.init == base.name
    assert (t.batch_size, t.lr, t.warmup_steps, t.weight_decay, t.max_steps) == (256, 1e-4, 50, 0.01, 6_000)
    assert (t.save_every, t.keep_best, t.engine) == (1_000, True, "deepspeed")
    # The last pretraining step runs at the 36k schedule's lr, a third of the peak, not at 0.
    last = lr_multiplier(b.max_steps - 1, b.schedule, b.warmup_steps, b.total_schedule_steps)
    assert last == pytest.approx(1 - (23_999 - 750) / (36_000 - 750), rel=1e-3)
    assert 0.33 < last < 0.35
    assert (launch.launcher, launch.nproc_per_node) == ("deepspeed", 8)


def test_every_planned_run_reaches_the_trainer_unchanged(tmp_path):
    plan, launch = _paper_plan()
    for run in plan:
        cfg, args = _rebuilt(run, launch, tmp_path)
        assert cfg == run.config, run.name
        assert (args.launcher, args.nproc) == ("deepspeed", 8)


def test_finetune_of_a_trained_model_repeats_its_preset_and_fields():
    (_, tuned), _ = _paper_plan()

    class Trained:  # what notebook 06 reads back from a finetuned run's run.json
        name, preset = tuned.name, "phi-1-base"

        @staticmethod
        def train_config():
            return tuned.config.to_dict()

    again = Finetune.of(Trained())  # type: ignore[arg-type]
    assert again.preset == "phi-1" and again.config("phi-1-base", tuned.config.seed) == tuned.config


def test_budgets_never_shorten_the_schedule_and_bad_settings_fail_before_work():
    cell = figure_2_1_grid(["smoke"], [12], ["filtered"])[0]
    cfg = Pretrain().config(cell, seed=3)
    assert (cfg.max_steps, cfg.total_schedule_steps, cfg.seed) == (12, 30, 3)  # smoke's schedule is 30 steps
    longer = figure_2_1_grid(["smoke"], [50], ["filtered"])[0]
    assert Pretrain().config(longer, 0).total_schedule_steps == 50
    with pytest.raises(ValueError, match="may not set"):
        Pretrain(overrides={"max_steps": 5})
    with pytest.raises(KeyError, match="unknown training preset 'phi-2'"):
        Finetune(preset="phi-2")
    with pytest.raises(ValueError, match="use steps/lr"):
        Finetune(extra={"lr": 1.0})
    with pytest.raises(ValueError, match="shorter than max_steps"):
        Pretrain(schedule_steps=10).config(cell, 0)


def test_launch_settings_are_checked_before_any_process(tmp_path):
    with pytest.raises(ValueError, match="launcher 'none' trains in one process"):
        LaunchConfig("none", nproc_per_node=8)
    with pytest.raises(ValueError, match="needs a hostfile"):
        LaunchConfig("deepspeed", 8, nnodes=4)
    with pytest.raises(FileNotFoundError, match="hostfile"):
        LaunchConfig("deepspeed", 8, nnodes=2, hostfile=str(tmp_path / "absent"))
    with pytest.raises(ValueError, match="torchrun runs DDP"):
        LaunchConfig("torchrun", 2).check_engine("deepspeed", "phi-1-base")
    hosts = tmp_path / "hostfile"
    hosts.write_text("node0 slots=8\nnode1 slots=8\n")
    args = LaunchConfig("deepspeed", 8, 2, str(hosts), "node0", 29600).cli_args()
    assert args == [
        "--launcher", "deepspeed", "--nproc", "8", "--nnodes", "2", "--master-addr", "node0",
        "--master-port", "29600", "--hostfile", str(hosts),
    ]  # fmt: skip


def test_cell_time_outs_are_per_preset_and_none_for_paper(tmp_path, monkeypatch):
    from phi_lab import reproduce as R

    assert R.cell_timeout_of("paper") is None and R.cell_timeout_of("smoke") == R.DEFAULT_CELL_TIMEOUT
    monkeypatch.setattr(R, "params_dir", lambda: tmp_path)
    (tmp_path / "long.yaml").write_text("reproduce: {cell_timeout: 7200}\n")
    (tmp_path / "bad.yaml").write_text("reproduce: {cell_timeout: -1}\n")
    (tmp_path / "typo.yaml").write_text("reproduce: {cell_timeout_s: 10}\n")
    assert R.cell_timeout_of("long") == 7200
    with pytest.raises(ValueError, match="seconds >= 1 or null"):
        R.cell_timeout_of("bad")
    with pytest.raises(ValueError, match="unknown keys"):
        R.cell_timeout_of("typo")
