#!/usr/bin/env bash
# One command for a GPU machine: every check that needs CUDA, with logs and JSON in OUT_DIR.
#
#   PYTHONPATH=. scripts/gpu_check.sh OUT_DIR          # from a plain checkout; about 7 minutes on an H100
#
# Runs: pytest -m gpu; the engine benchmark grid (JSON); compare-cells at the triton goal shapes (fp32 and bf16);
# 300 training steps on cuda with every engine (the loss must fall); eval of one run under every engine (the
# accuracies must agree); bf16 autocast; --deterministic twice (the losses must agree to the bit); torchrun with
# nccl and one process. Timed steps run alone; training and eval processes share the GPU side by side. Needs python3 with
# torch (CUDA) and triton, no network: training uses the offline digits set. Each step has a time limit, and a
# failure does not stop the others; the exit code is 1 if any step failed. RNNLAB_CHECK_DEVICE=cpu is a dry run
# of the script itself on a machine without a GPU (the GPU tests then skip).
set -u

OUT=${1:?usage: PYTHONPATH=. scripts/gpu_check.sh OUT_DIR}
PY=${PYTHON:-python3}
DEVICE=${RNNLAB_CHECK_DEVICE:-cuda}
export PYTHONPATH=${PYTHONPATH:-.}
if [ "$DEVICE" = cpu ]; then  # the dry run: the same steps at toy sizes, slower (the triton engine is interpreted)
    LONG=12 BATCH=16 BIG_H=32 SMALL_H=16 STEPS=30 MIN_ACC=0 QUICK=--quick REPEATS=2 SUBSET="--test-subset 64" SLOW=5
    MODEL="--hidden 16"
else
    LONG=784 BATCH=128 BIG_H=256 SMALL_H=128 STEPS=300 MIN_ACC=0.8 QUICK= REPEATS=20 SUBSET= SLOW=1 MODEL=
fi
export PY DEVICE OUT STEPS QUICK REPEATS SUBSET MODEL
mkdir -p "$OUT/logs" "$OUT/runs"

# ==== every rnnlab command line this script runs: update flags here only ===========================================
train() {  # train RUN_DIR [flags...]: STEPS (300) steps of 32 digits
    local run=$1; shift
    "$PY" -m rnnlab train --dataset digits --device "$DEVICE" --batch-size 32 --epochs 20 --max-steps "$STEPS" \
        --log-every $((STEPS / 10)) --out "$run" --force $MODEL "$@"
}
evaluate() {  # evaluate RUN_DIR ENGINE: one JSON object on stdout
    "$PY" -m rnnlab eval "$1" --engine "$2" --device "$DEVICE" --json $SUBSET
}
compare() {  # compare JSON_FILE [flags...]
    local json=$1; shift
    "$PY" -m rnnlab compare-cells --device "$DEVICE" --layout time --repeats "$REPEATS" --json-file "$json" "$@"
}
torchrun_train() {  # torchrun_train RUN_DIR: one process, nccl on cuda
    "$PY" -m torch.distributed.run --standalone --nproc_per_node=1 -m rnnlab train --dataset digits \
        --device "$DEVICE" --batch-size 32 --epochs 5 --max-steps "$STEPS" --out "$1" --force $MODEL
}
bench() {  # bench JSON_FILE: the full grid; unrolled only at the goal shapes (compare), it takes minutes at T=784
    "$PY" scripts/bench_cells.py --device "$DEVICE" --engines cudnn,bptt,triton --repeats 3 --out "$1" $QUICK
}
gpu_tests() {
    "$PY" -m pytest -m gpu -q -rs -p no:cacheprovider tests
}
# ==================================================================================================================

export -f train evaluate compare torchrun_train bench gpu_tests

pyjson() {  # pyjson 'python code': a check on the JSON this script wrote
    "$PY" -c "import json, sys; $1"
}
train_checked() {  # train_checked RUN_DIR [flags...]: train, then the training loss must have fallen
    local run=$1
    train "$@" && pyjson "
steps = [r for r in map(json.loads, open('$run/metrics.jsonl')) if r['kind'] == 'step']
assert steps[-1]['step'] >= 0.8 * $STEPS and steps[-1]['loss'] < steps[0]['loss'], (steps[0], steps[-1])"
}
par() {  # par LABEL 'commands' [LABEL 'commands' ...]: side by side, each logged to OUT/logs/LABEL.log
    local pids=() labels=() rc=0 i
    while [ $# -gt 0 ]; do
        bash -c "set -o pipefail; $2" >"$OUT/logs/$1.log" 2>&1 &
        pids+=($!) labels+=("$1")
        shift 2
    done
    for i in "${!pids[@]}"; do
        if wait "${pids[$i]}"; then echo "${labels[$i]}: ok"; else echo "${labels[$i]}: FAILED (exit $?)"; rc=1; fi
    done
    return $rc
}
export -f pyjson train_checked par

NAMES=() SECONDS_TAKEN=() STATUS=()
step() {  # step NAME LIMIT_S 'bash commands': runs them with a time limit, logging to OUT/logs/NAME.log
    local name=$1 limit=$(($2 * SLOW)) cmd=$3 log="$OUT/logs/$1.log" start rc
    start=$(date +%s.%N)
    printf '%-26s ' "$name"
    # timeout makes a process group of its own; a process that outlives it (training catches SIGTERM, and a kernel
    # that never returns ignores it) is killed with the group, so that nothing of this step runs on into the next.
    timeout --kill-after=15 "$limit" bash -c "set -o pipefail; $cmd" >"$log" 2>&1 &
    local group=$!
    wait "$group"
    rc=$?
    kill -KILL -- "-$group" 2>/dev/null
    local took
    took=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
    local status=ok
    if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
        status="FAILED (over ${limit}s)"
    elif [ "$rc" -ne 0 ]; then
        status="FAILED (exit $rc)"
    fi
    NAMES+=("$name") SECONDS_TAKEN+=("$took") STATUS+=("$status")
    printf '%7ss  %s\n' "$took" "$status"
    if [ "$status" != ok ]; then tail -n 5 "$log" | sed 's/^/    /'; fi
}

{
    date -u
    nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv 2>&1
    "$PY" -c "import torch, triton; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'triton', \
triton.__version__, 'device', torch.cuda.get_device_name() if torch.cuda.is_available() else None)" 2>&1
    git rev-parse HEAD 2>&1
} >"$OUT/environment.txt"

R="$OUT/runs"
step variants 60 "$PY -c \"
import torch
from rnnlab.cells.triton.engine import variant
for cell, b, h, dt in [('lstm', 128, 256, torch.float32), ('lstm', 16, 128, torch.float32), ('lstm', 16, 256, torch.float32),
                       ('lstm', 128, 256, torch.bfloat16), ('gru', 128, 256, torch.float32), ('lstm', 128, 512, torch.float32)]:
    print(cell, 'B', b, 'H', h, dt, '->', variant(cell, b, h, dt, '$DEVICE'))
\""
step pytest_gpu 330 "gpu_tests"
step goal_b128_h256_l2 120 "compare '$OUT/compare_b128_t28_h256_l2.json' --cell lstm --layers 2 --hidden $BIG_H \
    --batch-size $BATCH --seq 28 --engines cudnn,unrolled,bptt,triton"
step goal_b16_t784 180 "compare '$OUT/compare_b16_t784_h128.json' --hidden $SMALL_H --batch-size 16 --seq $LONG \
    --engines cudnn,bptt,triton && compare '$OUT/compare_b16_t784_h256.json' --hidden $BIG_H --batch-size 16 --seq $LONG \
    --engines cudnn,bptt,triton"
step goal_bf16 90 "compare '$OUT/compare_bf16.json' --hidden $BIG_H --batch-size $BATCH --seq 28 --dtype bfloat16 \
    --engines cudnn,triton && compare '$OUT/compare_fp32.json' --hidden $BIG_H --batch-size $BATCH --seq 28 \
    --engines cudnn,triton"
step bench_grid 240 "bench '$OUT/bench_cells.json'"
# Training and evaluation take turns with nothing timed, so their processes run side by side on the one GPU.
step train_every_engine 150 "par train_cudnn \"train_checked '$R/cudnn' --engine cudnn\" \
    train_unrolled \"train_checked '$R/unrolled' --engine unrolled\" \
    train_bptt \"train_checked '$R/bptt' --engine bptt\" train_triton \"train_checked '$R/triton' --engine triton\""
step eval_every_engine 120 "par eval_cudnn \"evaluate '$R/cudnn' cudnn > '$OUT/eval_cudnn.json'\" \
    eval_unrolled \"evaluate '$R/cudnn' unrolled > '$OUT/eval_unrolled.json'\" \
    eval_bptt \"evaluate '$R/cudnn' bptt > '$OUT/eval_bptt.json'\" \
    eval_triton \"evaluate '$R/cudnn' triton > '$OUT/eval_triton.json'\" && pyjson \"
acc = {e: json.load(open('$OUT/eval_' + e + '.json'))['accuracy'] for e in ('cudnn', 'unrolled', 'bptt', 'triton')}
print(acc)
assert acc['cudnn'] >= $MIN_ACC and all(abs(a - acc['cudnn']) <= 0.01 for a in acc.values()), acc\""
step bf16_and_deterministic 150 "par bf16_triton \"train_checked '$R/bf16_triton' --engine triton --bf16\" \
    bf16_cudnn \"train_checked '$R/bf16_cudnn' --engine cudnn --bf16\" \
    deterministic_1 \"train '$R/det1' --engine cudnn --deterministic\" \
    deterministic_2 \"train '$R/det2' --engine cudnn --deterministic\" && pyjson \"
loss = [[r['loss'] for r in map(json.loads, open('$R/' + d + '/metrics.jsonl')) if r['kind'] == 'step'] for d in ('det1', 'det2')]
assert loss[0] == loss[1] and loss[0], loss\""
step torchrun_nccl_1proc 120 "torchrun_train '$R/torchrun' && test -s '$R/torchrun/checkpoint.pt'"

failed=0
for status in "${STATUS[@]}"; do
    [ "$status" = ok ] || failed=$((failed + 1))
done
{
    printf '\n%-26s %9s  %s\n' step seconds status
    for i in "${!NAMES[@]}"; do
        printf '%-26s %9s  %s\n' "${NAMES[$i]}" "${SECONDS_TAKEN[$i]}" "${STATUS[$i]}"
    done
} | tee "$OUT/summary.txt"
"$PY" - "$OUT" <<'EOF' >>"$OUT/summary.txt" 2>&1 || true
import json, sys, pathlib
out = pathlib.Path(sys.argv[1])
def ms(name, engine):
    try:
        rows = json.loads((out / name).read_text())["rows"]
    except (OSError, ValueError):
        return None
    row = next((r for r in rows if r["engine"] == engine and r.get("status") == "ok"), None)
    return row and row["fwdbwd_ms"]
def ratio(name_a, engine_a, name_b, engine_b):
    a, b = ms(name_a, engine_a), ms(name_b, engine_b)
    return a / b if a and b else None
b128, t784 = "compare_b128_t28_h256_l2.json", "compare_b16_t784_h{}.json"
goals = [  # (what, ratio of fwd+bwd medians, the goal)
    ("B=128 T=28 H=256 L=2: unrolled / triton >= 5", ratio(b128, "unrolled", b128, "triton"), lambda r: r >= 5),
    ("B=128 T=28 H=256 L=2: triton / cudnn <= 1.5", ratio(b128, "triton", b128, "cudnn"), lambda r: r <= 1.5),
    *((f"B=16 T=784 H={h}: triton / cudnn < 1", ratio(t784.format(h), "triton", t784.format(h), "cudnn"),
       lambda r: r < 1) for h in (128, 256)),
    ("B=128 H=256 bf16: triton fp32 / triton bf16 >= 1.5",
     ratio("compare_fp32.json", "triton", "compare_bf16.json", "triton"), lambda r: r >= 1.5),
]
print("\ngoals (ratios of fwd+bwd medians: measurements, not failures of this script)")
for what, r, met in goals:
    print(f"  {what}: " + ("not measured" if r is None else f"{r:.2f} {'met' if met(r) else 'MISSED'}"))
EOF
tail -n 7 "$OUT/summary.txt"
if [ "$failed" -ne 0 ]; then
    echo "gpu_check: $failed step(s) failed; logs in $OUT/logs" >&2
    exit 1
fi
echo "gpu_check: every step passed; logs and JSON in $OUT"
