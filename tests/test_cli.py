"""The `phi-lab` console command as a user runs it."""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from phi_lab.cli import SUBCOMMANDS, build_parser, main
from phi_lab.cli.common import CLIError, fail, run_handler

# Every verb and the options it had before the CLI was rebuilt on typed library functions: a verb
# or an option may be added, none may disappear.
OPTIONS = {
    "phi-lab": "--version",
    "phi-lab model info": "--path --preset",
    "phi-lab model init": "--out --preset --seed --tokenizer",
    "phi-lab model export": "--dtype --out --path",
    "phi-lab tokenizer train": "--max-bytes --min-frequency --out --seed --source --text-field --vocab-size",
    "phi-lab tokenizer encode": "--file --pieces --tokenizer --vocab-size",
    "phi-lab tokenizer info": "--json",
    "phi-lab data pack": "--max-bytes --max-documents --no-dedup --out --overwrite --quiet --seed "
    "--shard-tokens --source --text-field --tokenizer --val-fraction --vocab-size --workers",
    "phi-lab data info": "--json --verify",
    "phi-lab filter annotate": "--annotator --api-key-env --base-url --corpus --max-concurrency "
    "--max-documents --max-file-bytes --model --out --seed --threshold",
    "phi-lab filter fit": "--device --dtype --embedder --labels --n-estimators --out --seed --test-fraction --threshold",
    "phi-lab filter apply": "--batch-size --classifier --corpus --device --dtype --embedder --keep-fraction "
    "--max-documents --max-file-bytes --out --seed --shard-size --threshold",
    "phi-lab synth exercises": "--backend --base-url --batch --cache-dir --chunk --concurrency --dedup-threshold "
    "--max-retries --max-tokens --mine-from --mined-every --model --n --out --prices --quiet --rpm "
    "--sandbox-timeout --seed --temperature --tpm --workers",
    "phi-lab synth textbooks": "--backend --base-url --batch --cache-dir --chunk --concurrency --dedup-threshold "
    "--max-retries --max-tokens --model --n --out --prices --quiet --rpm --sandbox-timeout --seed --seed-texts "
    "--temperature --textbook-kind --tpm --workers",
    "phi-lab synth seeds": "--n --seed",
    "phi-lab train": "--batch-size --compile --data --device --dropout --engine --eval-batches --eval-every "
    "--grad-clip --gradient-checkpointing --hostfile --init --keep-last --launcher --list-presets --log-every "
    "--loss-scale-init --lr --master-addr --master-port --max-steps --micro-batch-size --nnodes --no-progress "
    "--node-rank --nproc --out --precision --preset --resume --save-every --schedule --seed --seq-len "
    "--warmup-steps --weight-decay",
    "phi-lab eval humaneval": "--batch-size --device --limit --max-new-tokens --memory-mb --model --n --out "
    "--samples --seed --temperature --timeout --top-p --workers",
    "phi-lab eval mbpp": "--batch-size --device --limit --max-new-tokens --mbpp --memory-mb --model --n --out "
    "--prompt-style --samples --sanitized --seed --temperature --timeout --top-p --workers",
    "phi-lab eval likelihood": "--batch-size --benchmark --device --limit --mbpp --model --out",
    "phi-lab eval grade": "--api-key-env --base-url --batch-size --device --llm-model --max-new-tokens "
    "--memory-mb --model --out --samples --seed --temperature --timeout --top-p --workers",
    "phi-lab probe": "--batch-size --device --ids --import-stats --max-new-tokens --models --names --out "
    "--probes --seed --temperature --timeout --top-p",
    "phi-lab prune": "--benchmark --benchmark-path --cache-dir --device --embed-dtype --embedder --exercises "
    "--max-embedding-distance --ngram-data --ngram-n --no-progress --order --original-likelihood "
    "--original-results --out --retrained-likelihood --retrained-results --taus --text-field --workers",
    "phi-lab reproduce": "--cell-timeout --force --kernel --list --only --out --preset",
}


def leaf_parsers() -> dict[str, argparse.ArgumentParser]:
    """'phi-lab data pack' -> its parser, for every command that runs something."""
    out = {}

    def walk(p: argparse.ArgumentParser, path: str) -> None:
        subs = [a for a in p._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs or path == "phi-lab":
            out[path] = p
        for s in subs:
            for name, child in s.choices.items():
                walk(child, f"{path} {name}")

    walk(build_parser(), "phi-lab")
    return out


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


def test_every_command_keeps_its_options_and_has_help():
    parsers = leaf_parsers()
    for path, expected in OPTIONS.items():
        assert path in parsers, path
        have = {o for a in parsers[path]._actions for o in a.option_strings}
        missing = set(expected.split()) - have
        assert not missing, (path, sorted(missing))
        assert parsers[path].format_help().startswith("usage: " + path), path


def test_handlers_are_named_after_their_command_and_live_in_its_module():
    for path, p in leaf_parsers().items():
        if path == "phi-lab":
            continue
        words = path.split()[1:]
        func = p.get_default("func")
        assert func.__module__ == f"phi_lab.cli.{words[0]}", path
        allowed = {"run_" + "_".join(words).replace("-", "_"), "run_" + words[0]}
        assert func.__name__ in allowed, (path, func.__name__)


def test_cli_modules_hold_no_logic_of_their_own():
    """Handlers parse, call a library function and print: no file writes, no private error paths."""
    cli = Path(__file__).parents[1] / "phi_lab" / "cli"
    for f in sorted(cli.glob("*.py")):
        text = f.read_text()
        for needle in ("write_text(", "atomic_write", ".open(", "def _fail", "return 2\n"):
            assert needle not in text, (f.name, needle)
        assert not re.search(r"print\(f?\"phi-lab [^\"]*error", text) or f.name == "common.py", f.name


def test_one_error_path(capsys, monkeypatch):
    def raises(exc):
        def handler(_args):
            raise exc

        return handler

    args = argparse.Namespace()
    assert run_handler("x", raises(CLIError("out of cheese", code=3)), args) == 3
    assert capsys.readouterr().err == "phi-lab x: error: out of cheese\n"
    assert run_handler("x", raises(KeyError("unknown preset 'y'")), args) == 2
    assert capsys.readouterr().err == "phi-lab x: error: unknown preset 'y'\n"  # not the key's repr
    assert run_handler("x", raises(FileNotFoundError("no such file: z")), args) == 2
    assert run_handler("x", lambda a: fail("bad"), args) == 2 and run_handler("x", lambda a: None, args) == 0
    with pytest.raises(RuntimeError):  # a bug is not bad input: its traceback shows
        run_handler("x", raises(RuntimeError("bug")), args)
    monkeypatch.setenv("PHI_LAB_DEBUG", "1")
    with pytest.raises(CLIError):
        run_handler("x", raises(CLIError("out of cheese")), args)


def test_bad_input_reaches_the_user_as_one_line(tmp_path, capsys):
    assert main(["model", "export", "--path", str(tmp_path / "nope"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("phi-lab model: error: ") and err.count("\n") == 1
    assert main(["train", "--out", str(tmp_path / "o")]) == 2
    assert "--preset is required" in capsys.readouterr().err
    assert (
        main(["synth", "exercises", "--n", "1", "--out", str(tmp_path / "s"), "--prices", str(tmp_path)]) == 2
    )
    assert "cannot read price table" in capsys.readouterr().err
