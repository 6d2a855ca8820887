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
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from phi_lab.io import atomic_write_json

DATASETS = ("unfiltered", "filtered", "codetextbook")  # Figure 2.1's pretraining datasets
FINETUNE_DATA = "codeexercises"
MODELS_FILE = "models.json"


@dataclass(frozen=True)
class GridCell:
    """One pretraining run of the grid: a preset (model size), a token budget in steps, a dataset."""

    preset: str
    steps: int
    data: str

    @property
    def name(self) -> str:
        return f"{self.preset}-{self.steps}-{self.data}"

    @property
    def finetuned_name(self) -> str:
        return f"{self.name}-ft"


def figure_2_1_grid(
    presets: Sequence[str], pretrain_steps: Sequence[int], datasets: Sequence[str] = DATASETS
) -> list[GridCell]:
    """Every (preset, steps, dataset), in that nesting order (the order the models table keeps)."""
    unknown = sorted(set(datasets) - set(DATASETS))
    if unknown:
        raise ValueError(f"unknown Figure 2.1 datasets {unknown}; choose from {', '.join(DATASETS)}")
    if not presets or not pretrain_steps or not datasets:
        raise ValueError("the grid needs at least one preset, one step budget and one dataset")
    if any(int(s) < 1 for s in pretrain_steps):
        raise ValueError(f"pretrain steps must be >= 1, got {list(pretrain_steps)}")
    return [GridCell(p, int(s), d) for p in presets for s in pretrain_steps for d in datasets]


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
        missing = sorted(known - {"base"} - set(row))
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


@dataclass(frozen=True)
class Finetune:
    """The CodeExercises finetune of every grid model (paper: 6,000 steps, lr 1e-4, warmup 50, wd 0.01)."""

    steps: int = 6000
    lr: float = 1e-4
    warmup_steps: int = 50
    weight_decay: float = 0.01

    def overrides(self) -> dict[str, Any]:
        return {
            "max_steps": self.steps,
            "lr": self.lr,
            "warmup_steps": self.warmup_steps,
            "weight_decay": self.weight_decay,
        }

    @classmethod
    def of(cls, model: ModelRun) -> Finetune:
        """The settings a finetuned model was trained with (from its run.json)."""
        cfg = model.train_config()
        return cls(cfg["max_steps"], cfg["lr"], cfg["warmup_steps"], cfg["weight_decay"])


def train_grid(
    cells: Sequence[GridCell],
    packed: Mapping[str, str | Path],
    runs_dir: str | Path,
    finetune: Finetune,
    *,
    device: str | None = None,
    seed: int = 0,
    log: Callable[[str], None] | None = print,
) -> list[ModelRun]:
    """Pretrain every cell on `packed[cell.data]`, then finetune it on `packed["codeexercises"]`.

    Each run is its own process under `runs_dir/<name>` with its log streamed through `log`; a run
    directory that holds checkpoints is resumed, so re-running after an interruption continues."""
    from phi_lab.training.launch import run_training

    missing = sorted(({c.data for c in cells} | {FINETUNE_DATA}) - set(packed))
    if missing:
        raise ValueError(f"no packed data for {missing}")
    runs_dir = Path(runs_dir)
    models = []
    for cell in cells:
        base_ckpt = run_training(
            cell.preset,
            runs_dir / cell.name,
            overrides={"max_steps": cell.steps, "seed": seed},
            data=str(packed[cell.data]),
            device=device,
            log=log,
        )
        cfg = json.loads((runs_dir / cell.name / "run.json").read_text())["config"]
        tokens = cell.steps * cfg["batch_size"] * cfg["seq_len"]
        models.append(ModelRun(cell.name, cell.preset, cell.steps, tokens, cell.data, False, str(base_ckpt)))
        ft_ckpt = run_training(
            cell.preset,
            runs_dir / cell.finetuned_name,
            overrides={**finetune.overrides(), "seed": seed},
            data=str(packed[FINETUNE_DATA]),
            init=base_ckpt,
            device=device,
            log=log,
        )
        models.append(
            ModelRun(
                cell.finetuned_name,
                cell.preset,
                cell.steps,
                tokens,
                cell.data,
                True,
                str(ft_ckpt),
                base=cell.name,
            )
        )
    return models
