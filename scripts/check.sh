#!/usr/bin/env bash
# Every test asset_gate has, from a fresh Debian machine: dependencies, build, lint, unit tests
# (plain and under ASan/UBSan), integration tests against real nginx and Redis, the
# contract's conformance slice when ../shared/conformance exists, and the fuzzers briefly.
# Fails loudly on the first failing step.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "dependencies"
scripts/install-deps.sh

step "build the module (Debian's recipe against /usr/share/nginx/src)"
make module

step "lint: cppcheck and clang-tidy over src/core, src/ngx, src/tools (any finding fails)"
make lint

step "load check: /usr/sbin/nginx -t with the module"
scripts/nginx-load-check.sh build/ngx_http_asset_gate_module.so

step "unit tests"
make unit

step "unit tests under AddressSanitizer + UndefinedBehaviorSanitizer"
make unit-san

step "integration tests (real nginx, real redis-server)"
make integration

step "conformance slice"
if [ -d ../shared/conformance ]; then
    /usr/bin/python3 -m pytest ../shared/conformance -q
else
    echo "../shared/conformance is absent: skipped"
fi

step "the demo answers every link it prints as it says"
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
DEMO_PORT=$(free_port) DEMO_REDIS_PORT=$(free_port) scripts/demo.sh --check

step "fuzzers (${FUZZ_SECONDS:-30} s each)"
make fuzz FUZZ_SECONDS="${FUZZ_SECONDS:-30}"

echo
echo "check: all steps passed"
