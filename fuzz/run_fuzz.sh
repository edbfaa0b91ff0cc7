#!/usr/bin/env bash
# CI-bounded fuzzing: each target for FUZZ_SECONDS (default 30) with atheris, or the seeded
# mutation fuzzer when atheris is not installed. Exits non-zero on the first crash; the crashing
# input is written to fuzz/crashes/ (add it to fuzz/regressions/<target>/ once fixed).
#   fuzz/run_fuzz.sh            # 30 s per target
#   FUZZ_SECONDS=300 fuzz/run_fuzz.sh
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${FUZZ_SECONDS:-30}"
mkdir -p fuzz/crashes
for target in manifest ros_image; do
  if python -c "import atheris" 2>/dev/null; then
    work="$(mktemp -d)"  # new inputs go to the first corpus folder, not into the repository
    # ros_image has no corpus folder: fuzz_ros_image.py adds its built-in seeds itself
    python "fuzz/fuzz_${target}.py" -max_total_time="${seconds}" -artifact_prefix="fuzz/crashes/${target}-" \
      "${work}" $([ -d "fuzz/corpus/${target}" ] && echo "fuzz/corpus/${target}")
    rm -rf "${work}"
  else
    echo "atheris not installed: seeded mutation fuzzing instead" >&2
    python "fuzz/fuzz_${target}.py" --random $((seconds * 1000))
  fi
done
