#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan + UBSan) and runs every one for
# TCPQ_FUZZ_SECONDS (default 60) from its committed corpus fuzz/corpus/<name>/,
# as many at a time as there are cores. A crash, a leak, a timeout or an
# out-of-memory fails the target; its reproducer is kept in build-fuzz/.
# Prints one line per target and writes "PASSED FAILED" to build-fuzz/fuzz.counts.
#   scripts/fuzz.sh            (called by scripts/test.sh as its own step)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${TCPQ_FUZZ_SECONDS:-60}

run_target() {  # run_target NAME: exit status of the fuzzer
  local target=$1 work
  work=$(mktemp -d)
  # New inputs go to the scratch directory: the committed corpus stays as is.
  local status=0
  build-fuzz/fuzz_"$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=1024 \
    -artifact_prefix="build-fuzz/fuzz_$target-" "$work" "fuzz/corpus/$target" \
    > "build-fuzz/fuzz_$target.log" 2>&1 || status=$?
  rm -rf "$work"
  return $status
}

targets=()
for corpus in fuzz/corpus/*/; do targets+=("$(basename "$corpus")"); done
# Only the fuzz targets: the exporter itself is built and tested elsewhere.
# RelWithDebInfo: -g for the stack trace of a crash.
CC=clang CXX=clang++ scripts/build.sh build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DTCPQ_FUZZ=ON -DBUILD_TESTING=OFF \
  -- "${targets[@]/#/fuzz_}"

declare -A pids
for target in "${targets[@]}"; do
  # At most one fuzzer per core.
  while [ "$(jobs -rp | wc -l)" -ge "$(nproc)" ]; do wait -n || true; done
  run_target "$target" &
  pids[$target]=$!
done

passed=0 failed=0
for target in "${targets[@]}"; do
  if wait "${pids[$target]}"; then
    passed=$((passed + 1))
    echo "fuzz_$target: $(grep -o 'Done [0-9]* runs in [0-9]* second(s)' "build-fuzz/fuzz_$target.log")"
  else
    failed=$((failed + 1))
    echo "fuzz_$target: FAILED"
    tail -n 40 "build-fuzz/fuzz_$target.log"
  fi
done
echo "$passed $failed" > build-fuzz/fuzz.counts
[ "$failed" -eq 0 ]
