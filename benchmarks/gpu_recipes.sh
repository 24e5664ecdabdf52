#!/usr/bin/env bash
# The GPU figures of docs/benchmarks.md, in one command on a machine with one CUDA GPU and
# litcifar installed (CIFAR-10 in $LITCIFAR_DATA, or fetched on the first fit):
#
#     bash benchmarks/gpu_recipes.sh [runs_dir]
#
# It runs the reference recipe first (configs/default.yaml: Adam, LR range test, One
# Cycle, 25 epochs at batch 512) with bf16 and the device-resident data path. Then it
# runs configs/best.yaml with seeds 0, 1 and 2, and configs/fast.yaml. Each run's
# metrics.json contains its test accuracy and fit seconds. The script ends with one
# table of them and the wall seconds of each command. About 10 minutes on an H200 (estimate, not measured).
# RECIPE_OVERRIDES adds arguments to every fit, e.g. a tiny budget to try the script on a CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
runs_dir="${1:-runs-gpu}"
export NO_ALBUMENTATIONS_UPDATE=1 MPLBACKEND=Agg PYTHONUNBUFFERED=1
litcifar="${LITCIFAR:-litcifar}"
results="$runs_dir/results.tsv"
mkdir -p "$runs_dir"
printf 'recipe\tseed\ttest_acc\ttrain_seconds\tlr_find_seconds\twall_seconds\tdevice\trun\n' >"$results"

run() {  # run NAME SEED ARGS...
    local name="$1" seed="$2"
    shift 2
    local start end folder
    start=$(date +%s.%N)
    folder=$("$litcifar" fit --runs_dir "$runs_dir" --seed_everything "$seed" --trainer.enable_progress_bar false "$@" ${RECIPE_OVERRIDES:-} | tail -n 1)
    end=$(date +%s.%N)
    folder="${folder#run: }"
    python3 - "$folder/metrics.json" "$name" "$seed" "$start" "$end" "$folder" >>"$results" <<'PY'
import json, sys
path, name, seed, start, end, folder = sys.argv[1:]
m = json.load(open(path))
print("\t".join([name, seed, f"{100 * m['test_acc']:.2f}", str(m["train_seconds"]), str(m["lr_find_seconds"]),
                 f"{float(end) - float(start):.1f}", m["device"], folder]))
PY
}

run reference 0 --config configs/default.yaml --trainer.precision bf16-mixed --data.device_augment true
for seed in 0 1 2; do
    run best "$seed" --config configs/best.yaml
done
run fast 0 --config configs/fast.yaml
column -t -s $'\t' "$results"
