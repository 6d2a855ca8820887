"""The command-line options of a datatrove job (executor, tasks, Slurm, Ray), shared by every verb that has one."""

from __future__ import annotations

import argparse

from phi_lab.pipelines.executors import EXECUTORS, ExecutorConfig


def add_executor_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("execution (datatrove executors; rerun the same command to resume)")
    g.add_argument("--executor", choices=EXECUTORS, default="local", help="where tasks run [local]")
    g.add_argument("--tasks", type=int, default=1, help="split the corpus into this many tasks [1]")
    g.add_argument(
        "--workers", type=int, default=-1, help="tasks at once (default: local all CPUs, slurm/ray no limit)"
    )
    g.add_argument("--cpus-per-task", type=int, default=1, help="slurm/ray: CPUs reserved per task [1]")
    g.add_argument("--mem-per-cpu-gb", type=float, default=2.0, help="slurm/ray: memory per CPU [2]")
    g.add_argument("--gpus-per-task", type=int, default=0, help="slurm/ray: GPUs per embedding task [0]")
    g.add_argument("--slurm-partition", help="slurm: partition (required with --executor slurm)")
    g.add_argument("--slurm-time", default="24:00:00", help="slurm: time limit per task [24:00:00]")
    g.add_argument("--slurm-qos", help="slurm: quality of service")
    g.add_argument("--slurm-job-name", default="phi-lab", help="slurm: job name prefix [phi-lab]")
    g.add_argument("--slurm-venv", help="slurm: activate script for the jobs (default: this interpreter's)")
    g.add_argument("--slurm-env-command", help="slurm: shell command that sets up the jobs' environment")
    g.add_argument("--ray-address", help="ray: address of a running cluster (default: the one Ray finds)")


def executor_from_args(args: argparse.Namespace) -> ExecutorConfig:
    return ExecutorConfig(
        kind=args.executor,
        tasks=args.tasks,
        workers=args.workers,
        partition=args.slurm_partition,
        time=args.slurm_time,
        cpus_per_task=args.cpus_per_task,
        mem_per_cpu_gb=args.mem_per_cpu_gb,
        gpus_per_task=args.gpus_per_task,
        qos=args.slurm_qos,
        job_name=args.slurm_job_name,
        venv_path=args.slurm_venv,
        env_command=args.slurm_env_command,
        ray_address=args.ray_address,
    )
