"""Emergent-ability probes and side-by-side checkpoint comparison (paper §3).

- `probeset`: the Probe record and the shipped probe set (data/probes.jsonl);
- `checks`: static checks (parses? right API names?) and the sandbox programs for run/test;
- `compare`: run several checkpoints on the same probes with the same decoding and seeds, score them;
- `report`: the comparison as a self-contained static HTML page;
- `widgets`: a thin ipywidgets UI over `compare` for JupyterLab;
- `figures`: Figure 3.1 (imports across CodeExercises);
- `cli`: `phi-lab probe`.
"""
