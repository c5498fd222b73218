#!/usr/bin/env bash
# Every test asset_gate has, on the machine it runs on or in a Debian release's root:
#
#     scripts/check.sh                      this machine (Debian 12): dependencies, build, lint,
#                                           unit tests (plain and under ASan/UBSan), integration
#                                           tests against real nginx and Redis, the contract's
#                                           conformance slice, the demo, the fuzzers briefly
#     scripts/check.sh --dist trixie        Debian 13 in a root (scripts/dist-root.sh): build
#                                           with -Werror against its nginx-dev, unit tests,
#                                           integration against redis-server and valkey-server,
#                                           conformance, the .deb
#     scripts/check.sh --dist forky         Debian testing: the same (valkey-server if it has it)
#     scripts/check.sh --dist forky-upstream  nginx built from pristine upstream source
#                                           --with-compat in the forky root: build, unit,
#                                           integration, conformance (no .deb: not Debian's nginx)
#     scripts/check.sh --dist all           the three legs, then a table of them
#     scripts/check.sh --summary LEG...     the table of legs already run (.ci/run prints it)
#
# Each step prints its time, each leg its total; build/check/LEG.result keeps the leg's
# outcome. A leg stops at the first failing step and exits 1 naming it. The forky-upstream leg
# exits 77, NOT RUN, when no pristine nginx source is reachable (scripts/dist-nginx-upstream.sh
# says what it tried); --dist all exits 0 when every leg that ran passed.
set -euo pipefail
cd "$(dirname "$0")/.."
LEGS_ALL=(trixie forky forky-upstream)
RESULTS=build/check
mkdir -p "$RESULTS"

now() { date +%s; }
T0=$(now)
LEG=host
STEPS=()   # "seconds<TAB>step" of the steps run so far
NOTES=()   # test counts, for the leg's result

# The leg's outcome, one line: LEG, PASS|FAIL|NOT RUN, seconds, detail.
record() {
    printf '%s\t%s\t%s\t%s\n' "$LEG" "$1" "$(($(now) - T0))" "$2" > "$RESULTS/$LEG.result"
}

steps_table() {
    local s
    printf '\n==> [%s] steps:\n' "$LEG"
    for s in "${STEPS[@]}"; do printf '    %6s s  %s\n' "${s%%$'\t'*}" "${s#*$'\t'}"; done
}

# step NAME CMD...: runs CMD, prints and keeps its time; a failure ends the leg naming the step.
step() {
    local name=$1 t rc=0
    shift
    printf '\n==> [%s] %s\n' "$LEG" "$name"
    t=$(now)
    "$@" || rc=$?
    t=$(($(now) - t))
    STEPS+=("$t"$'\t'"$name")
    printf '==> [%s] %s: %s s\n' "$LEG" "$name" "$t"
    [ "$rc" -eq 0 ] && return 0
    steps_table
    if [ "$rc" -eq 77 ] && [ "$LEG" = forky-upstream ]; then
        local why
        why=$(grep -h -m1 -o 'NOT RUN: .*' "$RESULTS/$LEG.step.log" 2>/dev/null || echo "NOT RUN: no pristine nginx source")
        record "NOT RUN" "${why#NOT RUN: }"
        printf '\ncheck: [%s] %s (%s s); nothing failed that this code can fix\n' "$LEG" "$why" "$(($(now) - T0))"
        exit 77
    fi
    record FAIL "step failed: $name (exit $rc)"
    printf '\ncheck: [%s] FAILED at step "%s" (exit %s) after %s s\n' "$LEG" "$name" "$rc" "$(($(now) - T0))" >&2
    exit 1
}

# logged LOG CMD...: CMD with its output also in LOG (for the counts and NOT RUN reasons)
logged() {
    local log=$1
    shift
    set +e
    "$@" 2>&1 | tee "$log"
    local rc=${PIPESTATUS[0]}
    set -e
    return "$rc"
}

# count LOG: pytest's or googletest's last summary in LOG ("698 passed, 3 skipped")
count() {
    local c
    c=$(grep -E '^=*[ ]*[0-9]+ (passed|failed|error)' "$1" | tail -1 | sed 's/=//g; s/ in [0-9.]*s.*//; s/^ *//; s/ *$//')
    [ -n "$c" ] || c=$(grep -oE '^\[  PASSED  \] [0-9]+ tests?' "$1" | tail -1 | sed 's/.*\] //; s/$/ passed/')
    echo "${c:-?}"
}

leg_done() {
    steps_table
    record PASS "$(IFS=';'; echo "${NOTES[*]}" | sed 's/;/; /g')"
    printf '\ncheck: [%s] all steps passed in %s s\n' "$LEG" "$(($(now) - T0))"
}

summary() {
    local leg line status secs detail bad=0
    printf '\n%-16s %-8s %8s  %s\n' leg result time detail
    printf '%-16s %-8s %8s  %s\n' ---------------- -------- -------- ------
    for leg in "$@"; do
        if [ -f "$RESULTS/$leg.result" ]; then
            IFS=$'\t' read -r _ status secs detail < "$RESULTS/$leg.result"
        else
            status=FAIL secs=- detail="no result recorded (the leg did not finish)"
        fi
        [ "$secs" = - ] || secs=$(printf '%dm%02ds' $((secs / 60)) $((secs % 60)))
        printf '%-16s %-8s %8s  %s\n' "$leg" "$status" "$secs" "$detail"
        [ "$status" = FAIL ] && bad=1
    done
    return "$bad"
}

# --- one Debian leg in a root ------------------------------------------------------------------
dist_leg() {
    LEG=$1
    local dist=${LEG%-upstream} log
    rm -f "$RESULTS/$LEG.result"
    log=$RESULTS/$LEG.step.log
    # The S3 tests' object store runs from t/s3/node_modules, which npm installs on this host.
    if [ ! -x t/s3/node_modules/.bin/s3rver ]; then
        step "host: dependencies (npm for the S3 tests' s3rver)" scripts/install-deps.sh
    fi
    step "root: Debian $dist (scripts/dist-root.sh; cached under build/dist)" scripts/dist-root.sh "$dist"
    if [ "$LEG" = forky-upstream ]; then
        step "nginx from pristine upstream source --with-compat (scripts/dist-nginx-upstream.sh)" \
            logged "$log" scripts/dist-nginx-upstream.sh "$dist"
        grep -E '^(nginx [0-9]|dist-nginx-upstream: nginx )' "$log" | tail -1 | sed 's/^/    /' || true
    fi
    step "module (-Werror) and unit tests (scripts/dist-build.sh)" \
        logged "$log" scripts/dist-build.sh "$dist" --leg "$LEG"
    NOTES+=("unit $(count "$log")")
    step "the module was compiled with -Werror" werror_in "build/$LEG/nginx/Makefile"

    local servers=(redis)
    [ "$LEG" = forky-upstream ] || [ ! -x "build/dist/$dist/usr/bin/valkey-server" ] || servers+=(valkey)
    local srv
    for srv in "${servers[@]}"; do
        step "integration suite against $srv-server" logged "$log" \
            scripts/dist-test.sh "$dist" --leg "$LEG" --server "$srv" -- \
            t/integration -q --durations=10 --ignore=t/integration/test_deb.py
        NOTES+=("integration/$srv $(count "$log")")
    done
    if [ -d ../shared/conformance ]; then
        step "conformance slice (../shared/conformance)" logged "$log" \
            scripts/dist-test.sh "$dist" --leg "$LEG" --log conformance -- ../shared/conformance -q
        NOTES+=("conformance $(count "$log")")
    else
        echo "check: ../shared/conformance is absent: skipped"
        NOTES+=("conformance absent")
    fi
    if [ "$LEG" != forky-upstream ]; then
        step "the .deb: make deb, dpkg -i, nginx-abi dependency, modules-enabled, purge" logged "$log" \
            scripts/dist-test.sh "$dist" --leg "$LEG" --log deb -- t/integration/test_deb.py -v
        NOTES+=("deb $(count "$log"), $(dpkg-deb -f build/deb/libnginx-mod-http-asset-gate_*.deb Depends | grep -oE 'nginx-abi-[^ ,]+')")
    fi
    leg_done
}

werror_in() {
    if grep -qE '^CFLAGS = .*-Werror( |$)' "$1"; then
        echo "CFLAGS in $1 have -Werror"
    else
        echo "check: $1 has no -Werror in CFLAGS" >&2
        return 1
    fi
}

case "${1:-}" in
    --summary)
        shift
        summary "$@"
        exit $?
        ;;
    --dist)
        case "${2:-}" in
            all)
                rc=0
                for l in "${LEGS_ALL[@]}"; do
                    r=0
                    "$0" --dist "$l" || r=$?
                    [ "$r" -eq 0 ] || [ "$r" -eq 77 ] || rc=1
                done
                summary "${LEGS_ALL[@]}" || rc=1
                printf 'check: --dist all: %s s\n' "$(($(now) - T0))"
                exit "$rc"
                ;;
            trixie | forky | forky-upstream) dist_leg "$2"; exit 0 ;;
            *) echo "usage: $0 [--dist trixie|forky|forky-upstream|all | --summary LEG...]" >&2; exit 2 ;;
        esac
        ;;
    "") ;;
    *) echo "usage: $0 [--dist trixie|forky|forky-upstream|all | --summary LEG...]" >&2; exit 2 ;;
esac

# --- this machine (Debian 12) ------------------------------------------------------------------
rm -f "$RESULTS/host.result"
log=$RESULTS/host.step.log

step "dependencies" scripts/install-deps.sh
step "build the module (Debian's recipe against /usr/share/nginx/src)" make module
step "the module was compiled with -Werror" werror_in build/nginx/Makefile
step "lint: cppcheck and clang-tidy over src/core, src/ngx, src/tools (any finding fails)" make lint
step "load check: /usr/sbin/nginx -t with the module" \
    scripts/nginx-load-check.sh build/ngx_http_asset_gate_module.so
step "unit tests" logged "$log" make unit
NOTES+=("unit $(count "$log")")
step "unit tests under AddressSanitizer + UndefinedBehaviorSanitizer" make unit-san
step "integration tests (real nginx, real redis-server; the .deb in test_deb.py)" \
    logged "$log" make integration
NOTES+=("integration $(count "$log")")

conformance() {
    if [ -d ../shared/conformance ]; then
        /usr/bin/python3 -m pytest ../shared/conformance -q
    else
        echo "../shared/conformance is absent: skipped"
    fi
}
step "conformance slice" logged "$log" conformance
NOTES+=("conformance $(count "$log")")

demo_check() {
    local p1 p2
    p1=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])') &&
        p2=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])') &&
        DEMO_PORT=$p1 DEMO_REDIS_PORT=$p2 scripts/demo.sh --check
}
step "the demo answers every link it prints as it says" demo_check
step "fuzzers (${FUZZ_SECONDS:-30} s each)" make fuzz FUZZ_SECONDS="${FUZZ_SECONDS:-30}"

leg_done
echo "check: all steps passed"
