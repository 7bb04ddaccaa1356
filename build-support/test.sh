#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs the real tools the tests drive
# (dvc 3 and 2, SeaweedFS) into target/test-tools, then runs every test.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
build-support/install-test-tools.sh >/dev/null
export DVC_BUILD_TEST_TOOLS="$root/target/test-tools"
cargo test --all-features --locked "$@"
