"""The sandbox: untrusted programs (model completions) run only here.

- `harness.py`: the `Sandbox` the rest of phi_lab uses, `CheckedSolution` (benchmark tests judged by a
  trusted checker) and `SandboxResult`;
- `server.py`, `wrapper.py`, `rpc.py`: stdlib-only scripts the harness starts (the fork server, what
  runs in each sample, and the checker's plain-data RPC). They never import phi_lab.
"""

from phi_lab.sandbox.harness import (
    OUTCOMES,
    CheckedSolution,
    Sandbox,
    SandboxResult,
    defined_names,
    detect_isolation,
    solution_names,
)

__all__ = [
    "OUTCOMES",
    "CheckedSolution",
    "Sandbox",
    "SandboxResult",
    "defined_names",
    "detect_isolation",
    "solution_names",
]
