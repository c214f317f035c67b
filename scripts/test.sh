#!/usr/bin/env bash
# The project's test command; the README gives this same command (scripts/test.sh).
# Every suite runs against a private, throwaway Secret Service
# (see scripts/with-secret-service.sh). Add later suites to the list below.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/with-secret-service.sh cargo test --all-targets
