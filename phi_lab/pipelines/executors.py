"""Where a pipeline's tasks run: datatrove's local, Slurm or Ray executor, chosen by one config.

A job is a list of stages (datatrove pipelines), each run by `tasks` tasks; a stage starts when the
previous one has finished all of its tasks. Every task leaves a completion marker under
`logs/<stage>/completions/`, so running the same job again runs only the tasks without one (a
killed run resumes; a finished one is a no-op).

- local: the stages run one after another on this machine, `workers` tasks at a time.
- slurm: one array job per stage, submitted with `sbatch` and chained with `afterok` dependencies;
  the call returns once they are queued. GPUs per task go to the stages that embed.
- ray: the stages run one after another on the Ray cluster at `ray_address` (or the instance
  already initialised in this process), `cpus_per_task` / `gpus_per_task` reserved per task.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from phi_lab.io import atomic_write_json

EXECUTORS = ("local", "slurm", "ray")


@dataclass
class ExecutorConfig:
    kind: str = "local"  # local | slurm | ray
    tasks: int = 1  # tasks of each corpus-wide stage (the corpus is split into this many parts)
    workers: int = -1  # tasks running at once; -1: local min(tasks, CPUs), slurm/ray no limit
    start_method: str = "forkserver"  # local: how worker processes start (fork is unsafe with torch)
    # Slurm
    partition: str | None = None
    time: str = "24:00:00"
    cpus_per_task: int = 1
    mem_per_cpu_gb: float = 2.0
    gpus_per_task: int = 0  # given to the stages that embed; one task per GPU
    qos: str | None = None
    job_name: str = "phi-lab"
    venv_path: str | None = None  # activate script for the jobs (default: this interpreter's venv)
    env_command: str | None = None  # or any shell command that sets the environment up
    sbatch_args: dict[str, Any] = field(default_factory=dict)
    # Ray
    ray_address: str | None = None  # a running cluster ("ray://host:10001", "host:6379", "auto")

    def __post_init__(self) -> None:
        if self.kind not in EXECUTORS:
            raise ValueError(f"executor must be one of {EXECUTORS}, got {self.kind!r}")
        if self.tasks < 1:
            raise ValueError(f"tasks must be >= 1, got {self.tasks}")
        if self.workers == 0 or self.workers < -1:
            raise ValueError(f"workers must be >= 1 or -1, got {self.workers}")
        if self.kind == "slurm" and not self.partition:
            raise ValueError("the slurm executor needs a partition (--slurm-partition)")
        if self.gpus_per_task < 0 or self.cpus_per_task < 1:
            raise ValueError("cpus_per_task must be >= 1 and gpus_per_task >= 0")

    def concurrent(self, tasks: int) -> int:
        """How many of `tasks` run at once on the local executor."""
        limit = self.workers if self.workers != -1 else (os.cpu_count() or 1)
        return max(1, min(tasks, limit))

    def threads_per_task(self, tasks: int) -> int:
        """CPU threads one task may use (torch), so concurrent tasks do not oversubscribe the cores."""
        if self.kind == "local":
            return max(1, (os.cpu_count() or 1) // self.concurrent(tasks))
        return self.cpus_per_task

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Stage:
    name: str
    pipeline: list[Any]  # datatrove PipelineSteps
    tasks: int
    gpus: bool = False  # whether it gets gpus_per_task (the embedding stages)
    outputs: list[Path] = field(default_factory=list)  # removed when the stage's settings change
    key: dict[str, Any] = field(default_factory=dict)  # settings its outputs depend on


def prepare_stage(logs: Path, stage: Stage, reset: bool = True) -> None:
    """Keep a stage's completion markers only while its settings are unchanged.

    A stage whose settings changed is cleared (its markers and outputs) so it runs again, when
    `reset`; otherwise (expensive stages) the change is refused with the differing keys.
    """
    d = logs / stage.name
    marker = d / "stage.json"
    key = json.loads(json.dumps(stage.key, sort_keys=True, default=str))
    if marker.exists():
        old = json.loads(marker.read_text())
        if old == key:
            return
        if not reset:
            diff = sorted(k for k in set(key) | set(old) if old.get(k) != key.get(k))
            raise ValueError(f"{d}: this directory holds a run with different {diff}; use a new --out")
        for path in [d, *stage.outputs]:
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
    atomic_write_json(marker, key, sort_keys=True)


def incomplete_ranks(logs: Path, stage: Stage) -> list[int]:
    done = {p.name for p in (logs / stage.name / "completions").glob("*")}
    return [r for r in range(stage.tasks) if f"{r:05d}" not in done]


def _failed(logs: Path, stage: Stage, missing: list[int], cause: BaseException | None = None) -> RuntimeError:
    shown = ", ".join(map(str, missing[:10])) + (" ..." if len(missing) > 10 else "")
    why = f": {cause}" if cause else ""
    return RuntimeError(
        f"stage {stage.name!r}: {len(missing)} of {stage.tasks} tasks did not finish (ranks {shown}){why}; "
        f"logs in {logs / stage.name / 'logs'}; run the same command again to redo only those tasks"
    )


# Imported once in the fork server, so each worker process starts with them instead of importing
# them again (~4 s a process on a 2-core machine, paid per stage); '__main__' as the default does.
FORKSERVER_PRELOAD = ["__main__", "phi_lab.pipelines.jobs", "sklearn.ensemble", "joblib"]


def _local(stage: Stage, cfg: ExecutorConfig, logs: Path) -> None:
    import multiprocess
    from datatrove.executor import LocalPipelineExecutor

    if cfg.start_method == "forkserver" and cfg.concurrent(stage.tasks) > 1:
        multiprocess.set_forkserver_preload(FORKSERVER_PRELOAD)  # a hint: no effect once it has started

    ex = LocalPipelineExecutor(
        stage.pipeline,
        tasks=stage.tasks,
        workers=cfg.concurrent(stage.tasks),
        logging_dir=str(logs / stage.name),
        start_method=cfg.start_method,
    )
    try:
        ex.run()
    except Exception as e:
        raise _failed(logs, stage, incomplete_ranks(logs, stage), e) from e


def _ray(stage: Stage, cfg: ExecutorConfig, logs: Path) -> None:
    import ray
    from datatrove.executor.ray import RayPipelineExecutor

    if not ray.is_initialized():
        ray.init(address=cfg.ray_address)
    RayPipelineExecutor(
        stage.pipeline,
        tasks=stage.tasks,
        workers=cfg.workers,
        logging_dir=str(logs / stage.name),
        cpus_per_task=cfg.cpus_per_task,
        mem_per_cpu_gb=cfg.mem_per_cpu_gb,
        gpus_per_task=cfg.gpus_per_task if stage.gpus else 0,
    ).run()


def _slurm_executors(stages: list[Stage], cfg: ExecutorConfig, logs: Path):
    from datatrove.executor.slurm import SlurmPipelineExecutor

    venv = cfg.venv_path
    if venv is None and cfg.env_command is None and (Path(sys.prefix) / "bin" / "activate").exists():
        venv = str(Path(sys.prefix) / "bin" / "activate")  # jobs use the interpreter that submitted them
    previous = None
    executors = []
    for stage in stages:
        ex = SlurmPipelineExecutor(
            stage.pipeline,
            tasks=stage.tasks,
            time=cfg.time,
            partition=cfg.partition,
            cpus_per_task=cfg.cpus_per_task,
            mem_per_cpu_gb=int(max(1, round(cfg.mem_per_cpu_gb))),
            gpus_per_task=cfg.gpus_per_task if stage.gpus else 0,
            workers=cfg.workers,
            job_name=f"{cfg.job_name}-{stage.name}",
            qos=cfg.qos,
            env_command=cfg.env_command,
            venv_path=venv,
            sbatch_args=dict(cfg.sbatch_args),
            depends=previous,
            logging_dir=str(logs / stage.name),
            slurm_logs_folder=str(logs / stage.name / "slurm_logs"),
        )
        executors.append(ex)
        previous = ex
    return executors


def run_stages(stages: list[Stage], cfg: ExecutorConfig, logs: str | Path) -> dict[str, Any]:
    """Run (local, ray) or submit (slurm) the stages in order; returns what ran or was queued."""
    logs = Path(logs)
    logs.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {"executor": cfg.kind, "stages": {}}
    if cfg.kind == "slurm":
        executors = _slurm_executors(stages, cfg, logs)
        executors[-1].run()  # launches its dependencies first, each with afterok on the one before
        for stage, ex in zip(stages, executors):
            report["stages"][stage.name] = {"tasks": stage.tasks, "job_id": ex.job_id}
        report["submitted"] = True
        return report
    for stage in stages:
        missing = incomplete_ranks(logs, stage)
        t0 = time.perf_counter()
        if missing:
            (_local if cfg.kind == "local" else _ray)(stage, cfg, logs)
            still = incomplete_ranks(logs, stage)
            if still:
                raise _failed(logs, stage, still)
        wall = round(time.perf_counter() - t0, 3)
        report["stages"][stage.name] = {"tasks": stage.tasks, "ran": len(missing), "wall_s": wall}
    report["submitted"] = False
    return report
