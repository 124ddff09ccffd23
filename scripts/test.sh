#!/usr/bin/env bash
# Installs dependencies, builds, and runs every test:
#   1. formatting check (clang-format, Google style)
#   2. release build (warnings are errors) + all tests: unit, integration
#      (real kernel, throwaway network namespaces), operations artifacts
#   3. ASan + UBSan build + unit and integration tests
#   4. libFuzzer build + a short run of every parser fuzz target
# Prints one summary line "summary: N passed, N failed, N skipped".
set -euo pipefail
cd "$(dirname "$0")/.."
fuzz_seconds=${TCPQ_FUZZ_SECONDS:-20}

scripts/install-deps.sh

echo "== clang-format"
mapfile -t sources < <(git ls-files '*.cc' '*.h' | grep -v '^tests/fixtures/')
clang-format --dry-run --Werror "${sources[@]}"

junit_files=()
run_ctest() {  # run_ctest BUILD_DIR NAME [ctest args...]
  local dir=$1 name=$2
  shift 2
  junit_files+=("$dir/$name.junit.xml")
  (cd "$dir" && ctest --output-on-failure -j 2 --output-junit "$name.junit.xml" "$@")
}

status=0
echo "== release build and tests"
scripts/build.sh build
run_ctest build release || status=1

echo "== ASan + UBSan build: unit and integration tests"
scripts/build.sh build-asan -DTCPQ_SANITIZE=ON
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
  run_ctest build-asan asan -E '^ops\.' || status=1

echo "== fuzz targets, ${fuzz_seconds}s each"
CC=clang CXX=clang++ scripts/build.sh build-fuzz -DTCPQ_FUZZ=ON -DBUILD_TESTING=OFF
fuzz_passed=0 fuzz_failed=0
for corpus in fuzz/corpus/*/; do
  target=$(basename "$corpus")
  work=$(mktemp -d)
  if build-fuzz/fuzz_"$target" -max_total_time="$fuzz_seconds" "$work" "$corpus" \
       > "build-fuzz/fuzz_$target.log" 2>&1; then
    fuzz_passed=$((fuzz_passed + 1))
    echo "fuzz_$target: $(grep -o 'Done [0-9]* runs' "build-fuzz/fuzz_$target.log")"
  else
    fuzz_failed=$((fuzz_failed + 1)) status=1
    tail -n 40 "build-fuzz/fuzz_$target.log"
  fi
  rm -rf "$work"
done

python3 scripts/summarize_junit.py "$fuzz_passed" "$fuzz_failed" "${junit_files[@]}"
exit $status
