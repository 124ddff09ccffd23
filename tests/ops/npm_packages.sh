# Sourced by the tests that run the npm packages pinned in package.json
# (k8s_schema_test.sh, workflows_test.sh), from the repository root, with
# `test_name` set: skips (exit 77) without a usable node, and installs the
# pinned packages with `npm ci` when node_modules is missing or stale. One
# test at a time: ctest runs them in parallel, and npm ci replaces
# node_modules.

skip() { echo "SKIP $test_name: $*"; exit 77; }
command -v node >/dev/null 2>&1 || skip "node not found (Debian: apt-get install nodejs npm)"
command -v npm >/dev/null 2>&1 || skip "npm not found (Debian: apt-get install npm)"
node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" -ge 18 ] || skip "node $node_major is too old (need >= 18)"

exec 9<package-lock.json
flock 9
# npm ci writes node_modules/.package-lock.json: older than the lock file
# means someone changed the pins since the last install.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "$test_name: installing pinned npm packages (npm ci)"
  log=$(mktemp)
  # Network errors of the registry (npm's EIDLETIMEOUT included, and an
  # attempt that hangs): one retry, then the test cannot run. Two attempts of
  # at most 250 s stay inside CTest's 600 s. Anything else is a failure (a
  # lock file out of sync with package.json, a package gone).
  network='ENOTFOUND|EAI_AGAIN|ETIMEDOUT|EIDLETIMEOUT|ECONNREFUSED|ECONNRESET|ENETUNREACH|network'
  for attempt in 1 2; do
    timeout 250 nice npm ci --no-audit --no-fund --loglevel=error \
      --fetch-timeout=60000 >"$log" 2>&1
    status=$?
    [ "$status" -eq 0 ] && break
    [ "$status" -eq 124 ] && echo "ETIMEDOUT: npm ci took over 250 s" >>"$log"
    grep -v 'Unknown user config' "$log" | tail -20
    if ! grep -Eq "$network" "$log"; then
      rm -f "$log"
      echo "FAIL $test_name: npm ci failed"
      exit 1
    fi
    if [ "$attempt" -eq 2 ]; then
      rm -f "$log"; skip "npm ci could not reach the npm registry (twice)"
    fi
    echo "$test_name: npm registry unreachable, retrying once"
  done
  rm -f "$log"
fi
exec 9<&-
