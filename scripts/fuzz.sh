#!/usr/bin/env bash
# Builds PETGAN's libFuzzer targets (Fuzz/) with -sanitize=fuzzer,address in their own build folder
# (.build-fuzz, so the release build is untouched) and runs each of them:
#   scripts/fuzz.sh runs 1000000     # `make fuzz`: at least 10^6 executions per target
#   scripts/fuzz.sh time 60          # `make fuzz-smoke` (part of `make test`): 60 s per target
#   scripts/fuzz.sh build            # only build
# Seeds: Tests/Fixtures/fuzz/<target>/ (read only); inputs the fuzzer finds interesting go to
# .build-fuzz/corpus/<target>/. Any crash, sanitizer report, timeout or out-of-memory stops the run,
# leaves the input in .build-fuzz/crashes/ and makes this script (and make) fail. Add such an input
# to Tests/Fixtures/fuzz/crashes/ and a test in Tests/PETFuzzingTests.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-build}; amount=${2:-}
SWIFT=${SWIFT:-swift}
targets=(nifti:FuzzNIfTI store:FuzzStore config:FuzzConfig)
# gold (the default linker) fails on the sanitizer runtime's debug info; lld ships with Swift.
flags=(-c release --scratch-path .build-fuzz -Xswiftc -sanitize=fuzzer,address
       -Xswiftc -Xclang-linker -Xswiftc -fuse-ld=lld)
start=$(date +%s)
for t in "${targets[@]}"; do
  PETGAN_FUZZ=1 "$SWIFT" build "${flags[@]}" --product "${t#*:}"
done
echo "fuzz: sanitizer build $(( $(date +%s) - start )) s"
[ "$mode" = build ] && exit 0
case "$mode" in
  runs) limit=(-runs="${amount:-1000000}") ;;
  time) limit=(-max_total_time="${amount:-60}") ;;
  *) echo "usage: $0 runs N | time SECONDS | build" >&2; exit 2 ;;
esac
mkdir -p .build-fuzz/crashes
# Swift's own crash reporter would hang under ASan; leaks are not crashes (Foundation and libhdf5
# keep caches), so leak checking is off; malloc/RSS limits catch runaway allocations.
export SWIFT_BACKTRACE=enable=no
status=0
for t in "${targets[@]}"; do
  name=${t%%:*}; exe=.build-fuzz/release/${t#*:}
  mkdir -p ".build-fuzz/corpus/$name"
  dict=(); [ -f "Tests/Fixtures/fuzz/$name.dict" ] && dict=(-dict="Tests/Fixtures/fuzz/$name.dict")
  log=".build-fuzz/fuzz-$name.log"
  echo "fuzz: $name (${limit[*]}) ..."
  if "$exe" "${limit[@]}" "${dict[@]}" -detect_leaks=0 -rss_limit_mb=3072 -malloc_limit_mb=3072 -timeout=30 \
       -max_len=16384 -print_final_stats=1 -artifact_prefix=".build-fuzz/crashes/$name-" \
       ".build-fuzz/corpus/$name" "Tests/Fixtures/fuzz/$name" > "$log" 2>&1; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log"); rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
    echo "fuzz: $name: $runs executions, $rate exec/s, no crash"
  else
    status=1
    echo "fuzz: $name: FAILED, see $log; input saved as:" >&2
    grep -E "^artifact_prefix|Test unit written|ERROR|Fatal error|SUMMARY" "$log" | head -8 >&2
  fi
done
exit $status
