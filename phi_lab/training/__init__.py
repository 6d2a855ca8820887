"""Building blocks of the trainer (`phi_lab.training.trainer`), one job per module.

config        TrainConfig (typed, validated) and the paper's presets: phi-1-base, phi-1, phi-1.5, micro, smoke
schedule      linear warmup + linear decay (phi-1), constant (phi-1.5), cosine
checkpoint    atomic checkpoint directories (transformers format + trainer_state.pt), rotation, best
data          --data specs and preset defaults -> packed directories -> seekable, rank-aware streams
distributed   process groups for single process, torchrun (DDP) and DeepSpeed
metrics       metrics.jsonl + TensorBoard, peak FLOP/s table and MFU
launch        command lines for torchrun / deepspeed, and `launch()` / `run_training()` to train in a subprocess
flags         `phi-lab train` options derived from TrainConfig's fields (and back, for launched workers)
grid          Figure 2.1's grid of runs and the models table (models.json) notebooks 03-07 share
"""

from phi_lab.training.config import PRESETS, TrainConfig
from phi_lab.training.schedule import lr_multiplier, schedule_fn

__all__ = ["PRESETS", "TrainConfig", "lr_multiplier", "schedule_fn"]
