#!/usr/bin/env bash
# GPU figures (issues 4, 5, 7) on a CUDA machine whose python3 already has torch, transformers,
# peft and accelerate; the rest travels as wheels in .whl/ (see BENCHMARKS.md, "GPU figures").
#
#   bash bench/gpu_figures.sh OUT_DIR [PARTS...]     PARTS: model run methods (default: model run)
#
# model:   `base` (≥ 100M parameters) in bf16 — one epoch and generation throughput (bench_model),
#          then the CLI path: `medforget finetune --precision bf16` and `medforget generate`;
#          `small` in fp32 for comparison.
# run:     the default benchmark (`openi` / `full` / `small`, every method × level) with --device cuda.
# methods: bench_methods.py (wall time per method, CHIP / GA) on the vanilla model the run trained.
set -euo pipefail
deadline=$(( $(date +%s) + ${GPU_BUDGET_S:-86400} ))  # the device tool stops a command at 600 s
out=${1:?usage: gpu_figures.sh OUT_DIR [PARTS...]}
shift
parts=${*:-model run}
mkdir -p "$out"
site=/tmp/medforget-site
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$site" .whl/*.whl
python3 -m pip install -q --no-index --no-deps --no-build-isolation --no-compile --target "$site" .
export PYTHONPATH=$site PYTHONUNBUFFERED=1 TQDM_MININTERVAL=10
medforget="$site/bin/medforget"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)"
data=/tmp/medforget-full
[ -f "$data/manifest.json" ] || $medforget build --size full --out "$data" | tail -1

if [[ " $parts " == *" model "* ]]; then
  python3 bench/bench_model.py --dataset "$data" --config base --device cuda --precision bf16 \
    --samples 0 --generate-samples 512
  python3 bench/bench_model.py --dataset "$data" --config small --device cuda --precision fp32 \
    --samples 0 --generate-samples 512
  $medforget finetune --dataset "$data" --config base --device cuda --precision bf16 --epochs 3 \
    --out /tmp/base-bf16 2>&1 | tail -1
  python3 -c "import json; r = json.load(open('/tmp/base-bf16/medforget_model.json'));
print('finetune base bf16 s/epoch', [round(h['seconds'], 1) for h in r['history']])"
  began=$(date +%s.%N)
  $medforget generate --dataset "$data" --model /tmp/base-bf16 --level patient --device cuda \
    --precision bf16 --batch-size 64 --out /tmp/base-patient.jsonl 2>&1 | tail -1
  echo "generate base bf16 patient level: $(echo "$(date +%s.%N) - $began" | bc) s (including load)"
fi

if [[ " $parts " == *" run "* ]]; then
  began=$(date +%s)
  timeout $(( deadline - began )) $medforget run --dataset "$data" --device cuda --out /tmp/run-gpu \
    > "$out/run.log" 2>&1 || echo "run stopped (exit $?)"
  echo "medforget run --device cuda: $(( $(date +%s) - began )) s wall"
  cp /tmp/run-gpu/timings.json /tmp/run-gpu/leaderboard/leaderboard.md "$out/" 2>/dev/null || true
  tail -30 "$out/run.log"
fi

if [[ " $parts " == *" methods "* ]]; then
  python3 bench/bench_methods.py --model /tmp/run-gpu/models/vanilla --dataset "$data" --device cuda
fi
