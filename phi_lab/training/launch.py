"""Start training in its own process: torchrun / deepspeed command lines, and `launch()` for notebooks.

A notebook never holds the training loop: it calls `run_training(...)` (or `launch(...)`, which gives
a `subprocess.Popen` whose log lines `stream(proc)` yields); killing the kernel leaves the run's
checkpoints intact, and `--resume` continues it. `train_argv` writes a run as `phi-lab train`
options from the same field table the parser is built from, so launched workers parse the same config.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

WORKER = [sys.executable, "-u", "-m", "phi_lab.cli", "train"]
LAUNCHERS = ("none", "torchrun", "deepspeed")


@dataclass(frozen=True)
class LaunchConfig:
    """How the processes of one training run start (the paper: DeepSpeed ZeRO-2 on 8 GPUs per node).

    A notebook or preset states this once and every run of the stage gets it; `phi-lab train` reads
    the same values from its launcher options (`cli_args`)."""

    launcher: str = "none"  # none: one process; torchrun: DDP workers; deepspeed: ZeRO workers
    nproc_per_node: int = 0  # processes per node; 0: the node's GPUs, or 1 without any
    nnodes: int = 1  # nodes; more than one needs a launcher (deepspeed reads them from the hostfile)
    hostfile: str = ""  # DeepSpeed hostfile ("host slots=N" lines); its launcher reaches the nodes over ssh
    master_addr: str = "127.0.0.1"  # rendezvous address of the process group (node 0)
    master_port: int = 0  # its port; 0: a free one on this machine

    def __post_init__(self) -> None:
        if self.launcher not in LAUNCHERS:
            raise ValueError(f"unknown launcher {self.launcher!r}; choose from {', '.join(LAUNCHERS)}")
        if self.nproc_per_node < 0 or self.nnodes < 1:
            raise ValueError(
                f"need nproc_per_node >= 0 and nnodes >= 1, got {self.nproc_per_node}, {self.nnodes}"
            )
        if not 0 <= self.master_port <= 65535:
            raise ValueError(f"master_port must be in [0, 65535], got {self.master_port}")
        if self.launcher == "none" and (self.nproc_per_node > 1 or self.nnodes > 1 or self.hostfile):
            raise ValueError(
                f"launcher 'none' trains in one process: nproc_per_node {self.nproc_per_node}, nnodes "
                f"{self.nnodes}, hostfile {self.hostfile!r} need launcher 'torchrun' or 'deepspeed'"
            )
        if self.hostfile and self.launcher != "deepspeed":
            raise ValueError(
                "a hostfile is read by the deepspeed launcher only (torchrun: start it on every node)"
            )
        if self.hostfile and not Path(self.hostfile).is_file():  # before any process starts
            raise FileNotFoundError(f"hostfile {self.hostfile} does not exist")
        if self.launcher == "deepspeed" and self.nnodes > 1 and not self.hostfile:
            raise ValueError(f"deepspeed on {self.nnodes} nodes needs a hostfile listing them")

    def check_engine(self, engine: str, run: str) -> None:
        """torchrun starts DDP workers only: a DeepSpeed run under it fails before any process starts."""
        if self.launcher == "torchrun" and engine != "ddp":
            raise ValueError(
                f"run {run}: launcher torchrun runs DDP, its engine is {engine!r}: use launcher deepspeed"
            )

    def cli_args(self) -> list[str]:
        """The same launch as `phi-lab train` launcher options."""
        args = ["--launcher", self.launcher]
        if self.launcher == "none":
            return args
        if self.nproc_per_node:
            args += ["--nproc", str(self.nproc_per_node)]
        args += ["--nnodes", str(self.nnodes), "--master-addr", self.master_addr]
        if self.master_port:
            args += ["--master-port", str(self.master_port)]
        if self.hostfile:
            args += ["--hostfile", self.hostfile]
        return args

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


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
    nnodes: int = 1,
    master_addr: str | None = None,
) -> list[str]:
    """The `deepspeed` launcher; with a hostfile it starts workers on every listed node over ssh
    (`nnodes` of them, `nproc` per node, rendezvous at `master_addr`)."""
    exe = shutil.which("deepspeed") or str(Path(sys.executable).parent / "deepspeed")
    cmd = [exe]
    if hostfile:
        if not Path(hostfile).exists():
            raise FileNotFoundError(f"--hostfile {hostfile} does not exist")
        cmd += ["--hostfile", hostfile, "--num_nodes", str(nnodes)]
        if master_addr:
            cmd += ["--master_addr", master_addr]
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


def train_argv(
    preset: str,
    out: str | Path,
    overrides: Mapping[str, Any] | None = None,
    *,
    data: Sequence[str] | str | None = None,
    init: str | Path | None = None,
    device: str | None = None,
    resume: bool = False,
    progress: bool = True,
) -> list[str]:
    """`phi-lab train` options for one run; the config overrides come from the same field table the
    parser is built from (`TRAIN_FLAGS`), so the process that reads them gets the same `TrainConfig`."""
    from phi_lab.training.flags import TRAIN_FLAGS

    argv = ["--preset", preset, "--out", str(out)]
    for d in [data] if isinstance(data, str) else (data or []):
        argv += ["--data", str(d)]
    if init:
        argv += ["--init", str(init)]
    if device:
        argv += ["--device", device]
    if resume:
        argv.append("--resume")
    if not progress:
        argv.append("--no-progress")
    return argv + TRAIN_FLAGS.argv(overrides or {})


def launch_workers(
    launcher: str,
    worker_argv: Sequence[str],
    engine: str,
    *,
    nproc: int | None = None,
    nnodes: int = 1,
    node_rank: int = 0,
    master_addr: str = "127.0.0.1",
    master_port: int | None = None,
    hostfile: str | None = None,
) -> int:
    """Run `phi-lab train WORKER_ARGV` under torchrun (DDP) or deepspeed (ZeRO); the launcher's exit code."""
    from phi_lab.training.distributed import free_port

    if launcher not in LAUNCHERS[1:]:
        raise ValueError(f"unknown launcher {launcher!r}; choose from {', '.join(LAUNCHERS[1:])}")
    port = master_port or free_port()
    if launcher == "torchrun":
        if engine != "ddp":
            raise ValueError("--launcher torchrun runs DDP; use --launcher deepspeed for DeepSpeed")
        cmd = torchrun_command(worker_argv, nproc or _gpu_count() or 1, nnodes, node_rank, master_addr, port)
    else:  # with a hostfile and no --nproc, each node runs its listed slots
        local = nproc or (None if hostfile else _gpu_count() or 1)
        cmd = deepspeed_command(worker_argv, local, hostfile, port, nnodes, master_addr)
    print("launching: " + " ".join(cmd), flush=True)
    return subprocess.call(cmd, env=launcher_env())


def _gpu_count() -> int:
    import torch

    return torch.cuda.device_count()


def launch(
    preset: str,
    out: str | Path,
    *args: str,
    overrides: Mapping[str, Any] | None = None,
    data: Sequence[str] | str | None = None,
    init: str | Path | None = None,
    device: str | None = None,
    resume: bool = False,
    launcher: str = "none",
    nproc: int | None = None,
    progress: bool = False,
    cwd: str | Path | None = None,
    launch_config: LaunchConfig | None = None,
) -> subprocess.Popen:
    """Start `phi-lab train` as a subprocess (stdout and stderr merged, line-buffered text).

    `overrides` are `TrainConfig` fields (e.g. `{"max_steps": 100, "lr": 1e-4}`), validated here,
    before any process starts; `args` are further raw CLI options. `launch_config` says how its processes start
    (launcher, processes per node, nodes); without it, `launcher` and `nproc`. The process gets its own
    session so `os.killpg(proc.pid, signal.SIGTERM)` stops every worker it started.
    """
    from phi_lab.training.config import TrainConfig

    launch_config = launch_config or LaunchConfig(launcher, nproc or 0)
    if overrides:  # a bad value fails here, in the caller's process, before any process starts
        TrainConfig.from_preset(preset).replace(**overrides)
    argv = train_argv(
        preset, out, overrides, data=data, init=init, device=device, resume=resume, progress=progress
    )
    argv += launch_config.cli_args()
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
    overrides: Mapping[str, Any] | None = None,
    data: Sequence[str] | str | None = None,
    init: str | Path | None = None,
    device: str | None = None,
    launcher: str = "none",
    nproc: int | None = None,
    log: Callable[[str], None] | None = print,
    launch_config: LaunchConfig | None = None,
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
        overrides=overrides,
        data=data,
        init=init,
        device=device,
        launcher=launcher,
        nproc=nproc,
        launch_config=launch_config,
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
