#!/usr/bin/env bash
# Installs MedForget into ./.venv. The CPU build of torch goes in first, so that nothing
# later can pull a multi-GB CUDA build; torchxrayvision is installed without its
# dependencies because we only read a data file from its wheel (never import it).
#   bash scripts/install.sh          runtime + model stack
#   bash scripts/install.sh --dev    plus test and lint tools, and Ray (its executor is tested)
set -euo pipefail
cd "$(dirname "$0")/.."
extras="model"
if [[ "${1:-}" == "--dev" ]]; then extras="model,dev,ray"; fi
python3 -m venv .venv
py=.venv/bin/python
"$py" -m pip install -q --upgrade pip
if ! "$py" -c "import torch" 2>/dev/null; then
    "$py" -m pip install -q "torch==2.13.0"
fi
"$py" -m pip install -q --no-deps "torchxrayvision==1.5.7"
"$py" -m pip install -q -e ".[${extras}]"
if [[ "$extras" == *dev* ]] && ! command -v chromedriver >/dev/null; then
    # The leaderboard Space's browser test drives Debian's Chromium through its driver.
    if command -v apt-get >/dev/null && [[ "$(id -u)" == 0 ]]; then
        apt-get install -y -q chromium chromium-driver >/dev/null 2>&1 \
            || { apt-get update -q >/dev/null && apt-get install -y -q chromium chromium-driver >/dev/null; }
    else
        echo "warning: install chromium and chromium-driver (Debian) for tests/test_space.py" >&2
    fi
fi
echo "installed: $("$py" -c 'import medforget_data, torch; print("medforget", medforget_data.__version__, "torch", torch.__version__)')"
