"""The sandbox: untrusted programs (model completions) run only here.

- `harness.py`: the `Sandbox` the rest of phi_lab uses and `SandboxResult`; `checked.py`:
  `CheckedSolution` (benchmark tests judged by a trusted checker); `processes.py`: the harness's ends of
  its fork servers and checkers;
- `isolation.py`: which isolation this machine gives (namespaces-root, namespaces-user, limits), the
  environment allow-list, and the refusal to run untrusted code unisolated next to secrets;
- `server.py`, `wrapper.py`, `rpc.py`, `namespaces.py`: stdlib-only scripts the harness starts (the fork
  server, what runs in each sample, the checker's plain-data RPC, and the namespaces and filesystem view
  they build). They never import phi_lab.
"""

from phi_lab.sandbox.checked import CheckedSolution, defined_names, solution_names
from phi_lab.sandbox.harness import DECIDED_BY, OUTCOMES, Sandbox, SandboxResult
from phi_lab.sandbox.isolation import (
    ALLOW_UNISOLATED_ENV,
    ISOLATIONS,
    UnisolatedRefused,
    detect_isolation,
    isolation_reason,
    secret_variables,
)

__all__ = [
    "ALLOW_UNISOLATED_ENV",
    "DECIDED_BY",
    "ISOLATIONS",
    "OUTCOMES",
    "CheckedSolution",
    "Sandbox",
    "SandboxResult",
    "UnisolatedRefused",
    "defined_names",
    "detect_isolation",
    "isolation_reason",
    "secret_variables",
    "solution_names",
]
