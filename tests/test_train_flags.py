"""`phi-lab train` options come from TrainConfig's fields, both ways (parser and worker argv)."""

from __future__ import annotations

import argparse
import dataclasses

import pytest

from phi_lab.cli import train as train_cli
from phi_lab.training.config import TrainConfig
from phi_lab.training.flags import TRAIN_FLAGS, ConfigFlags

# A value for every field, none equal to the smoke preset's: a new field must be added here.
EVERY_FIELD = dict(
    name="custom-run",
    model="micro",
    model_overrides={"n_layer": 1, "rotary_dim": 8},
    default_data={"kind": "offline", "tokenizer": "cpu-4k", "max_bytes": 1000},
    seq_len=32,
    batch_size=6,
    micro_batch_size=3,
    max_steps=7,
    schedule_steps=10,
    lr=2e-3,
    min_lr=1e-4,
    schedule="warmup_cosine",
    warmup_steps=2,
    weight_decay=0.05,
    betas=(0.8, 0.99),
    eps=1e-7,
    grad_clip=0.5,
    dropout=0.0,
    precision="bf16",
    loss_scale_init=1024.0,
    engine="deepspeed",
    zero_stage=1,
    gradient_checkpointing=True,
    compile=True,
    seed=7,
    save_every=3,
    keep_last=1,
    keep_steps=(2, 4),
    keep_best=True,
    eval_every=2,
    eval_batches=1,
    log_every=1,
)


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="phi-lab")
    train_cli.register(root.add_subparsers(dest="command"), name="train", help="train")
    return root


def parse(*argv: str) -> argparse.Namespace:
    return parser().parse_args(["train", *argv])


def test_every_field_has_an_option_shown_in_help(capsys):
    smoke = TrainConfig.from_preset("smoke")
    names = [f.name for f in dataclasses.fields(TrainConfig)]
    assert sorted(EVERY_FIELD) == sorted(names)
    assert all(getattr(smoke, k) != v for k, v in EVERY_FIELD.items())
    with pytest.raises(SystemExit):
        parse("--help")
    shown = capsys.readouterr().out
    for name in names:
        assert "--" + name.replace("_", "-") in shown, name
    assert "--no-keep-best" in shown and "--betas BETA1 BETA2" in shown
    # help text comes from the field comments, beside or above the field
    assert "where linear / cosine decay ends" in shown and "Length of the learning-rate schedule" in shown


def test_values_on_the_command_line_reach_the_config():
    argv = [
        "--preset", "smoke", "--out", "x",
        "--betas", "0.8", "0.99", "--eps", "1e-7", "--min-lr", "1e-4", "--zero-stage", "1",
        "--keep-steps", "2", "4", "--keep-best", "--no-compile", "--model-overrides", '{"n_layer": 1}',
        "--default-data", '{"kind": "offline", "tokenizer": "cpu-4k"}', "--lr", "2e-3",
    ]  # fmt: skip
    cfg = train_cli.config_from_args(parse(*argv))
    assert cfg == TrainConfig.from_preset(
        "smoke",
        betas=(0.8, 0.99),
        eps=1e-7,
        min_lr=1e-4,
        zero_stage=1,
        keep_steps=(2, 4),
        keep_best=True,
        compile=False,
        model_overrides={"n_layer": 1},
        default_data={"kind": "offline", "tokenizer": "cpu-4k"},
        lr=2e-3,
    )
    # an option left out keeps the preset's value; `--keep-steps` alone means "none"
    assert train_cli.config_from_args(parse("--preset", "phi-1-base", "--out", "x")).keep_steps == (24_000,)
    assert (
        train_cli.config_from_args(parse("--preset", "phi-1-base", "--out", "x", "--keep-steps")).keep_steps
        == ()
    )


def test_every_field_round_trips_through_worker_argv():
    """What a launcher hands its workers parses back to the very same config, data and options."""
    argv = TRAIN_FLAGS.argv(EVERY_FIELD)
    args = parse("--preset", "smoke", "--out", "runs/x", "--data", "a", "--data", "b=2", "--init", "ckpt",
                 "--device", "cpu", "--resume", "--no-progress", *argv)  # fmt: skip
    cfg = train_cli.config_from_args(args)
    assert cfg == TrainConfig.from_preset("smoke").replace(**EVERY_FIELD)
    worker = parse(*train_cli.worker_args(args))
    assert train_cli.config_from_args(worker) == cfg
    for key in ("preset", "out", "data", "init", "device", "resume", "no_progress"):
        assert getattr(worker, key) == getattr(args, key), key


def test_bad_values_are_refused_before_anything_runs(capsys):
    from phi_lab.cli.common import run_handler

    for argv in (
        ["--engine", "mpi"],
        ["--model-overrides", "[1]"],
        ["--betas", "0.9"],
        ["--keep-best", "yes"],
    ):
        with pytest.raises(SystemExit) as e:
            parse("--preset", "smoke", "--out", "x", *argv)
        assert e.value.code == 2, argv
    args = parse("--preset", "smoke", "--out", "x", "--betas", "1.5", "0.9")
    assert run_handler("train", args.func, args) == 2
    assert "betas must be two numbers in [0, 1)" in capsys.readouterr().err
    with pytest.raises(ValueError, match="unknown TrainConfig fields"):
        TRAIN_FLAGS.argv({"learning_rate": 1.0})


def test_launch_validates_overrides_in_the_callers_process(tmp_path):
    from phi_lab.training.launch import launch

    with pytest.raises(ValueError, match="micro_batch_size 16 exceeds batch_size 8"):
        launch("smoke", tmp_path / "run", overrides={"micro_batch_size": 16})
    assert not (tmp_path / "run").exists()


def test_other_dataclasses_get_the_same_treatment():
    @dataclasses.dataclass
    class Small:
        count: int = 1  # how many
        ratio: float | None = None  # optional
        tags: tuple[str, ...] = ()

    flags = ConfigFlags(Small)
    p = argparse.ArgumentParser()
    flags.add_to(p)
    assert flags.overrides(p.parse_args([])) == {}
    got = flags.overrides(p.parse_args(flags.argv({"count": 3, "ratio": 0.1, "tags": ("a", "b")})))
    assert got == {"count": 3, "ratio": 0.1, "tags": ("a", "b")}
    assert [f.help for f in flags.flags] == ["how many", "optional", "Small.tags"]
