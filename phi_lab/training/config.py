"""TrainConfig: one typed, validated description of a training run, and the paper's presets.

Batch sizes are counted in sequences of `seq_len` tokens. `batch_size` is the *global* batch of
one optimizer step; every process runs `micro_batch_size` sequences per forward/backward and
gradients are accumulated over `batch_size / (micro_batch_size * world_size)` micro-steps, so the
same config gives the same optimization on 1 process or N (or a DeepSpeed ZeRO-2 group).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from phi_lab.training.phi15 import VARIANTS as PHI15_VARIANTS
from phi_lab.training.phi15 import required_data

SCHEDULES = ("warmup_linear", "constant", "warmup_cosine")
PRECISIONS = ("fp32", "bf16", "fp16")
ENGINES = ("ddp", "deepspeed")


@dataclass
class TrainConfig:
    name: str = "custom"
    model: str = "smoke"  # a phi_lab.model.phi preset (ignored with --init: the checkpoint decides)
    model_overrides: dict[str, Any] = field(default_factory=dict)
    # Default data when --data is not given: {"kind": "offline", "tokenizer": ..., "max_bytes": ...}
    # packs the offline Python corpus with the cached default tokenizer; {"kind": "required", "hint"}
    # means the preset needs data the user must produce first (e.g. CodeExercises).
    default_data: dict[str, Any] = field(default_factory=lambda: {"kind": "offline", "tokenizer": "cpu-2k"})
    seq_len: int = 2048
    batch_size: int = 1024  # global sequences per optimizer step
    micro_batch_size: int = 8  # sequences per process per forward/backward
    max_steps: int = 36_000  # optimizer steps this run takes
    # Length of the learning-rate schedule; 0 = max_steps. A run may stop before its schedule ends:
    # phi-1-base is step 24,000 of a 36,000-step schedule, at that schedule's learning rate (§2.3).
    schedule_steps: int = 0
    lr: float = 1e-3
    min_lr: float = 0.0  # where linear / cosine decay ends
    schedule: str = "warmup_linear"
    warmup_steps: int = 750
    weight_decay: float = 0.1
    betas: tuple[float, float] = (0.9, 0.95)
    eps: float = 1e-8
    grad_clip: float = 1.0  # max global L2 norm; 0 disables clipping
    dropout: float = 0.1  # residual and embedding dropout (attention dropout stays 0, as released)
    precision: str = "fp32"
    loss_scale_init: float = 2.0**16  # fp16 dynamic loss scaling starts here (halved on overflow)
    engine: str = "ddp"  # how several processes cooperate: torch DDP or DeepSpeed ZeRO-2
    zero_stage: int = 2
    gradient_checkpointing: bool = False
    compile: bool = False
    seed: int = 1234
    save_every: int = 1000
    keep_last: int = 3  # rotating checkpoints kept (the best and `keep_steps` are kept on top)
    keep_steps: tuple[int, ...] = ()  # checkpoints never rotated away (phi-1-base keeps 24,000)
    keep_best: bool = False  # keep the checkpoint with the lowest validation loss as `best`
    eval_every: int = 1000
    eval_batches: int = 8  # micro-batches of held-out windows per validation
    log_every: int = 10  # plain log lines (the tqdm bar and metrics.jsonl are per step)

    def __post_init__(self) -> None:
        self.betas = tuple(float(b) for b in self.betas)  # type: ignore[assignment]
        self.keep_steps = tuple(int(s) for s in self.keep_steps)
        for name in (
            "seq_len",
            "batch_size",
            "micro_batch_size",
            "max_steps",
            "save_every",
            "keep_last",
            "eval_every",
            "eval_batches",
            "log_every",
        ):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"TrainConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.micro_batch_size > self.batch_size:
            raise ValueError(f"micro_batch_size {self.micro_batch_size} exceeds batch_size {self.batch_size}")
        if self.batch_size % self.micro_batch_size:
            raise ValueError(
                f"batch_size {self.batch_size} is not a multiple of micro_batch_size {self.micro_batch_size}"
            )
        if not self.lr > 0 or not 0 <= self.min_lr <= self.lr:
            raise ValueError(f"need lr > 0 and 0 <= min_lr <= lr, got lr={self.lr} min_lr={self.min_lr}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"unknown schedule {self.schedule!r}; choose from {', '.join(SCHEDULES)}")
        if self.schedule_steps and self.schedule_steps < self.max_steps:
            raise ValueError(
                f"schedule_steps {self.schedule_steps} is shorter than max_steps {self.max_steps}: a run cannot "
                "go past the end of its learning-rate schedule (0 means the schedule ends at max_steps)"
            )
        if self.schedule_steps < 0:
            raise ValueError(f"schedule_steps must be >= 0, got {self.schedule_steps}")
        total = self.total_schedule_steps
        if self.warmup_steps < 0 or (self.schedule != "constant" and self.warmup_steps > total):
            raise ValueError(f"warmup_steps {self.warmup_steps} must be in [0, schedule length {total}]")
        if self.weight_decay < 0 or self.grad_clip < 0 or self.eps <= 0:
            raise ValueError("weight_decay and grad_clip must be >= 0 and eps > 0")
        if len(self.betas) != 2 or not all(0 <= b < 1 for b in self.betas):
            raise ValueError(f"betas must be two numbers in [0, 1), got {self.betas}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"unknown precision {self.precision!r}; choose from {', '.join(PRECISIONS)}")
        if not self.loss_scale_init >= 1:
            raise ValueError(f"loss_scale_init must be >= 1, got {self.loss_scale_init}")
        if self.engine not in ENGINES:
            raise ValueError(f"unknown engine {self.engine!r}; choose from {', '.join(ENGINES)}")
        if self.zero_stage not in (0, 1, 2, 3):
            raise ValueError(f"zero_stage must be 0..3, got {self.zero_stage}")

    @property
    def total_schedule_steps(self) -> int:
        """Where the learning-rate schedule ends (its decay reaches min_lr there)."""
        return self.schedule_steps or self.max_steps

    def grad_accum_steps(self, world_size: int = 1) -> int:
        per_step = self.micro_batch_size * world_size
        if self.batch_size % per_step:
            raise ValueError(
                f"global batch {self.batch_size} is not divisible by micro_batch_size {self.micro_batch_size}"
                f" x {world_size} processes; change --micro-batch-size or the number of processes"
            )
        return self.batch_size // per_step

    def tokens_per_step(self) -> int:
        return self.batch_size * self.seq_len

    def replace(self, **changes: Any) -> TrainConfig:
        """A validated copy with `changes` (unknown names are an error, not silently ignored)."""
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise ValueError(f"unknown TrainConfig fields: {sorted(unknown)}")
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown TrainConfig fields: {sorted(unknown)}")
        return cls(**d)

    @classmethod
    def from_preset(cls, name: str, **overrides: Any) -> TrainConfig:
        if name not in PRESETS:
            raise KeyError(f"unknown training preset {name!r}; choose from {', '.join(PRESETS)}")
        return cls(**{**PRESETS[name], "name": name}).replace(**overrides)


_EXERCISES_HINT = (
    "the phi-1 finetune trains on CodeExercises: pass --data with a packed directory or a JSONL file "
    "of exercises with a 'text' field (e.g. from `phi-lab synth exercises`), and --init with a "
    "phi-1-base checkpoint"
)

_PHI15_RECIPE: dict[str, Any] = dict(
    model="phi-1.5",
    seq_len=2048,
    batch_size=2048,
    micro_batch_size=8,
    max_steps=35_763,
    lr=2e-4,
    schedule="constant",
    warmup_steps=0,
    weight_decay=0.1,
    betas=(0.9, 0.98),
    eps=1e-7,
    precision="fp16",
    engine="deepspeed",
    zero_stage=2,
    save_every=1000,
    eval_every=1000,
)
_PHI15_CPU: dict[str, dict[str, Any]] = {
    "smoke": dict(
        model="smoke",
        seq_len=64,
        batch_size=8,
        micro_batch_size=4,
        max_steps=30,
        lr=2e-3,
        precision="fp32",
        engine="ddp",
        save_every=10,
        keep_last=2,
        eval_every=10,
        eval_batches=2,
        log_every=5,
    ),
    "micro": dict(
        model="micro",
        seq_len=256,
        batch_size=8,
        micro_batch_size=8,
        max_steps=300,
        lr=1e-3,
        precision="fp32",
        engine="ddp",
        save_every=100,
        keep_last=2,
        eval_every=50,
        eval_batches=4,
        log_every=10,
    ),
}

PRESETS: dict[str, dict[str, Any]] = {
    # §2.3: phi-1-base on CodeTextbook, 36,000 steps; the paper uses the 24,000-step checkpoint.
    "phi-1-base": dict(
        model="phi-1",
        default_data={"kind": "offline", "tokenizer": "codegen", "max_bytes": None},
        seq_len=2048,
        batch_size=1024,
        micro_batch_size=8,
        max_steps=36_000,
        lr=1e-3,
        schedule="warmup_linear",
        warmup_steps=750,
        weight_decay=0.1,
        precision="fp16",
        save_every=1000,
        keep_last=3,
        keep_steps=(24_000,),
        eval_every=1000,
    ),
    # §2.3: phi-1 = phi-1-base finetuned on CodeExercises; a checkpoint every 1,000 steps, best kept.
    "phi-1": dict(
        model="phi-1",
        default_data={"kind": "required", "hint": _EXERCISES_HINT},
        seq_len=2048,
        batch_size=256,
        micro_batch_size=8,
        max_steps=6_000,
        lr=1e-4,
        schedule="warmup_linear",
        warmup_steps=50,
        weight_decay=0.01,
        precision="fp16",
        save_every=1000,
        keep_last=6,
        keep_best=True,
        eval_every=1000,
    ),
    # phi-1.5 report: random init, constant lr 2e-4 without warmup, weight decay 0.1, Adam betas
    # (0.9, 0.98), eps 1e-7, fp16 with DeepSpeed ZeRO-2, batch 2048 sequences of 2048 tokens, 150B
    # tokens (150e9 / 2048^2 = 35,763 steps). The three variants share the recipe; only their data
    # mixture differs (phi_lab.training.phi15).
    **{name: dict(_PHI15_RECIPE, default_data=required_data(name)) for name in PHI15_VARIANTS},
    # The same recipe shape (constant lr, no warmup, betas, eps, wd) at CPU sizes, fp32: the lr is
    # larger because 2e-4 barely moves a model this small in so few steps.
    **{
        f"{name}-{size}": dict(_PHI15_RECIPE, default_data=required_data(name), **cpu)
        for name in PHI15_VARIANTS
        for size, cpu in _PHI15_CPU.items()
    },
    # CPU presets: the paper's recipe shape (warmup then linear decay), sized for 2 cores.
    "micro": dict(
        model="micro",
        default_data={"kind": "offline", "tokenizer": "cpu-4k", "max_bytes": 8_000_000},
        seq_len=256,
        batch_size=8,
        micro_batch_size=8,
        max_steps=300,
        lr=1e-3,
        schedule="warmup_linear",
        warmup_steps=30,
        weight_decay=0.1,
        save_every=100,
        keep_last=2,
        keep_best=True,
        eval_every=50,
        eval_batches=4,
        log_every=10,
    ),
    "smoke": dict(
        model="smoke",
        default_data={"kind": "offline", "tokenizer": "cpu-2k", "max_bytes": 2_000_000},
        seq_len=64,
        batch_size=8,
        micro_batch_size=4,
        max_steps=30,
        lr=3e-3,
        schedule="warmup_linear",
        warmup_steps=5,
        weight_decay=0.1,
        save_every=10,
        keep_last=2,
        eval_every=10,
        eval_batches=2,
        log_every=5,
    ),
}
