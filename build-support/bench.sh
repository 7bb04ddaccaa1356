#!/usr/bin/env bash
# Benchmarks dvc-build against the real `dvc`, side by side in one run.
#
#   build-support/bench.sh                 # every figure, 5 runs each
#   build-support/bench.sh --quick         # smoke run: small data, 1 run each
#   build-support/bench.sh --only big-local,pull-file --runs 7
#   build-support/bench.sh --list          # the figures and their targets
#
# Needs the reference tools (build-support/install-test-tools.sh puts them in
# target/test-tools; DVC_BUILD_TEST_TOOLS points elsewhere). The orchestration
# is build-support/bench.py; see its --help.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
exec python3 "$root/build-support/bench.py" "$@"
