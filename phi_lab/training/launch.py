"""Start training in its own process: torchrun / deepspeed command lines, and `launch()` for notebooks.

A notebook never holds the training loop: it calls `launch(...)`, gets a `subprocess.Popen`, and
reads log lines with `stream(proc)`; killing the kernel leaves the run's checkpoints intact, and
`--resume` continues it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

WORKER = [sys.executable, "-u", "-m", "phi_lab.cli", "train"]


def torchrun_command(
    worker_args: Sequence[str],
    nproc: int,
    nnodes: int = 1,
    node_rank: int = 0,
    master_addr: str = "127.0.0.1",
    master_port: int = 29500,
) -> list[str]:
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        f"--nproc-per-node={nproc}",
        f"--nnodes={nnodes}",
        f"--node-rank={node_rank}",
        f"--master-addr={master_addr}",
        f"--master-port={master_port}",
        "-m",
        "phi_lab.cli",
        "train",
        *worker_args,
        "--launcher",
        "none",
    ]


def deepspeed_command(
    worker_args: Sequence[str],
    nproc: int | None = None,
    hostfile: str | None = None,
    master_port: int = 29500,
) -> list[str]:
    """The `deepspeed` launcher; with a hostfile it starts workers on every listed node over ssh."""
    exe = shutil.which("deepspeed") or str(Path(sys.executable).parent / "deepspeed")
    cmd = [exe]
    if hostfile:
        if not Path(hostfile).exists():
            raise FileNotFoundError(f"--hostfile {hostfile} does not exist")
        cmd += ["--hostfile", hostfile]
    if nproc:
        cmd += ["--num_gpus", str(nproc)]
    cmd += [
        "--master_port",
        str(master_port),
        "--no_local_rank",
        "--module",
        "phi_lab.cli",
        "train",
        *worker_args,
        "--launcher",
        "none",
        "--engine",
        "deepspeed",
    ]
    return cmd


def launcher_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("PYTHONUNBUFFERED", "1")
    try:
        import torch

        if not torch.cuda.is_available():
            env.setdefault("DS_ACCELERATOR", "cpu")  # DeepSpeed's cpu accelerator (gloo) on CPU machines
    except ImportError:
        pass
    return env


def launch(
    preset: str,
    out: str | Path,
    *args: str,
    data: Sequence[str] | str | None = None,
    init: str | Path | None = None,
    resume: bool = False,
    launcher: str = "none",
    nproc: int | None = None,
    progress: bool = False,
    cwd: str | Path | None = None,
) -> subprocess.Popen:
    """Start `phi-lab train` as a subprocess (stdout and stderr merged, line-buffered text).

    `args` are further CLI options, e.g. `"--max-steps", "100"`. The process gets its own session so
    `os.killpg(proc.pid, signal.SIGTERM)` stops every worker it started.
    """
    argv = ["--preset", preset, "--out", str(out), "--launcher", launcher]
    for d in [data] if isinstance(data, str) else (data or []):
        argv += ["--data", str(d)]
    if init:
        argv += ["--init", str(init)]
    if resume:
        argv.append("--resume")
    if nproc:
        argv += ["--nproc", str(nproc)]
    if not progress:
        argv.append("--no-progress")
    return subprocess.Popen(
        [*WORKER, *argv, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
        cwd=cwd,
        env=launcher_env(),
        start_new_session=True,
    )


def stream(proc: subprocess.Popen) -> Iterator[str]:
    """Log lines of a launched run as they come; ends when the process exits (check `proc.returncode`)."""
    assert proc.stdout is not None
    for line in proc.stdout:
        yield line.rstrip("\n")
    proc.wait()


def run_training(
    preset: str,
    out: str | Path,
    *args: str,
    data: Sequence[str] | str | None = None,
    init: str | Path | None = None,
    launcher: str = "none",
    nproc: int | None = None,
    log: Callable[[str], None] | None = print,
) -> Path:
    """Launch `phi-lab train`, echo its log through `log`, and return the run's latest checkpoint.

    What a notebook needs: the run is its own process, a run directory that already holds checkpoints
    is resumed rather than restarted (so re-executing an interrupted notebook continues the run), and
    a failed run raises instead of returning a stale checkpoint.
    """
    from phi_lab.training.checkpoint import CheckpointManager

    name = Path(out).name
    proc = launch(
        preset,
        out,
        *args,
        data=data,
        init=init,
        launcher=launcher,
        nproc=nproc,
        resume=CheckpointManager(out).latest() is not None,
    )
    for line in stream(proc):
        if log is not None:
            log(f"[{name}] {line}")
    if proc.returncode:
        raise RuntimeError(f"training run {out} failed with exit code {proc.returncode}")
    ckpt = CheckpointManager(out).latest()
    if ckpt is None:
        raise RuntimeError(f"training run {out} finished without a checkpoint")
    return ckpt
