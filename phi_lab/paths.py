"""Where phi-lab reads shared inputs, keeps caches, and finds the reproduction a notebook explores.

Every location can be overridden by an environment variable (PHI_LAB_CACHE, PHI_LAB_MBPP, PHI_LAB_RUNS,
PHI_LAB_RUN).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path


def repo_root() -> Path:
    """The checkout this package was installed from (editable installs) or the working directory."""
    here = Path(__file__).resolve().parent.parent
    return here if (here / "pyproject.toml").exists() else Path.cwd()


def cache_dir() -> Path:
    """Caches that are safe to delete (default tokenizer, packed default corpora, LLM replies).

    `PHI_LAB_CACHE` overrides; the default lives under the checkout's git-ignored `runs/`.
    """
    env = os.environ.get("PHI_LAB_CACHE")
    path = Path(env) if env else repo_root() / "runs" / "cache"
    path.mkdir(parents=True, exist_ok=True)
    return path


def default_mbpp_path() -> Path:
    """MBPP's mbpp.jsonl: `PHI_LAB_MBPP` (a file or its folder) or ../shared/data/mbpp/ beside the checkout."""
    env = os.environ.get("PHI_LAB_MBPP")
    path = Path(env) if env else repo_root().parent / "shared" / "data" / "mbpp"
    return path / "mbpp.jsonl" if path.is_dir() else path


# --- Run directories: where notebooks find a reproduction to explore ---------------------------------

RUN_ENV = "PHI_LAB_RUN"  # a run directory every notebook reads by default
FINISHED = ("ran", "cached")  # manifest statuses of a stage whose outputs are complete
FIRST_STEP = (
    "No finished reproduction in {root} yet: run `make reproduce` (about 20 minutes) or "
    "`phi-lab reproduce --preset smoke` (about 4 minutes) first, or set PHI_LAB_RUN to a run directory."
)


class NoReproductionYet(RuntimeError):
    """Nothing to explore yet; the message says what to run first.

    IPython shows `_render_traceback_()` instead of a traceback, so a notebook cell stops with that
    one line; papermill and plain Python still see a failing exception."""

    def _render_traceback_(self) -> list[str]:
        return [str(self)]


def runs_dir() -> Path:
    """Where `phi-lab reproduce` writes `runs/<preset>` and notebooks look for one: `PHI_LAB_RUNS`,
    else the checkout's git-ignored `runs/`."""
    env = os.environ.get("PHI_LAB_RUNS")
    return Path(env) if env else repo_root() / "runs"


def repo_path(path: str | Path) -> Path:
    """`path` as given if absolute, else relative to the repository root (JupyterLab starts kernels in
    notebooks/, papermill in a stage directory: neither is where a user's relative path points)."""
    path = Path(path).expanduser()
    return path if path.is_absolute() else repo_root() / path


def run_status(run_dir: str | Path) -> dict[str, str] | None:
    """{stage: status} from the run's manifest.json (None without a readable manifest)."""
    manifest = Path(run_dir) / "manifest.json"
    try:
        stages = json.loads(manifest.read_text())["stages"]
        return {name: str(entry["status"]) for name, entry in stages.items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def is_finished_run(run_dir: str | Path) -> bool:
    """A reproduction whose stages all ran or came from the stage cache."""
    status = run_status(run_dir)
    return bool(status) and all(s in FINISHED for s in status.values())  # type: ignore[union-attr]


def finished_runs(root: str | Path | None = None) -> list[Path]:
    """Finished reproductions directly under `root` (default `runs/`), the most recently finished first
    (their manifest is written last, after the final stage)."""
    root = Path(root) if root is not None else runs_dir()
    if not root.is_dir():
        return []
    runs = [d for d in root.iterdir() if d.is_dir() and is_finished_run(d)]
    return sorted(runs, key=lambda d: ((d / "manifest.json").stat().st_mtime_ns, d.name), reverse=True)


def default_run_dir(root: str | Path | None = None) -> Path:
    """`$PHI_LAB_RUN` if set, else the most recently finished reproduction under `runs/`.

    Raises NoReproductionYet (one line saying what to run first) when there is none."""
    env = os.environ.get(RUN_ENV)
    if env:
        path = repo_path(env)
        if not path.is_dir():
            raise NoReproductionYet(f"{RUN_ENV}={env}: no such run directory ({path}).")
        return path
    runs = finished_runs(root)
    if not runs:
        raise NoReproductionYet(FIRST_STEP.format(root=Path(root) if root is not None else runs_dir()))
    return runs[0]


@dataclass(frozen=True)
class StageDirs:
    """Where a notebook reads and writes.

    `run` is the reproduction it reads (None for a stage that reads none and found none); `out` its
    own outputs; `publish` the home of run-level figures and tables (`figure_2_1.png`, `table_3.md`):
    the run itself when the notebook writes that run's own stage directory (as under `phi-lab
    reproduce`), else `out`, so exploring never overwrites a finished reproduction."""

    stage: str
    run: Path | None
    out: Path
    publish: Path
    exploring: bool

    def describe(self) -> str:
        reads = f"reading {self.run}" if self.run else "no reproduction to read"
        if not self.exploring:
            return f"{reads}; writing {self.out}"
        return f"{reads}; writing a scratch copy to {self.out} (set out_dir to write elsewhere)"


def stage_dirs(stage: str, run_dir: str = "", out_dir: str = "", needs_run: bool = True) -> StageDirs:
    """Resolve a notebook's `run_dir` / `out_dir` parameters (empty: the defaults below).

    run_dir: as given (relative to the repository root), else `default_run_dir()`.
    out_dir: as given, else `<run>/explore/<stage>`, a scratch directory beside the reproduction's own
    `<run>/<stage>`. A stage that reads no earlier stage (`needs_run=False`) runs without any
    reproduction too, into `runs/explore/<stage>`."""
    run: Path | None
    if run_dir:
        run = repo_path(run_dir)
        if not run.is_dir():
            raise NoReproductionYet(f"run_dir={run_dir}: no such run directory ({run}).")
    elif needs_run:
        run = default_run_dir()
    else:
        try:
            run = default_run_dir()
        except NoReproductionYet:
            run = None
    out = repo_path(out_dir) if out_dir else (run if run else runs_dir()) / "explore" / stage
    own_stage = run is not None and out.resolve() == (run / stage).resolve()
    publish = run if own_stage and run is not None else out
    out.mkdir(parents=True, exist_ok=True)
    return StageDirs(stage=stage, run=run, out=out, publish=publish, exploring=not own_stage)
