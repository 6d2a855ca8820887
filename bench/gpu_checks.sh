#!/usr/bin/env bash
# Every GPU check of issues #3 (training at scale) and #9 (gpu-small reproduction), one command:
#
#     bench/gpu_checks.sh [OUT_DIR]              # on a CUDA machine, from the repo root (default runs/gpu-checks)
#     bench/gpu_checks.sh --cpu-dry-run [OUT]    # the same steps with tiny CPU arguments (checks the plumbing)
#
# Steps (each writes OUT_DIR/<step>.log; OUT_DIR/summary.md lists PASS/FAIL, seconds and key numbers):
#   env                 GPU, driver, torch/CUDA, flash-attn and DeepSpeed versions
#   flash-reference     tests/test_model_flash.py (the flash branch against a reference kernel, CPU)
#   flash-parity-*      bench/flash_parity.py: flash-attn vs SDPA logits/gradients, bf16 and fp16, phi-1-small and phi-1
#   throughput-*        bench/train_throughput.py: tokens/s and MFU of full AdamW steps at seq 2048, bf16,
#                       phi-1-small and phi-1, eager and --compile; phi-1-small also against transformers
#   data                one packed corpus (offline Python source, cpu-4k tokenizer) for the training steps
#   train-{bf16,fp16}   the plain trainer on CUDA (bf16 autocast; fp16 with GradScaler), micro model
#   ds-*                --launcher deepspeed (ZeRO-2): bf16, its --resume, fp16 on the micro model; then
#                       the phi-1 shape (phi-1-base preset, seq 2048) in bf16 and fp16, tokens/s and MFU
#   reproduce-gpu-small phi-lab reproduce --preset gpu-small, timed (issue #9: fits one GPU hour)
# Nothing is downloaded: HF_*_OFFLINE are set and every corpus/tokenizer is built from local files.
# Override the interpreter with PY=...; skip the long reproduction with SKIP_REPRODUCE=1.
set -uo pipefail

DRY=0
if [[ "${1:-}" == "--cpu-dry-run" ]]; then
    DRY=1
    shift
fi
OUT=${1:-runs/gpu-checks}
if [[ -z "${PY:-}" ]]; then
    if [[ -x .venv/bin/python ]]; then PY=.venv/bin/python; else PY=python; fi
fi
if [[ ! -f phi_lab/model.py ]]; then
    echo "gpu_checks.sh: run it from the phi-lab repository root" >&2
    exit 2
fi
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
export PY OUT HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 PYTHONUNBUFFERED=1

if ((DRY)); then  # tiny CPU stand-ins for every step: same commands, same checks, small numbers
    DEVICE=cpu
    FLASH=(--device cpu --reference-flash --preset smoke --seq-len 64)
    TP_RUNS=("smoke 64 2" "micro 64 2")  # preset seq_len batch
    TP_ARGS=(--device cpu --steps 1 --warmup 1 --rounds 1)
    PACK=(--vocab-size cpu-2k --max-bytes 2000000)
    SMALL=(--preset smoke --max-steps 12 --save-every 6 --eval-every 6)
    SMALL_STEPS=12 RESUME_STEPS=18
    BIG=(--preset smoke --max-steps 8 --save-every 8 --eval-every 8)
    BIG_STEPS=8
    REPRO=(--preset gpu-small --list)
    export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
else
    DEVICE=cuda
    FLASH=(--device cuda --preset phi-1-small phi-1 --seq-len 2048 --batch 2)
    TP_RUNS=("phi-1-small 2048 8" "phi-1 2048 4")  # phi-1 at batch 4: fp32 AdamW state + activations fit 80 GB
    TP_ARGS=(--device cuda --steps 10 --warmup 3 --rounds 3)
    PACK=(--vocab-size cpu-4k --max-bytes 8000000)
    SMALL=(--preset micro --max-steps 40 --save-every 20 --eval-every 20)
    SMALL_STEPS=40 RESUME_STEPS=60
    # phi-1 (1.3B) at the paper's seq 2048, global batch 16 = 4 micro-steps of 4
    BIG=(--preset phi-1-base --batch-size 16 --micro-batch-size 4 --warmup-steps 2 --max-steps 12 --save-every 12
         --eval-every 12 --eval-batches 1)
    BIG_STEPS=12
    REPRO=(--preset gpu-small --out "$OUT/reproduce-gpu-small")
fi

SUMMARY_TSV=$OUT/summary.tsv
printf 'step\tstatus\tseconds\tlog\n' >"$SUMMARY_TSV"
FAILED=0

# step NAME TIME_LIMIT_S COMMAND...: run COMMAND (a program or a function below) into NAME.log.
step() {
    local name=$1 limit=$2
    shift 2
    local log="$OUT/$name.log" start rc status
    start=$(date +%s)
    {
        echo "# $(date -Is) $name"
        printf '# %q ' "$@"
        echo
    } >"$log"
    echo "== $name ($(date +%H:%M:%S)): $*"
    timeout --kill-after=60 "$limit" bash -c '"$@"' _ "$@" >>"$log" 2>&1
    rc=$?
    local secs=$(($(date +%s) - start))
    if ((rc == 0)); then status=PASS; else status="FAIL(rc=$rc)"; FAILED=$((FAILED + 1)); fi
    [[ $rc == 124 ]] && status="FAIL(timeout ${limit}s)"
    echo "# $(date -Is) exit $rc after ${secs}s" >>"$log"
    printf '%s\t%s\t%s\t%s\n' "$name" "$status" "$secs" "$log" >>"$SUMMARY_TSV"
    echo "   $status in ${secs}s -> $log"
}

skip() {  # skip NAME REASON: a row in the summary, nothing run
    printf '%s\t%s\t%s\t%s\n' "$1" "SKIP" 0 "$2" >>"$SUMMARY_TSV"
    echo "== $1: skipped ($2)"
}

phi_lab() { "$PY" -m phi_lab.cli "$@"; }

env_report() {
    if ((DRY == 0)); then
        nvidia-smi || return 1
    fi
    "$PY" - "$DEVICE" <<'EOF'
import importlib, sys
import torch
print("python", sys.version.split()[0], "| torch", torch.__version__, "| cuda", torch.version.cuda)
for mod in ("flash_attn", "deepspeed", "transformers"):
    try:
        print(mod, getattr(importlib.import_module(mod), "__version__", "?"))
    except Exception as e:  # report, do not fail: the steps that need it fail on their own
        print(mod, "NOT AVAILABLE:", type(e).__name__, e)
if sys.argv[1] == "cuda":
    assert torch.cuda.is_available(), "no CUDA device visible"
    print("device", torch.cuda.get_device_name(0), "| bf16", torch.cuda.is_bf16_supported())
EOF
}

# check_run RUN_DIR STEPS [fp16] [resumed]: metrics.jsonl holds steps 1..STEPS, finite losses that
# went down; fp16 runs log their loss scale; prints tokens/s and MFU of the steady steps.
check_run() {
    "$PY" - "$@" <<'EOF'
import math, statistics, sys
from pathlib import Path
from phi_lab.training.metrics import read_metrics

run, n, flags = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
recs = read_metrics(run)
steps = [r["step"] for r in recs]
assert steps == list(range(1, n + 1)), f"{run}: logged steps {steps[:3]}...{steps[-3:]}, expected 1..{n}"
losses = [r["loss"] for r in recs]
assert all(math.isfinite(x) for x in losses), f"{run}: non-finite loss {losses}"
k = max(2, n // 4)
first, last = statistics.mean(losses[:k]), statistics.mean(losses[-k:])
assert last < first, f"{run}: loss did not go down ({first:.4f} -> {last:.4f})"
if "fp16" in flags:
    assert "loss_scale" in recs[-1], f"{run}: fp16 run logs no loss_scale"
if "resumed" in flags:
    assert (run / "run.json").read_text().count('"resumed_from": "') == 1, f"{run}: run.json has no resumed_from"
steady = recs[2:] or recs  # the first steps include compilation and allocator warm-up
tps = statistics.median(r["tokens_per_s"] for r in steady)
mfu = [r["mfu"] for r in steady if "mfu" in r]
extra = f", MFU {statistics.median(mfu):.1%}" if mfu else ""
scale = f", loss scale {recs[-1]['loss_scale']:g}" if "loss_scale" in recs[-1] else ""
print(f"RESULT {run.name}: loss {first:.3f} -> {last:.3f}, skipped steps {recs[-1]['skipped_steps']}{scale}, "
      f"median {tps:,.0f} tokens/s{extra}")
EOF
}

train_run() {  # train_run NAME STEPS CHECK_FLAGS -- phi-lab train args...
    local name=$1 n=$2 flags=$3
    shift 4
    phi_lab train --no-progress --data "$OUT/data" --out "$OUT/$name" --device "$DEVICE" "$@" || return 1
    check_run "$OUT/$name" "$n" $flags
}

ds_resume() {  # the bf16 DeepSpeed run continued with --resume to a later step
    set -o pipefail
    phi_lab train --no-progress --data "$OUT/data" --out "$OUT/ds-bf16" --device "$DEVICE" "${SMALL[@]}" \
        --max-steps "$RESUME_STEPS" --precision bf16 --launcher deepspeed --nproc 1 --resume | tee "$OUT/ds-bf16-resume.out" || return 1
    grep -q "resuming from .*step-0*$SMALL_STEPS " "$OUT/ds-bf16-resume.out" || { echo "did not resume from step $SMALL_STEPS"; return 1; }
    check_run "$OUT/ds-bf16" "$RESUME_STEPS" resumed
}

big_run() {  # the phi-1 shape under DeepSpeed; its checkpoint (~25 GB with optimizer state) is removed after
    local name=$1
    shift
    train_run "$name" "$BIG_STEPS" "$*" -- "${BIG[@]}" --precision "$1" --launcher deepspeed --nproc 1
    local rc=$?
    rm -rf "$OUT/$name/checkpoints"
    return $rc
}

export DEVICE DRY SMALL_STEPS RESUME_STEPS BIG_STEPS
export SMALL_S="${SMALL[*]}" BIG_S="${BIG[*]}"
export -f env_report phi_lab check_run train_run ds_resume big_run
# arrays do not cross `bash -c`; the exported functions rebuild them from the strings
rebuild='read -ra SMALL <<<"$SMALL_S"; read -ra BIG <<<"$BIG_S"'
run_fn() { eval "$rebuild"; "$@"; }
export rebuild
export -f run_fn

echo "gpu_checks: writing into $OUT$( ((DRY)) && echo ' (CPU dry run)')"
step env 120 env_report
if [[ $(tail -n1 "$SUMMARY_TSV" | cut -f2) != PASS ]]; then
    echo "gpu_checks: no usable CUDA device (see $OUT/env.log); nothing else can run" >&2
    exit 2
fi
step flash-reference 600 "$PY" -m pytest -q -p no:cacheprovider tests/test_model_flash.py
step flash-parity-bf16 1200 "$PY" bench/flash_parity.py "${FLASH[@]}" --dtype bf16
step flash-parity-fp16 1200 "$PY" bench/flash_parity.py "${FLASH[@]}" --dtype fp16

for spec in "${TP_RUNS[@]}"; do
    read -r preset seq batch <<<"$spec"
    common=(bench/train_throughput.py --preset "$preset" --seq-len "$seq" --batch "$batch" --precision bf16 "${TP_ARGS[@]}")
    step "throughput-$preset-eager" 1800 "$PY" "${common[@]}" --impl phi_lab
    step "throughput-$preset-compile" 1800 "$PY" "${common[@]}" --impl phi_lab --compile
done
read -r preset seq batch <<<"${TP_RUNS[0]}"
step "throughput-$preset-vs-transformers" 1800 "$PY" bench/train_throughput.py --preset "$preset" --seq-len "$seq" \
    --batch "$batch" --precision bf16 "${TP_ARGS[@]}" --impl both

step data 1800 "$PY" -m phi_lab.cli data pack --source offline --out "$OUT/data" "${PACK[@]}" --overwrite --quiet
step train-bf16 1200 run_fn train_run train-bf16 "$SMALL_STEPS" "" -- "${SMALL[@]}" --precision bf16
step train-fp16 1200 run_fn train_run train-fp16 "$SMALL_STEPS" fp16 -- "${SMALL[@]}" --precision fp16
step ds-bf16 1800 run_fn train_run ds-bf16 "$SMALL_STEPS" "" -- "${SMALL[@]}" --precision bf16 \
    --launcher deepspeed --nproc 1
step ds-bf16-resume 1800 run_fn ds_resume
if ((DRY)); then
    skip ds-fp16 "DeepSpeed's cpu accelerator has no fp16"
else
    step ds-fp16 1800 run_fn train_run ds-fp16 "$SMALL_STEPS" fp16 -- "${SMALL[@]}" --precision fp16 \
        --launcher deepspeed --nproc 1
fi
step ds-phi-1-bf16 3600 run_fn big_run ds-phi-1-bf16 bf16
if ((DRY)); then
    skip ds-phi-1-fp16 "DeepSpeed's cpu accelerator has no fp16"
else
    step ds-phi-1-fp16 3600 run_fn big_run ds-phi-1-fp16 fp16
fi

if [[ "${SKIP_REPRODUCE:-0}" == 1 ]]; then
    echo "== reproduce-gpu-small: skipped (SKIP_REPRODUCE=1)"
else
    step reproduce-gpu-small 9000 /usr/bin/time -v "$PY" -m phi_lab.cli reproduce "${REPRO[@]}"
fi

# summary.md: one row per step with the numbers its log ends with
{
    echo "# GPU checks ($(date -Is))"
    echo
    echo "Machine: $(grep -m1 '^device ' "$OUT/env.log" || echo "$DEVICE")  "
    echo "Software: $(grep -m1 '^python ' "$OUT/env.log")"
    echo
    echo "| step | status | seconds | result |"
    echo "|---|---|---|---|"
    tail -n +2 "$SUMMARY_TSV" | while IFS=$'\t' read -r name status secs log; do
        if [[ $status == SKIP ]]; then
            echo "| $name | SKIP | - | $log |"
            continue
        fi
        notes=$(grep -E '^RESULT |^flash_parity: |tokens/s median|^ratio phi_lab|Elapsed \(wall clock\)|passed|failed' "$log" |
            sed -E 's/^RESULT [^:]*: //; s/^[[:space:]]+//' | tail -n 4 | paste -sd ';' - | sed 's/;/; /g; s/|/\\|/g')
        echo "| $name | $status | $secs | $notes |"
    done
    echo
    echo "Logs: $OUT/<step>.log; throughput JSON lines: grep '^{' $OUT/throughput-*.log"
} >"$OUT/summary.md"
cat "$OUT/summary.md"
echo "gpu_checks: $FAILED step(s) failed"
((FAILED == 0))
