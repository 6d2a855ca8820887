"""Figure 2.1's grid of training runs and the table of the models it produced (`models.json`).

Figure 2.1 trains every (model size, token budget, pretraining dataset) and finetunes each result on
CodeExercises. `figure_2_1_grid` lists those cells, `train_grid` runs them (each run in its own
process, resumed if interrupted) and returns one `ModelRun` per checkpoint; `write_models` /
`read_models` keep that table in `<run>/training/models.json`, which evaluation, probes, pruning
and the report read back (notebooks 03-07). A finetuned model names its base (`base`), so no
reader has to guess it from a name.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from phi_lab.io import atomic_write_json
from phi_lab.training.config import TrainConfig
from phi_lab.training.launch import LaunchConfig

DATASETS = ("unfiltered", "filtered", "codetextbook")  # Figure 2.1's pretraining datasets
FINETUNE_DATA = "codeexercises"
MODELS_FILE = "models.json"


@dataclass(frozen=True)
class GridCell:
    """One pretraining run of the grid: a preset (model size), a token budget in steps, a dataset, and
    its seed when the grid repeats runs over seeds (None: the grid's one seed; names carry no suffix)."""

    preset: str
    steps: int
    data: str
    seed: int | None = None

    @property
    def name(self) -> str:
        suffix = "" if self.seed is None else f"-s{self.seed}"
        return f"{self.preset}-{self.steps}-{self.data}{suffix}"

    def seed_or(self, default: int) -> int:
        return default if self.seed is None else self.seed

    @property
    def finetuned_name(self) -> str:
        return f"{self.name}-ft"


def figure_2_1_grid(
    presets: Sequence[str],
    pretrain_steps: Sequence[int],
    datasets: Sequence[str] = DATASETS,
    seeds: Sequence[int] = (),
    seeded_presets: Sequence[str] = (),
) -> list[GridCell]:
    """Every (preset, steps, dataset), in that nesting order (the order the models table keeps).

    With several `seeds`, every cell of `seeded_presets` (empty: every preset) repeats once per seed,
    the others run with the first seed only; each cell then names its seed (`...-s1`). Corpus order,
    data split, initialisation and dropout all follow a run's seed."""
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be distinct, got {list(seeds)}")
    unseeded = sorted(set(seeded_presets) - set(presets))
    if unseeded:
        raise ValueError(f"seeded_presets {unseeded} are not among the grid's presets {list(presets)}")
    unknown = sorted(set(datasets) - set(DATASETS))
    if unknown:
        raise ValueError(f"unknown Figure 2.1 datasets {unknown}; choose from {', '.join(DATASETS)}")
    if not presets or not pretrain_steps or not datasets:
        raise ValueError("the grid needs at least one preset, one step budget and one dataset")
    if any(int(s) < 1 for s in pretrain_steps):
        raise ValueError(f"pretrain steps must be >= 1, got {list(pretrain_steps)}")
    if len(seeds) < 2:
        return [GridCell(p, int(s), d) for p in presets for s in pretrain_steps for d in datasets]
    seeded = set(seeded_presets or presets)
    return [
        GridCell(p, int(s), d, int(seed))
        for seed in seeds
        for p in presets
        if p in seeded or seed == seeds[0]
        for s in pretrain_steps
        for d in datasets
    ]


@dataclass(frozen=True)
class ModelRun:
    """One trained checkpoint of the grid: a row of models.json."""

    name: str
    preset: str  # training preset (the model size)
    steps: int  # pretraining steps: the token budget
    tokens: int  # pretraining tokens = steps x batch_size x seq_len
    data: str  # pretraining dataset
    finetuned: bool  # finetuned on CodeExercises after pretraining
    path: str  # the final checkpoint directory
    base: str | None = None  # finetuned: name of the pretrained model it started from
    seed: int = 0  # the training seed (corpus order, data split, initialisation, dropout)

    def __post_init__(self) -> None:
        if self.data not in DATASETS:
            raise ValueError(f"{self.name}: unknown dataset {self.data!r}; choose from {', '.join(DATASETS)}")
        if self.finetuned and not self.base:
            raise ValueError(f"{self.name}: a finetuned model must name its base model")

    @property
    def run_dir(self) -> Path:
        """The training run directory (run.json, metrics.jsonl, checkpoints/) of this checkpoint."""
        return Path(self.path).parents[1]

    def train_config(self) -> dict[str, Any]:
        """The TrainConfig the run recorded in run.json (as a dict)."""
        return json.loads((self.run_dir / "run.json").read_text())["config"]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, row: Mapping[str, Any]) -> ModelRun:
        known = {f.name for f in fields(cls)}
        missing = sorted(known - {"base", "seed"} - set(row))  # tables written before either was recorded
        if missing:
            raise ValueError(f"models table row {row.get('name', row)!r} lacks {missing}")
        values = {k: v for k, v in row.items() if k in known}
        if values["finetuned"] and not values.get("base") and str(values["name"]).endswith("-ft"):
            values["base"] = str(values["name"])[: -len("-ft")]  # tables written before `base` was recorded
        return cls(**values)


def write_models(path: str | Path, models: Sequence[ModelRun]) -> Path:
    """The table, with checkpoint paths relative to its own folder where they lie inside it, so a run
    directory that is moved or copied (another machine, an archive) still finds its models."""
    path = Path(path)
    home = path.resolve().parent
    rows = []
    for m in models:
        row = m.to_json()
        ckpt = Path(m.path).resolve()
        if ckpt.is_relative_to(home):
            row["path"] = str(ckpt.relative_to(home))
        rows.append(row)
    return atomic_write_json(path, rows, indent=2)


def read_models(path: str | Path) -> list[ModelRun]:
    """The models table; `path` is models.json or the training stage directory holding it."""
    path = Path(path)
    if path.is_dir():
        path = path / MODELS_FILE
    if not path.exists():
        raise FileNotFoundError(f"no models table at {path}: run the training stage (notebook 03) first")
    rows = json.loads(path.read_text())
    if not isinstance(rows, list):
        raise ValueError(f"{path}: expected a JSON list of models")
    home = path.resolve().parent
    models = [
        ModelRun.from_json({**r, "path": str(home / r["path"])} if "path" in r else r) for r in rows
    ]  # a relative checkpoint path is relative to the table's folder (absolute ones pass unchanged)
    names = {m.name for m in models}
    for m in models:
        if m.base is not None and m.base not in names:
            raise ValueError(f"{path}: {m.name}'s base model {m.base!r} is not in the table")
    return models


def latest(models: Sequence[ModelRun], finetuned: bool) -> ModelRun:
    """The last pretrained (or finetuned) model of the table: the largest preset and budget of the grid."""
    for m in reversed(models):
        if m.finetuned == finetuned:
            return m
    raise ValueError(f"the models table has no {'finetuned' if finetuned else 'pretrained'} model")


def base_of(model: ModelRun, models: Sequence[ModelRun]) -> ModelRun:
    """The pretrained model a finetuned `model` started from."""
    if model.base is None:
        raise ValueError(f"{model.name} is not finetuned: it has no base model")
    for m in models:
        if m.name == model.base:
            return m
    raise ValueError(f"{model.name}'s base {model.base!r} is not in the models table")


def _config_diff(cfg: TrainConfig, preset: str) -> dict[str, Any]:
    """The fields of `cfg` that differ from `preset`'s (its name aside): the overrides that rebuild it."""
    ref = TrainConfig.from_preset(preset)
    return {
        f.name: getattr(cfg, f.name)
        for f in fields(TrainConfig)
        if f.name != "name" and getattr(cfg, f.name) != getattr(ref, f.name)
    }


@dataclass(frozen=True)
class Pretrain:
    """How every grid cell pretrains: its preset, `overrides` on top, stopped after the cell's budget.

    A budget never shortens the learning-rate schedule: the run follows a schedule of `schedule_steps`
    (0: the preset's own, as long as its max_steps) and stops at the budget, at that schedule's learning
    rate. phi-1-base is step 24,000 of a 36,000-step schedule (§2.3). A budget longer than the preset's
    schedule gets a schedule of its own length."""

    schedule_steps: int = 0
    overrides: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.schedule_steps < 0:
            raise ValueError(f"schedule_steps must be >= 0, got {self.schedule_steps}")
        reserved = sorted({"max_steps", "schedule_steps", "seed"} & set(self.overrides))
        if reserved:
            raise ValueError(f"pretraining overrides may not set {reserved}: the grid sets them per run")

    def config(self, cell: GridCell, seed: int) -> TrainConfig:
        base = TrainConfig.from_preset(cell.preset).replace(**self.overrides)
        schedule = self.schedule_steps or max(base.total_schedule_steps, cell.steps)
        return base.replace(max_steps=cell.steps, schedule_steps=schedule, seed=seed)


@dataclass(frozen=True)
class Finetune:
    """The CodeExercises finetune of every grid model (paper: 6,000 steps, lr 1e-4, warmup 50, wd 0.01).

    `preset` is the finetune's own training preset: phi-1 for phi-1-base (batch 256, a checkpoint every
    1,000 steps, the best kept by validation loss). None: the pretraining preset's (the CPU presets).
    The four numbers always apply over it; `extra` holds further TrainConfig fields."""

    steps: int = 6000
    lr: float = 1e-4
    warmup_steps: int = 50
    weight_decay: float = 0.01
    preset: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        reserved = sorted({"max_steps", "lr", "warmup_steps", "weight_decay", "seed"} & set(self.extra))
        if reserved:
            raise ValueError(
                f"finetune extra fields may not set {reserved}: use steps/lr/warmup_steps/weight_decay"
            )
        if self.preset is not None:
            TrainConfig.from_preset(self.preset)  # an unknown preset fails here, before any training

    def preset_for(self, pretrain_preset: str) -> str:
        return self.preset or pretrain_preset

    def overrides(self) -> dict[str, Any]:
        return {
            **self.extra,
            "max_steps": self.steps,
            "lr": self.lr,
            "warmup_steps": self.warmup_steps,
            "weight_decay": self.weight_decay,
        }

    def config(self, pretrain_preset: str, seed: int) -> TrainConfig:
        return TrainConfig.from_preset(self.preset_for(pretrain_preset)).replace(
            **self.overrides(), seed=seed
        )

    @classmethod
    def of(cls, model: ModelRun) -> Finetune:
        """The settings a finetuned model was trained with (from its run.json): its preset and every
        field that differed from it, so a retrain (notebook 06) repeats the same finetune."""
        cfg = TrainConfig.from_dict(model.train_config())
        preset = cfg.name if cfg.name != model.preset else None
        diff = _config_diff(cfg, cfg.name)
        extra = {
            k: v
            for k, v in diff.items()
            if k not in ("max_steps", "lr", "warmup_steps", "weight_decay", "seed")
        }
        return cls(cfg.max_steps, cfg.lr, cfg.warmup_steps, cfg.weight_decay, preset, extra)


@dataclass(frozen=True)
class PlannedRun:
    """One training run the grid will launch: its name, preset, full config, data and init."""

    name: str
    preset: str
    config: TrainConfig
    data: str  # a key of the packed datasets
    init: str | None = None  # name of the planned run whose checkpoint it starts from

    def overrides(self) -> dict[str, Any]:
        return _config_diff(self.config, self.preset)


def plan_grid(
    cells: Sequence[GridCell], finetune: Finetune, pretrain: Pretrain | None = None, seed: int = 0
) -> list[PlannedRun]:
    """Every run `train_grid` launches, in order (each cell's pretraining, then its finetune), with the
    exact TrainConfig each gets: what a paper-scale plan can be checked by without training."""
    pretrain = pretrain or Pretrain()
    runs = []
    for cell in cells:
        run_seed = cell.seed_or(seed)
        runs.append(PlannedRun(cell.name, cell.preset, pretrain.config(cell, run_seed), cell.data))
        preset = finetune.preset_for(cell.preset)
        runs.append(
            PlannedRun(
                cell.finetuned_name, preset, finetune.config(cell.preset, run_seed), FINETUNE_DATA, cell.name
            )
        )
    return runs


def train_grid(
    cells: Sequence[GridCell],
    packed: Mapping[str, str | Path],
    runs_dir: str | Path,
    finetune: Finetune,
    *,
    pretrain: Pretrain | None = None,
    launch: LaunchConfig | None = None,
    device: str | None = None,
    seed: int = 0,
    log: Callable[[str], None] | None = print,
) -> list[ModelRun]:
    """Pretrain every cell on `packed[cell.data]`, then finetune it on `packed["codeexercises"]`.

    Each run is its own process (or `launch`'s group of processes: torchrun, deepspeed) under
    `runs_dir/<name>` with its log streamed through `log`; a run directory that holds checkpoints is
    resumed, so re-running after an interruption continues."""
    from phi_lab.training.launch import run_training

    missing = sorted(({c.data for c in cells} | {FINETUNE_DATA}) - set(packed))
    if missing:
        raise ValueError(f"no packed data for {missing}")
    runs_dir = Path(runs_dir)
    by_name = {c.name: c for c in cells}
    plan = plan_grid(cells, finetune, pretrain, seed)  # every config is validated before any run starts
    for r in plan:
        (launch or LaunchConfig()).check_engine(r.config.engine, r.name)
    tokens_per_step = {r.name: r.config.tokens_per_step() for r in plan if r.init is None}
    checkpoints: dict[str, Path] = {}
    models = []
    for run in plan:
        checkpoints[run.name] = run_training(
            run.preset,
            runs_dir / run.name,
            overrides=run.overrides(),
            data=str(packed[run.data]),
            init=checkpoints[run.init] if run.init else None,
            device=device,
            log=log,
            launch_config=launch,
        )
        cell = by_name[run.init or run.name]
        models.append(
            ModelRun(
                run.name,
                cell.preset,
                cell.steps,
                cell.steps * tokens_per_step[cell.name],
                cell.data,
                run.init is not None,
                str(checkpoints[run.name]),
                base=run.init,
                seed=run.config.seed,
            )
        )
    return models
