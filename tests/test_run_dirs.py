"""Where notebooks read and write: the latest finished reproduction, PHI_LAB_RUN, scratch outputs,
and one clear line (not a traceback) when there is nothing to explore yet."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from phi_lab import paths
from phi_lab.paths import NoReproductionYet, repo_root, stage_dirs

STAGES = ("filtering", "synthesis", "training", "evaluation", "probes", "pruning", "report")


def make_run(
    root: Path, name: str, statuses: dict[str, str] | None = None, mtime: float | None = None
) -> Path:
    run = root / name
    run.mkdir(parents=True)
    statuses = statuses or dict.fromkeys(STAGES, "ran")
    manifest = run / "manifest.json"
    manifest.write_text(
        json.dumps({"preset": name, "stages": {s: {"status": v} for s, v in statuses.items()}})
    )
    if mtime is not None:
        os.utime(manifest, (mtime, mtime))
    return run


@pytest.fixture()
def runs(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "runs"
    root.mkdir()
    monkeypatch.setenv("PHI_LAB_RUNS", str(root))
    monkeypatch.delenv("PHI_LAB_RUN", raising=False)
    return root


def test_the_most_recently_finished_reproduction_is_the_default(runs):
    now = time.time()
    old = make_run(runs, "micro", mtime=now - 100)
    new = make_run(runs, "smoke", {**dict.fromkeys(STAGES, "ran"), "report": "cached"}, mtime=now - 10)
    make_run(runs, "failed", {**dict.fromkeys(STAGES, "ran"), "pruning": "failed"}, mtime=now)
    make_run(runs, "partial", {"filtering": "ran", "synthesis": "skipped (--only)"}, mtime=now)
    make_run(runs, "unbuilt", {**dict.fromkeys(STAGES, "ran"), "report": "not built"}, mtime=now)
    (runs / "cache").mkdir()  # no manifest: not a reproduction
    (runs / "torn").mkdir()
    (runs / "torn" / "manifest.json").write_text('{"stages": ')  # a crash mid-write is no run either
    assert paths.finished_runs() == [new, old]
    assert paths.default_run_dir() == new
    os.utime(old / "manifest.json")  # micro finished again later (a cached rerun rewrites its manifest)
    assert paths.default_run_dir() == old


def test_phi_lab_run_wins_and_relative_paths_mean_the_repository_root(runs, monkeypatch):
    make_run(runs, "smoke")
    chosen = make_run(runs, "chosen")
    monkeypatch.setenv("PHI_LAB_RUN", str(chosen))
    assert paths.default_run_dir() == chosen
    monkeypatch.setenv("PHI_LAB_RUN", "notebooks")  # relative: against the checkout, not the cwd
    monkeypatch.chdir(runs)
    assert paths.default_run_dir() == repo_root() / "notebooks"
    assert paths.repo_path("params/smoke.yaml") == repo_root() / "params" / "smoke.yaml"
    assert paths.repo_path(runs) == runs
    monkeypatch.setenv("PHI_LAB_RUN", str(runs / "missing"))
    with pytest.raises(NoReproductionYet, match=r"PHI_LAB_RUN=.*missing: no such run directory"):
        paths.default_run_dir()


def test_nothing_to_explore_is_one_line_saying_what_to_run(runs):
    make_run(runs, "half", {"filtering": "ran", "synthesis": "failed"})
    with pytest.raises(NoReproductionYet) as e:
        stage_dirs("evaluation")
    msg = str(e.value)
    assert "\n" not in msg and "make reproduce" in msg and "phi-lab reproduce --preset smoke" in msg
    assert str(runs) in msg
    assert e.value._render_traceback_() == [msg]  # what IPython shows instead of a traceback


def test_exploring_writes_a_scratch_directory_never_the_reproductions_own(runs):
    run = make_run(runs, "micro")
    (run / "evaluation").mkdir()
    d = stage_dirs("evaluation")
    assert (d.run, d.out, d.publish, d.exploring) == (run, run / "explore" / "evaluation", d.out, True)
    assert d.out.is_dir() and "scratch" in d.describe() and str(d.out) in d.describe()
    # what `phi-lab reproduce` passes: absolute run_dir and the run's own stage directory
    d = stage_dirs("evaluation", str(run.resolve()), str((run / "evaluation").resolve()))
    assert (d.out, d.publish, d.exploring) == ((run / "evaluation").resolve(), run.resolve(), False)
    # an out_dir of the user's choosing is theirs; run-level tables go there too, not into the run
    d = stage_dirs("report", str(run), str(runs / "mine"))
    assert (d.out, d.publish, d.exploring) == (runs / "mine", runs / "mine", True)
    with pytest.raises(NoReproductionYet, match="run_dir=nope: no such run directory"):
        stage_dirs("report", "nope")


def test_a_stage_that_reads_no_other_runs_without_any_reproduction(runs):
    d = stage_dirs("filtering", needs_run=False)
    assert d.run is None and d.out == runs / "explore" / "filtering" and d.out.is_dir()
    run = make_run(runs, "smoke")
    assert stage_dirs("filtering", needs_run=False).out == run / "explore" / "filtering"


@pytest.mark.parametrize("notebook", ["04_evaluation.py", "05_probes.py"])
def test_a_notebook_without_a_reproduction_stops_with_that_line(runs, notebook, tmp_path):
    """Run the notebook's first code cell in a real kernel started in notebooks/ (as JupyterLab does)."""
    import jupytext
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    from phi_lab.reproduce import default_kernel

    nb = jupytext.read(repo_root() / "notebooks" / notebook)
    code = [c for c in nb.cells if c.cell_type == "code"]
    nb.cells = code[:2]  # the parameters and the first code cell
    client = NotebookClient(
        nb,
        kernel_name=default_kernel(),
        timeout=120,
        resources={"metadata": {"path": str(repo_root() / "notebooks")}},
    )
    with pytest.raises(CellExecutionError):
        client.execute(env={**os.environ})
    [error] = [o for o in nb.cells[1].outputs if o.output_type == "error"]
    assert error.ename == "NoReproductionYet"
    assert error.traceback == [
        f"No finished reproduction in {runs} yet: " + error.traceback[0].split(" yet: ", 1)[1]
    ]
    assert "phi-lab reproduce --preset smoke" in error.traceback[0]
