#!/usr/bin/env bash
# The GPU check, one script, under 8 minutes on one GPU: the device tests under sync-debug "error",
# then the benchmark on CUDA. Results: $OUT/gpu_tests.log, $OUT/gpu_bench.json, $OUT/gpu_bench.log
# (OUT defaults to ./gpu-check-results). Uses the python3 that has a CUDA build of torch and imports
# mixup_any from this checkout (nothing is installed or fetched); pytest, hypothesis,
# scikit-learn and transformers are used where present.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu-check-results}
mkdir -p "$OUT"
PY=${PYTHON:-python3}
export PYTHONUNBUFFERED=1
"$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'no CUDA device visible to torch')" || exit 1
"$PY" -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name())" | tee "$OUT/gpu_tests.log"
timeout 240 "$PY" -m pytest -q -p no:cacheprovider tests/test_devices.py tests/test_functional.py tests/test_cutmix.py \
    tests/test_mixer_contract.py -o addopts="" 2>&1 | tee -a "$OUT/gpu_tests.log"
tests=${PIPESTATUS[0]}
timeout 240 "$PY" benchmarks/run.py --device cuda --quick --json "$OUT/gpu_bench.json" 2>&1 | tee "$OUT/gpu_bench.log"
bench=${PIPESTATUS[0]}
echo "tests exit $tests, benchmark exit $bench"
[ "$tests" -eq 0 ] && [ "$bench" -eq 0 ]
