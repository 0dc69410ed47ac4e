#!/usr/bin/env bash
# GPU figures (issues 4, 5, 7) on a CUDA machine whose python3 already has torch, transformers,
# peft and accelerate; the rest travels as wheels in .whl/, made here by `bash bench/gpu_wheels.sh`
# and named in the device call's carry list.
#
#   GPU_BUDGET_S=580 bash bench/gpu_figures.sh OUT_DIR [PARTS...]
#
# PARTS (default: all, in this order):
#   profile  where a `small` training step's time goes on the GPU (bench/profile_step.py)
#   model    `base` (≥ 100M parameters) in bf16: one epoch + generation throughput (bench_model.py),
#            then the CLI path: `medforget finetune --precision bf16` (3 epochs) and `medforget generate`
#   methods  bench_methods.py at the `patient` level on `base` (bf16-trained, fp32 weights) and on a
#            `small` model fine-tuned 2 epochs (base: the model part's, else 1 epoch here) on the GPU: wall time per method, CHIP / GA
#   run      the default benchmark (`openi` / `full` / `small`, every method × level), --device cuda,
#            in-process (Ray's 79 MB wheel exceeds the device tool's 64 MiB carry, so not
#            `--executor ray --ray-gpus 0.2`), stopped at the budget; timings.json says how far it got
set -euo pipefail
deadline=$(( $(date +%s) + ${GPU_BUDGET_S:-86400} ))  # the device tool stops a command at 600 s
out=${1:?usage: gpu_figures.sh OUT_DIR [PARTS...]}
shift
parts=${*:-profile model methods run}
mkdir -p "$out"
site=/tmp/medforget-site
python3 -m pip install -q --no-index --no-deps --no-build-isolation --no-compile --no-cache-dir --upgrade \
  --target "$site" .whl/*.whl .
export PYTHONPATH=$site PYTHONUNBUFFERED=1 TQDM_MININTERVAL=10
medforget="$site/bin/medforget"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)"
data=/tmp/medforget-full
[ -f "$data/manifest.json" ] || $medforget build --size full --out "$data" | tail -1
history() {  # per-epoch loss and seconds from a model card
  python3 -c "import json, sys; r = json.load(open(sys.argv[1] + '/medforget_model.json'));
print(sys.argv[1], 'lr', r['recipe']['lr'], [(round(h['loss'], 3), round(h['seconds'], 1)) for h in r['history']])" "$1"
}

if [[ " $parts " == *" profile "* ]]; then
  python3 bench/profile_step.py --dataset "$data" --config small --device cuda --steps 20 2>&1 | grep -v USDT
fi

if [[ " $parts " == *" model "* ]]; then
  python3 bench/bench_model.py --dataset "$data" --config base --device cuda --precision bf16 \
    --samples 0 --generate-samples 512
  $medforget finetune --dataset "$data" --config base --device cuda --precision bf16 --epochs 3 \
    --out /tmp/base-bf16 2>&1 | tail -1
  history /tmp/base-bf16
  began=$(date +%s)
  $medforget generate --dataset "$data" --model /tmp/base-bf16 --level patient --splits forget \
    --device cuda --precision bf16 --batch-size 64 --out /tmp/base-forget.jsonl 2>&1 | tail -1
  echo "generate (base, bf16, patient forget): $(( $(date +%s) - began )) s including load"
fi

if [[ " $parts " == *" methods "* ]]; then
  [ -d /tmp/base-bf16 ] || $medforget finetune --dataset "$data" --config base --device cuda \
    --precision bf16 --epochs 1 --out /tmp/base-bf16 2>&1 | tail -1
  python3 bench/bench_methods.py --model /tmp/base-bf16 --dataset "$data" --levels patient --device cuda
  $medforget finetune --dataset "$data" --config small --device cuda --epochs 2 --out /tmp/small-2 2>&1 | tail -1
  history /tmp/small-2
  python3 bench/bench_methods.py --model /tmp/small-2 --dataset "$data" --levels patient --device cuda
fi

if [[ " $parts " == *" run "* ]]; then
  began=$(date +%s)
  timeout $(( deadline - began )) $medforget run --dataset "$data" --device cuda --out /tmp/run-gpu \
    > "$out/run.log" 2>&1 || echo "run stopped (exit $?)"
  echo "medforget run --device cuda: $(( $(date +%s) - began )) s wall"
  cp /tmp/run-gpu/timings.json /tmp/run-gpu/state.json "$out/" 2>/dev/null || true
  cp /tmp/run-gpu/leaderboard/leaderboard.md "$out/" 2>/dev/null || true
fi
