"""A thin ipywidgets UI over `phi_lab.probes.compare` for JupyterLab.

Pick a probe (or type a prompt), press "Run all models", and see every model's completion in
columns with its verdicts and the diff against the first model. All logic lives in `compare` and
the rendering in `report` (a fragment whose styles stay inside it and hold against JupyterLab's
table styles); this module only wires widgets. An exception inside a callback is shown
in the `errors` Output widget (ipywidgets would otherwise swallow it into the browser console).

    from phi_lab.probes.compare import load_models
    from phi_lab.probes.widgets import ProbeExplorer
    ProbeExplorer(load_models(["runs/phi-1-base", "runs/phi-1"]))   # last expression displays it
"""

from __future__ import annotations

import dataclasses
import functools
import traceback
from collections.abc import Callable, Sequence

import ipywidgets as w

from phi_lab.model.generation import fit_budget
from phi_lab.probes import report
from phi_lab.probes.compare import Comparison, DecodingConfig, ModelEntry, compare, default_sandbox
from phi_lab.probes.probeset import Probe, custom_probe, load_probes

TYPED = "__typed__"  # dropdown value for "type a prompt"


class ProbeExplorer:
    def __init__(
        self,
        models: Sequence[ModelEntry],
        probes: Sequence[Probe] | None = None,
        decoding: DecodingConfig | None = None,
        sandbox=None,
    ):
        if not models:
            raise ValueError("ProbeExplorer needs at least one model")
        self.models = list(models)
        self.probes = {p.id: p for p in (probes if probes is not None else load_probes())}
        # A completion budget no model's window can hold fails every run: the box never offers one.
        # Half the smallest window leaves room for the prompt (cut from the left when longer).
        window = min(m.model.config.max_seq_len for m in self.models)
        self.decoding = decoding or DecodingConfig()
        budget_cap = max(1, window - 1)
        budget = fit_budget(self.decoding.max_new_tokens, window)
        self.decoding = dataclasses.replace(self.decoding, max_new_tokens=budget)
        self._sandbox = sandbox
        self.last: Comparison | None = None

        options = [("(type a prompt)", TYPED)] + [
            (f"{p.id} \u2014 {p.title}", p.id) for p in self.probes.values()
        ]
        first = next(iter(self.probes), TYPED)
        self.picker = w.Dropdown(
            options=options, value=first, description="probe", layout=w.Layout(width="90%")
        )
        self.prompt = w.Textarea(
            value=self.probes[first].prompt if first != TYPED else "",
            layout=w.Layout(width="95%", height="14em"),
        )
        self.max_new_tokens = w.BoundedIntText(
            value=self.decoding.max_new_tokens, min=1, max=budget_cap, description="max tokens"
        )
        self.temperature = w.BoundedFloatText(
            value=self.decoding.temperature, min=0.0, max=5.0, step=0.1, description="temperature"
        )
        self.seed = w.IntText(value=self.decoding.seed, description="seed")
        self.run_button = w.Button(description="Run all models", button_style="primary", icon="play")
        self.status = w.HTML(
            value=f"{len(self.models)} model(s): " + report.text(", ".join(m.name for m in self.models))
        )
        self.result = w.HTML(value="")
        self.errors = w.Output()

        self.picker.observe(self._guard(self._on_pick), names="value")
        self.run_button.on_click(self._guard(self._on_run))
        self.widget = w.VBox(
            [
                self.picker,
                self.prompt,
                w.HBox([self.max_new_tokens, self.temperature, self.seed, self.run_button]),
                self.status,
                self.errors,
                self.result,
            ]
        )

    # -- wiring ---------------------------------------------------------------------------------------
    def _guard(self, fn: Callable) -> Callable:
        """Run a callback; show any exception in `errors` instead of losing it."""

        @functools.wraps(fn)
        def wrapped(*args, **kwargs):
            try:
                return fn(*args, **kwargs)
            except Exception as e:
                self.errors.append_stderr(traceback.format_exc())
                # the stylesheet lives in the result fragment, so the colour is inline here
                self.status.value = (
                    f'<span class="phi-bad" style="color: #cf222e">error: {report.text(repr(e))}</span>'
                )
                return None

        return wrapped

    def _on_pick(self, change: dict) -> None:
        if change["new"] != TYPED:
            self.prompt.value = self.probes[change["new"]].prompt

    def _on_run(self, _button=None) -> None:
        self.errors.clear_output()
        self.status.value = "running\u2026"
        comparison = self.run()
        self.status.value = (
            f"done: {len(comparison.models)} model(s), probe {report.text(comparison.probes[0].id)}"
        )

    # -- logic (delegated) ----------------------------------------------------------------------------
    def current_probe(self) -> Probe:
        """The picked probe (with its checks) while its prompt is unedited, else a typed-prompt probe."""
        picked = self.probes.get(self.picker.value)
        if picked is not None and self.prompt.value == picked.prompt:
            return picked
        return custom_probe(self.prompt.value)

    def run(self) -> Comparison:
        probe = self.current_probe()
        decoding = DecodingConfig(
            max_new_tokens=int(self.max_new_tokens.value),
            temperature=float(self.temperature.value),
            top_p=self.decoding.top_p,
            seed=int(self.seed.value),
            stop_strings=self.decoding.stop_strings,
            batch_size=self.decoding.batch_size,
        )
        if self._sandbox is None:
            self._sandbox = default_sandbox()
        comparison = compare(self.models, [probe], decoding, sandbox=self._sandbox)
        self.last = comparison
        self.result.value = str(report.results_fragment(comparison))
        return comparison

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)
