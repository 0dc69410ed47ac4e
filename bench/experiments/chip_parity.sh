#!/bin/bash
# CHIP with the published defaults beside the project's former choices (issue 19), one cell per level:
# unlearn, generate every split of the level, score under both rules (utility against vanilla's).
#
#   bench/experiments/chip_parity.sh MODEL DATASET OUT [LEVEL ...]      (default levels: patient institution)
#   .venv/bin/python bench/experiments/chip_parity_table.py OUT [LEVEL ...]
#
# Extra flags for generate/unlearn (e.g. "--device cuda") go in $MEDFORGET_FLAGS. Finished cells are
# skipped, so an interrupted run resumes.
set -euo pipefail
MODEL=$1 DATASET=$2 OUT=$3
shift 3
LEVELS=("$@")
[ $# -eq 0 ] && LEVELS=(patient institution)
MF="$(dirname "$0")/../../.venv/bin/medforget"
FLAGS=${MEDFORGET_FLAGS:-}
PROJECT="directions=per_target siblings=health_system merger_layers=output score_retain=without_siblings"
stamp() { echo "[$(date +%T)] $*"; }

score() {  # submission level name [reference-name]
  local ref=() ref_pub=()
  if [ -n "${4:-}" ]; then
    ref=(--reference "$OUT/$2/$4.json")
    ref_pub=(--reference "$OUT/$2/$4.published.json")
  fi
  "$MF" score "$1" --dataset "$DATASET" --level "$2" "${ref[@]}" --out "$OUT/$2/$3.json" > /dev/null
  "$MF" score "$1" --dataset "$DATASET" --level "$2" --rule published "${ref_pub[@]}" \
    --out "$OUT/$2/$3.published.json" > /dev/null
}

for L in "${LEVELS[@]}"; do
  mkdir -p "$OUT/$L"
  if [ ! -f "$OUT/$L/vanilla.published.json" ]; then
    stamp "generate vanilla $L"
    # shellcheck disable=SC2086
    "$MF" generate --dataset "$DATASET" --model "$MODEL" --level "$L" --out "$OUT/$L/vanilla.jsonl" $FLAGS
    score "$OUT/$L/vanilla.jsonl" "$L" vanilla
  fi
  for V in published project; do
    [ -f "$OUT/$L/chip_$V.published.json" ] && continue
    SET=()
    [ "$V" = project ] && read -r -a SET <<< "--set $PROJECT"
    stamp "unlearn chip ($V) $L"
    rm -rf "$OUT/$L/chip_$V"
    # shellcheck disable=SC2086
    "$MF" unlearn --method chip --level "$L" --model "$MODEL" --dataset "$DATASET" --out "$OUT/$L/chip_$V" \
      "${SET[@]}" $FLAGS
    stamp "generate chip ($V) $L"
    # shellcheck disable=SC2086
    "$MF" generate --dataset "$DATASET" --model "$OUT/$L/chip_$V" --level "$L" --method chip \
      --out "$OUT/$L/chip_$V.jsonl" $FLAGS
    score "$OUT/$L/chip_$V.jsonl" "$L" "chip_$V" vanilla
  done
done
stamp finished
