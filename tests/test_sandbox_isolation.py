"""The hostile suite twice, as root and as an unprivileged user, plus the refusal where user namespaces
are disabled (issue #15). Each run is `tests/sandbox_driver.py` in a subprocess, against files,
processes and a port of the harness user that the test plants; the unprivileged runs drop to
`nobody` through `phi_lab.sandbox.asuser`, so they need root to set up (CI runs as root)."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DRIVER = Path(__file__).with_name("sandbox_driver.py")
NOBODY = 65534
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="the unprivileged runs are set up from root")


class PortWatch:
    """A TCP server on 127.0.0.1 that records every connection and what it was sent."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.received: list[bytes] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(2)
                try:
                    self.received.append(conn.recv(1024))
                except OSError:
                    self.received.append(b"")

    def close(self) -> None:
        self.sock.close()


@dataclass
class HarnessUser:
    """What belongs to the harness's user: its home (a key file, ~/.netrc, a file to append to), its
    working directory (a copy of phi_lab, so the checker's source is this user's too) and a secret."""

    uid: int
    base: Path
    ctx: dict = field(default_factory=dict)
    env: dict = field(default_factory=dict)

    @classmethod
    def create(cls, uid: int, port: int, mode: str = "hostile", **extra) -> HarnessUser:
        base = Path(tempfile.mkdtemp(prefix="phi-harness-", dir="/tmp"))
        base.chmod(0o755)
        home, cwd = base / "home", base / "work"
        home.mkdir(mode=0o700)
        cwd.mkdir(mode=0o755)
        secret = "phi-sandbox-planted-" + secrets.token_hex(12)
        tag = secrets.token_hex(6)
        (home / "key.pem").write_text(f"-----BEGIN KEY-----\n{secret}\n")
        (home / "key.pem").chmod(0o600)
        (home / ".netrc").write_text(f"machine api.example.com login me password {secret}\n")
        (home / ".netrc").chmod(0o600)
        (home / "notes.txt").write_text("the harness user's own notes\n")
        (home / f"harness-home-{tag}").write_text("")
        (cwd / f"harness-cwd-{tag}").write_text("")
        shutil.copytree(REPO / "phi_lab", cwd / "phi_lab", ignore=shutil.ignore_patterns("__pycache__"))
        shutil.copy(DRIVER, cwd / DRIVER.name)
        ctx = {
            "mode": mode,
            "secret": secret,
            "key_file": str(home / "key.pem"),
            "netrc": str(home / ".netrc"),
            "append_file": str(home / "notes.txt"),
            "checker_source": str(cwd / "phi_lab" / "sandbox" / "rpc.py"),
            "cwd": str(cwd),
            "home": str(home),
            "cwd_marker": f"harness-cwd-{tag}",
            "home_marker": f"harness-home-{tag}",
            "port": port,
            "marker": f"{secrets.randbelow(10**6) + 10**6}.4545",
            **extra,
        }
        (cwd / "context.json").write_text(json.dumps(ctx))
        for root, dirs, files in os.walk(base):
            for name in [*dirs, *files]:
                os.chown(os.path.join(root, name), uid, uid)
        os.chown(base, uid, uid)
        env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "HOME": str(home),
            "LANG": "C.UTF-8",
            "PYTHONPATH": str(cwd),
            "PYTHONDONTWRITEBYTECODE": "1",
            "OPENAI_API_KEY": secret,
            "PHI_LAB_TEST_TOKEN": secret,
        }
        return cls(uid, base, ctx, env)

    def run(self, *asuser: str) -> dict:
        driver = [sys.executable, DRIVER.name, "context.json"]
        if self.uid != os.geteuid():
            driver = [
                sys.executable,
                "-m",
                "phi_lab.sandbox.asuser",
                f"--uid={self.uid}",
                *asuser,
                "--",
                *driver,
            ]
        proc = subprocess.run(
            driver, env=self.env, cwd=self.ctx["cwd"], capture_output=True, text=True, timeout=600
        )
        assert proc.returncode == 0, proc.stderr[-4000:]
        out = json.loads(proc.stdout)
        assert out["uid"] == self.uid and out["phi_lab"].startswith(self.ctx["cwd"]), out
        return out

    def unchanged(self) -> bool:
        home = self.base / "home"
        return (home / "notes.txt").read_text() == "the harness user's own notes\n" and "VERDICT" not in Path(
            self.ctx["checker_source"]
        ).read_text()

    def remove(self) -> None:
        shutil.rmtree(self.base, ignore_errors=True)


@pytest.fixture
def port():
    watch = PortWatch()
    yield watch
    watch.close()


def _assert_contained(out: dict, user: HarnessUser, port: PortWatch, isolation: str) -> None:
    assert out["isolation"] == isolation
    escaped = {name: a["why"] for name, a in out["attacks"].items() if not a["contained"]}
    assert escaped == {}
    checked = out["checked"]
    assert checked["forged_passes"] == [] and checked["wrong_passing"] == 0
    assert checked["canonical_failing"] == []  # the canonical solutions still pass
    assert checked["decided_by"] == ["trusted checker"] and checked["isolation"] == [isolation]
    assert out["survivors"] == []
    assert port.received == [b""]  # the driver's own control connection, and nothing from a sample
    assert user.unchanged()


@needs_root
def test_hostile_suite_as_root(port):
    user = HarnessUser.create(0, port.port)
    try:
        _assert_contained(user.run(), user, port, "namespaces-root")
    finally:
        user.remove()


@needs_root
def test_hostile_suite_as_an_unprivileged_user(port):
    user = HarnessUser.create(NOBODY, port.port)
    try:
        out = user.run()
        if out["isolation"] == "limits":
            pytest.skip("this kernel gives unprivileged users no user namespaces")
        _assert_contained(out, user, port, "namespaces-user")
    finally:
        user.remove()


@needs_root
def test_without_user_namespaces_untrusted_code_is_refused_next_to_secrets(port):
    user = HarnessUser.create(NOBODY, port.port, mode="refusal")
    try:
        out = user.run("--no-user-namespaces")
    finally:
        user.remove()
    assert out["isolation"] == "limits" and "namespaces-user unavailable" in out["reason"]
    refused = out["refused"]
    assert refused and "OPENAI_API_KEY" in refused and "PHI_LAB_TEST_TOKEN" in refused
    assert "--allow-unisolated" in refused and "allow_unisolated=True" in refused
    assert user.ctx["secret"] not in refused
    # Once allowed, every label says what happened.
    assert out["result"]["passed"] and out["result"]["isolation"] == "limits"
    assert out["result"]["decided_by"] == "in-process"
    assert out["summary"]["isolation"] == "limits"
    assert out["summary"]["verdicts"] == "trusted checker (isolation: limits)"
    assert out["rows"] == [{"passed": True, "isolation": "limits", "decided_by": "trusted checker"}] * 2
    assert any("no kernel isolation" in w for w in out["warned"])
    assert out["without_secrets"] is True  # nothing to protect: it runs (with the warning)


@needs_root
def test_the_same_attacks_get_through_without_isolation(port):
    # The suite is not vacuous: under "limits" (allowed explicitly) a sample is the harness's user.
    # Left out: the fork bomb and kill(-1), which would hit every process of that user.
    skip = ["fork bomb", "kill everything it can"]
    user = HarnessUser.create(NOBODY, port.port, allow_unisolated=True, skip=skip)
    try:
        out = user.run("--no-user-namespaces")
        assert out["isolation"] == "limits"
        escaped = {name for name, a in out["attacks"].items() if not a["contained"]}
        assert {
            "scan /proc/*/environ",
            "read the mode-600 key file",
            "read ~/.netrc",
            "append to a file of the harness user",
            "append to the checker's source",
            "read the checker's source",
            "list the harness's working directory",
            "list the harness user's home",
            "connect to 127.0.0.1",
        } <= escaped
        assert b"pwned" in port.received and not user.unchanged()
    finally:
        user.remove()


def test_synthetic_exercises_say_their_tests_were_judged_in_process(tmp_path):
    # The generator writes the tests too: the card must not suggest a trusted checker judged them.
    from phi_lab.sandbox import detect_isolation
    from phi_lab.synthesis.pipeline import SynthConfig, run_synthesis

    card = run_synthesis(SynthConfig(kind="exercises", out=tmp_path, n=3, chunk=4), progress=False)
    assert card["verification"] == {
        "decided_by": "in-process",
        "tests": "generated by phi_lab",
        "isolation": detect_isolation(),
    }
    assert "judged in-process (isolation: " in (tmp_path / "dataset_card.md").read_text()


@pytest.fixture
def no_isolation(monkeypatch):
    """This process believes the machine gives no kernel isolation (the real case is the nobody run
    above, under a user namespace that allows no nested one)."""
    from phi_lab.sandbox import isolation

    monkeypatch.setattr(isolation, "_detected", {"auto": ("limits", "forced by the test")})


def test_the_cli_refuses_without_isolation_unless_allowed(no_isolation, tmp_path, monkeypatch, capsys):
    from phi_lab.benchmarks import humaneval_problems
    from phi_lab.cli import main

    p = humaneval_problems()["HumanEval/0"]
    samples = tmp_path / "samples.jsonl"
    samples.write_text(json.dumps({"task_id": p.task_id, "completion": p.canonical_solution}) + "\n")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-cli-test-0123456789")
    argv = ["eval", "humaneval", "--samples", str(samples), "--workers", "1", "--out", str(tmp_path / "o")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("phi-lab eval: error: phi_lab.sandbox: refusing to run untrusted code")
    assert "OPENAI_API_KEY" in err and "sk-cli-test" not in err and len(err.splitlines()) == 1
    assert not (tmp_path / "o" / "summary.json").exists()
    with pytest.warns(RuntimeWarning, match="no kernel isolation"):
        assert main([*argv, "--allow-unisolated"]) == 0
    line = json.loads(capsys.readouterr().out)
    assert line["pass@1"] == 1.0 and line["isolation"] == "limits"
    assert line["verdicts"] == "trusted checker (isolation: limits)"


def test_the_samples_view_leaves_out_the_checkout_holding_phi_lab(tmp_path):
    from phi_lab.sandbox import namespaces as ns

    checkout, site = tmp_path / "checkout", tmp_path / "checkout" / ".venv" / "site-packages"
    (checkout / "phi_lab" / "sandbox").mkdir(parents=True)
    site.mkdir(parents=True)
    entries = [str(checkout), str(checkout / "phi_lab" / "sandbox"), str(site), str(tmp_path)]
    paths = ns.interpreter_paths(sys.executable, entries, str(checkout))
    assert str(site) in paths  # the venv's packages, read-only
    assert not {str(checkout), str(checkout / "phi_lab" / "sandbox"), str(tmp_path)} & set(paths)
    # Installed into site-packages rather than checked out: site-packages stays, phi_lab's own dir not.
    (site / "phi_lab").mkdir()
    paths = ns.interpreter_paths(sys.executable, [str(site), str(site / "phi_lab")], str(site))
    assert str(site) in paths and str(site / "phi_lab") not in paths
