#!/usr/bin/env bash
# Wheels that the GPU machine lacks (it has torch, transformers, peft, accelerate, numpy, pyarrow, …),
# downloaded here into .whl/ (git-ignored through .git/info/exclude) for the device tool to carry.
# Versions are the ones scripts/install.sh resolves here; rouge_score ships only as an sdist.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .whl .git/info
grep -qx "/.whl/" .git/info/exclude 2>/dev/null || echo /.whl/ >> .git/info/exclude
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl \
  datasets==5.2.0 evaluate==0.4.6 pydantic==2.14.3 pydantic_core==2.50.4 annotated-types==0.8.0 \
  typing-inspection==0.4.5 dill==0.4.1 multiprocess==0.70.19 Faker==40.54.0 nltk==3.10.4 \
  torchxrayvision==1.5.7
python3 -m pip wheel -q --no-deps -w .whl rouge_score==0.1.2
ls .whl
