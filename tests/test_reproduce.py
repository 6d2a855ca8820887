"""Notebooks as thin, parameterized drivers, and `phi-lab reproduce` end to end on the smoke preset."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import tempfile
from pathlib import Path

import jupytext
import pytest
from conftest import FAKE_SECRET

from phi_lab import reproduce
from phi_lab.paths import repo_root

NOTEBOOKS = sorted((repo_root() / "notebooks").glob("*.py"))


def _parameters_cell(path: Path) -> str:
    nb = jupytext.read(path)
    cells = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(cells) == 1, f"{path.name}: needs exactly one cell tagged 'parameters', found {len(cells)}"
    return cells[0].source


def test_every_stage_has_a_percent_format_notebook():
    assert [p.name for p in NOTEBOOKS] == [nb for _, nb in reproduce.STAGES]
    for path in NOTEBOOKS:
        text = path.read_text()
        assert "format_name: percent" in text or "formats: py:percent" in text, path.name
        assert "# %% [markdown]" in text, f"{path.name}: no prose explaining the paper's section"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_parameters_are_typed_literals_with_help(path):
    source = _parameters_cell(path)
    names = []
    for line, node in zip(
        (ln for ln in source.splitlines() if ln.strip() and not ln.startswith("#")), ast.parse(source).body
    ):
        assert isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name), f"{path.name}: {line}"
        ast.literal_eval(node.value)  # literals only: papermill overrides them, nothing is computed
        assert "#" in line and line.split("#", 1)[1].strip(), f"{path.name}: no help comment on {line!r}"
        assert line.count("=") == 1, f"{path.name}: papermill cannot parse '=' inside {line!r}"
        names.append(node.target.id)
    assert {"run_dir", "out_dir"} <= set(names)
    declared = reproduce.declared_parameters(path)  # what `papermill --help-notebook` shows
    assert set(declared) == set(names) and all(declared[n]["help"] for n in names)


UNTRUSTED_CODE = ("02_synthesis.py", "04_evaluation.py", "05_probes.py", "06_pruning.py", "08_phi15.py")


@pytest.mark.parametrize("name", UNTRUSTED_CODE)
def test_notebooks_that_run_model_written_code_take_the_unisolated_opt_in_off_by_default(name):
    declared = reproduce.declared_parameters(reproduce.notebooks_dir() / name)
    assert declared["allow_unisolated"]["default"] == "False", declared.get("allow_unisolated")
    assert "allow_unisolated=allow_unisolated or None" in (reproduce.notebooks_dir() / name).read_text()


def test_no_executed_notebooks_are_tracked():
    out = subprocess.run(["git", "ls-files", "*.ipynb"], cwd=repo_root(), capture_output=True, text=True)
    if out.returncode:
        pytest.skip("not a git checkout")
    assert out.stdout.strip() == ""


@pytest.mark.parametrize("preset", ["smoke", "micro", "gpu-small", "paper"])
def test_parameter_sets_validate(preset):
    stages = reproduce.plan(preset)
    assert all(s.exists for s in stages)


def test_unknown_parameter_is_an_error(tmp_path, monkeypatch):
    (tmp_path / "bad.yaml").write_text("training:\n  pretrain_stepz: [10]\n")
    monkeypatch.setattr(reproduce, "params_dir", lambda: tmp_path)
    with pytest.raises(ValueError, match="pretrain_stepz"):
        reproduce.plan("bad")
    (tmp_path / "bad2.yaml").write_text("trainng:\n  seed: 1\n")
    with pytest.raises(ValueError, match="trainng"):
        reproduce.plan("bad2")


PLANTED_KEY = "sk-planted-" + "7c1e9a4b" * 3

LEAKY_NOTEBOOK = """# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% tags=["parameters"]
run_dir = ""
out_dir = ""

# %%
import json
import os
from pathlib import Path

Path(out_dir, "metrics.json").write_text(json.dumps({"ok": True}))
key = os.environ.get("PHI_LAB_TEST_API_KEY", "")
"""


def _files_holding(root: Path, value: str) -> list[Path]:
    forms = (value.encode(), json.dumps(value)[1:-1].encode())
    return [f for f in root.rglob("*") if f.is_file() and any(x in f.read_bytes() for x in forms)]


@pytest.fixture
def leaky_stage(tmp_path, monkeypatch):
    """A stage notebook of the test's own, whose last cell the test writes; a key in the environment."""
    monkeypatch.setenv("PHI_LAB_TEST_API_KEY", PLANTED_KEY)

    def make(last_cell: str, name: str = "leaky") -> reproduce.Stage:
        path = tmp_path / f"{name}.py"
        path.write_text(LEAKY_NOTEBOOK + "\n# %%\n" + last_cell + "\n")
        return reproduce.Stage(name, path, {})

    return make


def _own_temp_dirs(stage: str) -> list[str]:
    return [d for d in os.listdir(tempfile.gettempdir()) if d.startswith(f"phi-lab-{stage}-")]


def test_an_executed_notebook_holding_a_secret_is_refused_and_never_written(leaky_stage, tmp_path):
    run = tmp_path / "run"
    kernel = reproduce.default_kernel()
    clean = leaky_stage("print('key is set:', bool(key))", name="clean")
    reproduce.run_stage(clean, run, kernel, 120)
    assert (run / "notebooks" / "clean.ipynb").exists()  # the guard lets a clean notebook through
    with pytest.raises(reproduce.SecretInOutput, match=r"ran, but .*\$PHI_LAB_TEST_API_KEY: refused") as e:
        reproduce.run_stage(leaky_stage("print(key)"), run, kernel, 120)
    assert PLANTED_KEY not in str(e.value)
    assert not (run / "notebooks" / "leaky.ipynb").exists()
    assert "<redacted $PHI_LAB_TEST_API_KEY>" in e.value.redacted.read_text()
    assert _files_holding(run, PLANTED_KEY) == [] and _own_temp_dirs("leaky") == []


def test_a_failed_notebook_is_checked_too_and_the_run_refuses(leaky_stage, tmp_path, monkeypatch):
    # A failing cell's traceback is the likeliest place for a key.
    stage = leaky_stage("raise RuntimeError('could not authenticate with ' + key)", name="failing")
    monkeypatch.setattr(reproduce, "plan", lambda preset: [stage])
    run = tmp_path / "run"
    with pytest.raises(reproduce.StageFailed) as e:
        reproduce.reproduce("smoke", run)
    assert isinstance(e.value.__cause__, reproduce.SecretInOutput)
    assert "failed, and its executed notebook" in str(e.value.__cause__)
    assert e.value.__cause__.__cause__ is None  # the cell's own error (it shows the key) is dropped
    assert (
        e.value.notebook.name == "failing.redacted.ipynb" and "RuntimeError" in e.value.notebook.read_text()
    )
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["stages"]["failing"]["status"] == "refused: secret in output"
    assert _files_holding(run, PLANTED_KEY) == [] and _own_temp_dirs("failing") == []


def test_a_rerun_stage_starts_clean_unless_it_was_interrupted_under_the_same_key(tmp_path):
    run = tmp_path / "run"
    reproduce.prepare_stage_dir(run, "filtering", "key-1")
    (run / "filtering" / "partial.jsonl").write_text("half of a resumable step\n")
    reproduce.prepare_stage_dir(run, "filtering", "key-1")  # interrupted, same code and data: resume
    assert (run / "filtering" / "partial.jsonl").exists()
    reproduce.prepare_stage_dir(run, "filtering", "key-2")  # other code, parameters or data: fresh
    assert not (run / "filtering" / "partial.jsonl").exists()
    assert (run / ".previous" / "filtering" / "partial.jsonl").exists()  # kept for inspection
    (run / "filtering" / "new.txt").write_text("x")
    reproduce.prepare_stage_dir(run, "filtering", "key-2", fresh=True)  # --force
    assert (
        not (run / "filtering" / "new.txt").exists()
        and (run / ".previous" / "filtering" / "new.txt").exists()
    )


def test_a_stage_reruns_when_outside_data_appears_or_changes(tmp_path, monkeypatch):
    stage = next(s for s in reproduce.plan("smoke") if s.name == "evaluation")
    mbpp = tmp_path / "mbpp.jsonl"
    monkeypatch.setenv("PHI_LAB_MBPP", str(mbpp))
    absent = reproduce.stage_key(stage, [], "src")
    mbpp.write_text('{"task_id": 11}\n')
    present = reproduce.stage_key(stage, [], "src")
    mbpp.write_text('{"task_id": 12}\n')
    changed = reproduce.stage_key(stage, [], "src")
    assert len({absent, present, changed}) == 3
    assert reproduce.stage_key(stage, [], "src") == changed  # and nothing else moves it


@pytest.mark.slow
def test_smoke_reproduce_end_to_end_then_cached(smoke_run):
    out, env, cmd, first = smoke_run.path, smoke_run.env, smoke_run.command(), smoke_run.first
    assert first.returncode == 0, first.stderr[-3000:]
    for name in (
        "figure_2_1.png",
        "figure_3_1.png",
        "claims.md",
        "table_1.md",
        "table_2.md",
        "table_3.md",
        "table_phi15.md",
        "report.html",
        "manifest.json",
    ):
        assert (out / name).stat().st_size > 0, name
    assert len(list((out / "notebooks").glob("*.ipynb"))) == len(reproduce.STAGES)
    manifest = json.loads((out / "manifest.json").read_text())
    assert {s: e["status"] for s, e in manifest["stages"].items()} == {s: "ran" for s, _ in reproduce.STAGES}
    assert manifest["git"]["commit"] and manifest["versions"]["torch"].startswith("2.13")
    results = json.loads((out / "evaluation" / "results.json").read_text())
    assert {(r["data"], r["finetuned"]) for r in results} == {
        (d, f) for d in ("unfiltered", "filtered", "codetextbook") for f in (False, True)
    }
    assert all(r["humaneval_nll"] > 0 for r in results)
    assert "Table 3" in (out / "table_3.md").read_text()
    # secrets in the environment reach no output: executed notebooks, logs, manifests, data
    for f in out.rglob("*"):
        if f.is_file() and f.suffix in (".json", ".jsonl", ".ipynb", ".md", ".html", ".txt", ".log", ".csv"):
            assert FAKE_SECRET not in f.read_text(errors="replace"), f

    second = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stderr[-3000:]
    manifest = json.loads((out / "manifest.json").read_text())
    assert {e["status"] for e in manifest["stages"].values()} == {"cached"}
