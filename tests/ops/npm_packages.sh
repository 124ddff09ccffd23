# Sourced, after tests/ops/checks.sh and with `name` (the check) set, by the
# tests that run the npm packages pinned in package.json (k8s_schema_test.sh,
# workflows_test.sh), from the repository root: skips the check without a
# usable node, and installs the pinned packages with `npm ci` when
# node_modules is missing or stale. One test at a time: ctest runs them in
# parallel, and npm ci replaces node_modules.

check_needs "$name" node:nodejs npm:npm || checks_exit
node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 18 ]; then
  check_skip "$name" "node $node_major is too old (need >= 18; Debian 12's nodejs is 18)"
  checks_exit
fi

exec 9<package-lock.json
flock 9
# npm ci writes node_modules/.package-lock.json: older than the lock file
# means someone changed the pins since the last install.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "$checks_test: installing pinned npm packages (npm ci)"
  log=$(mktemp)
  # Network errors of the registry (npm's EIDLETIMEOUT included, and an
  # attempt that hangs): one retry, then the check cannot run. Two attempts of
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
      check_fail "$name" "npm ci failed (above)"
      checks_exit
    fi
    if [ "$attempt" -eq 2 ]; then
      rm -f "$log"
      check_skip "$name" "npm ci could not reach the npm registry (twice)"
      checks_exit
    fi
    echo "$checks_test: npm registry unreachable, retrying once"
  done
  rm -f "$log"
fi
exec 9<&-
