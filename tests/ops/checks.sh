# Sourced by the operations tests (tests/ops/*_test.sh). A test is a few
# checks; each passes, fails or is skipped with the reason it could not run,
# and is counted on its own: one line per check on stdout and, as
# "STATUS<TAB>NAME<TAB>REASON", in $TCPQ_CHECKS_FILE (set by CTest, added up
# by scripts/summarize_junit.py, like the integration tests' checks).
# With CI=true a skip is a failure: CI installs every tool the tests need
# (scripts/install-deps.sh), so a missing one there is a broken install.
# End the test with `checks_exit`.

checks_test=$(basename "$0" .sh)
checks_passed=0 checks_failed=0 checks_skipped=0
if [ -n "${TCPQ_CHECKS_FILE:-}" ]; then
  mkdir -p "$(dirname "$TCPQ_CHECKS_FILE")" && : >"$TCPQ_CHECKS_FILE"
fi

checks_record() {  # STATUS NAME REASON
  [ -n "${TCPQ_CHECKS_FILE:-}" ] || return 0
  printf '%s\t%s\t%s\n' "$1" "$2" "$(tr '\t\n' '  ' <<<"$3" | sed 's/ *$//')" >>"$TCPQ_CHECKS_FILE"
}

check_pass() {  # NAME
  echo "ok   $1"
  checks_passed=$((checks_passed + 1))
  checks_record pass "$1" ""
}

check_fail() {  # NAME [REASON]
  echo "FAIL $1${2:+: $2}"
  checks_failed=$((checks_failed + 1))
  checks_record fail "$1" "${2:-}"
}

check_skip() {  # NAME REASON: name what is missing
  if [ "${CI:-}" = true ]; then
    check_fail "$1" "CI=true forbids skipping: $2"
    return
  fi
  echo "SKIP $1: $2"
  checks_skipped=$((checks_skipped + 1))
  checks_record skip "$1" "$2"
}

check_run() {  # NAME COMMAND...: passes when COMMAND exits 0; its output on failure
  local name=$1 out
  shift
  if out=$("$@" 2>&1); then
    check_pass "$name"
  else
    [ -n "$out" ] && echo "$out"
    check_fail "$name" "$1 exited non-zero"
  fi
}

have() {  # TOOL: whether TOOL is on PATH
  command -v "$1" >/dev/null 2>&1
}

check_needs() {  # NAME TOOL:PACKAGE...: true when every TOOL is on PATH, else skips check NAME naming the missing ones
  local name=$1 missing=() t
  shift
  for t in "$@"; do
    have "${t%%:*}" || missing+=("${t%%:*} not found (Debian package ${t#*:})")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  check_skip "$name" "$(IFS=';'; echo "${missing[*]}" | sed 's/;/; /g')"
  return 1
}

checks_exit() {  # exit 1 if a check failed, 77 (CTest: skipped) if all were skipped
  echo "$checks_test: $checks_passed passed, $checks_failed failed, $checks_skipped skipped"
  if [ "$checks_failed" -gt 0 ]; then exit 1; fi
  if [ "$checks_passed" -eq 0 ] && [ "$checks_skipped" -eq 0 ]; then
    echo "FAIL $checks_test: no check ran"
    exit 1
  fi
  if [ "$checks_passed" -eq 0 ]; then exit 77; fi
  exit 0
}
