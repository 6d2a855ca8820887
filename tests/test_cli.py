"""The `phi-lab` console command as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys

from phi_lab.cli import SUBCOMMANDS


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "phi_lab.cli", *args], capture_output=True, text=True, timeout=120
    )


def test_help_lists_every_subcommand():
    out = _run("--help")
    assert out.returncode == 0, out.stderr
    listed = {line.split()[0] for line in out.stdout.splitlines() if line.startswith("    ") and line.split()}
    assert set(SUBCOMMANDS) <= listed
    assert "not built yet" not in out.stdout  # every part registers a real parser
    for name in SUBCOMMANDS:
        sub = _run(name, "--help")
        assert sub.returncode == 0 and sub.stdout.startswith("usage: phi-lab " + name), (name, sub.stderr)


def test_model_info_counts_phi1_parameters():
    out = _run("model", "info", "--preset", "phi-1")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["parameters"] == 1_418_270_720


def test_model_init_and_export_round_trip(tiny_model_dir, tmp_path):
    out = _run(
        "model", "init", "--preset", "smoke", "--tokenizer", str(tiny_model_dir), "--out", str(tmp_path / "m")
    )
    assert out.returncode == 0, out.stderr
    out = _run(
        "model", "export", "--path", str(tmp_path / "m"), "--out", str(tmp_path / "e"), "--dtype", "bfloat16"
    )
    assert out.returncode == 0, out.stderr
    cfg = json.loads((tmp_path / "e" / "config.json").read_text())
    assert cfg["dtype"] == "bfloat16" and (tmp_path / "e" / "tokenizer.json").exists()


def test_unknown_preset_fails_cleanly():
    out = _run("model", "info", "--preset", "phi-42")
    assert out.returncode == 2 and "unknown model preset" in out.stderr and "Traceback" not in out.stderr
