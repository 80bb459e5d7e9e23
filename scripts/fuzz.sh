#!/usr/bin/env bash
# Builds PETGAN's libFuzzer targets (Fuzz/) with -sanitize=fuzzer,address in their own build folder
# (.build-fuzz, so the release build is untouched) and runs each of them:
#   scripts/fuzz.sh runs 1000000     # `make fuzz`: at least 10^6 executions per target
#   scripts/fuzz.sh time 60          # `make fuzz-smoke` (part of `make test`): 60 s per target
#   scripts/fuzz.sh build            # only build
# Seeds: Tests/Fixtures/fuzz/<target>/ (read only); inputs the fuzzer finds interesting go to
# .build-fuzz/corpus/<target>/. Every crash, sanitizer report, timeout (10 s) or out-of-memory input
# is kept in .build-fuzz/crashes/<target>/ and classified (below); one in the project's code makes
# this script (and make) fail. Add such an input
# to Tests/Fixtures/fuzz/crashes/ and a test in Tests/PETFuzzingTests.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-build}; amount=${2:-}
SWIFT=${SWIFT:-swift}
targets=(nifti:FuzzNIfTI store:FuzzStore config:FuzzConfig)
# PETGAN_FUZZ_TARGETS="store config" runs only those; PETGAN_FUZZ_MAX_TIME=S also stops `runs` after S s.
if [ -n "${PETGAN_FUZZ_TARGETS:-}" ]; then
  all=("${targets[@]}"); targets=()
  for t in "${all[@]}"; do [[ " $PETGAN_FUZZ_TARGETS " == *" ${t%%:*} "* ]] && targets+=("$t"); done
fi
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
  runs) limit=(-runs="${amount:-1000000}"); [ -n "${PETGAN_FUZZ_MAX_TIME:-}" ] && limit+=(-max_total_time="$PETGAN_FUZZ_MAX_TIME") ;;
  time) limit=(-max_total_time="${amount:-60}") ;;
  *) echo "usage: $0 runs N | time SECONDS | build" >&2; exit 2 ;;
esac
mkdir -p .build-fuzz/crashes
# Swift's own crash reporter would hang under ASan; leaks are not crashes (Foundation and libhdf5
# keep caches), so leak checking is off; RSS above 3 GB is a finding. Single allocations up to 8 GB
# are allowed: the readers' caps (2^29 voxels) admit a 4 GB float64 slab, which a corrupt .nii.gz
# can declare (the pages are only touched as far as the stream really goes).
export SWIFT_BACKTRACE=enable=no
# PETGAN turns a crash inside libhdf5 into an error line (CHDF5/shim.h); here the sanitizer reports it.
export PETGAN_HDF5_CRASH_GUARD=0
export ASAN_OPTIONS="detect_leaks=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}"

# The first stack frame outside libc and the sanitizer/fuzzer runtime of a crash input's report.
# An input whose replay does not fail at all prints the marker "(not reproducible)" instead: replayed
# three times on its own it runs clean, so the crash came from state an earlier input of the same
# fuzzing process left behind (libhdf5 keeps free lists and caches across files), not from this input.
top_frame() {
  local out frame attempt
  for attempt in 1 2 3; do
    # A hang shows where it is once it passes the alarm; 2 s keeps the triage of many hangs short.
    if out=$("$1" -runs=1 -timeout=2 "$2" 2>&1); then continue; fi
    frame=$(printf '%s\n' "$out" | grep -E '^ +#[0-9]+ ' \
      | grep -vE 'libc\.so|sysdeps/|libclang_rt|compiler-rt|sanitizer|asan_|__interceptor|libFuzzer|fuzzer::' \
      | head -1 | sed -E 's/^ *#[0-9]+ 0x[0-9a-f]+ in //; s/ \(BuildId.*//; s/\+0x[0-9a-f]+//' || true)
    printf '%s' "$frame"; return
  done
  printf '(not reproducible)'
}
# A crash (or, for a timeout, the frame where it hung) whose first such frame is in libhdf5/libnifti/zlib is a bug of that C library on a corrupt
# file (docs/FUZZING.md); any other crash is the project's.
is_library() { printf '%s' "$1" | grep -qE 'libhdf5|libnifti|libniftiio|libznz|libz\.so'; }
# At most this many new crash inputs are re-run for classification (each re-run loads the target).
max_classify=${PETGAN_FUZZ_CLASSIFY:-200}

status=0
for t in "${targets[@]}"; do
  name=${t%%:*}; exe=.build-fuzz/release/${t#*:}
  mkdir -p ".build-fuzz/corpus/$name" ".build-fuzz/crashes/$name"
  dict=(); [ -f "Tests/Fixtures/fuzz/$name.dict" ] && dict=(-dict="Tests/Fixtures/fuzz/$name.dict")
  log=".build-fuzz/fuzz-$name.log"
  before=$(ls ".build-fuzz/crashes/$name" | wc -l)
  echo "fuzz: $name (${limit[*]}) ..."
  # Fork mode with crashes, timeouts and OOMs ignored, so that one inside a C library does not end
  # the run; every such input is kept and classified below, and a project one fails the run.
  set +e
  t0=$(date +%s)
  "$exe" "${limit[@]}" "${dict[@]}" -fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1 \
      -rss_limit_mb=3072 -malloc_limit_mb=8192 -timeout=10 -max_len=16384 -print_final_stats=1 \
      -artifact_prefix=".build-fuzz/crashes/$name/" ".build-fuzz/corpus/$name" "Tests/Fixtures/fuzz/$name" > "$log" 2>&1
  rc=$?
  set -e
  secs=$(( $(date +%s) - t0 ))
  # Fork mode's status lines give the total executions (its exec/s field is per job and reads 0).
  runs=$(grep -oE '^#[0-9]+' "$log" | tail -1 | tr -d '#'); rate=$(( ${runs:-0} / (secs > 0 ? secs : 1) ))
  lib=0; proj=0; res=0; irreproducible=0; unclassified=0; libframes=""
  new=$(ls -tr ".build-fuzz/crashes/$name" | tail -n +$((before + 1)))
  for c in $new; do
    f=".build-fuzz/crashes/$name/$c"
    # An input that only ran past the fuzzer's memory limit is a resource finding, not a crash: the
    # real binary refuses it with one error (it is kept and reported; docs/FUZZING.md).
    case "$c" in oom-*) res=$((res + 1)); echo "fuzz: $name: over the memory limit (not a crash, kept): $f"; continue ;; esac
    if [ $((lib + proj + irreproducible)) -ge "$max_classify" ]; then unclassified=$((unclassified + 1)); continue; fi
    frame=$(top_frame "$exe" "$f")
    if [ "$frame" = "(not reproducible)" ]; then
      irreproducible=$((irreproducible + 1))
      echo "fuzz: $name: crash not reproducible on its own (replayed 3 times, each ran clean; kept): $f"
      continue
    fi
    if is_library "$frame"; then lib=$((lib + 1)); libframes+="${c%%-*} in $frame"$'\n'; else
      proj=$((proj + 1)); echo "fuzz: $name: PROJECT CRASH $f (in ${frame:-?}):" >&2
      ("$exe" -runs=1 "$f" 2>&1 || true) | grep -E 'Fatal error|ERROR|SUMMARY' | head -4 >&2 || true
    fi
  done
  # The C-library crashes by the function that crashed (for docs/FUZZING.md).
  [ -n "$libframes" ] && printf '%s' "$libframes" | sort | uniq -c | sed "s/^/fuzz: $name: library crash: /"
  [ "$unclassified" -gt 0 ] && echo "fuzz: $name: $unclassified more crash input(s) not classified (PETGAN_FUZZ_CLASSIFY=$max_classify)"
  echo "fuzz: $name: ${runs:-?} executions in $secs s ($rate exec/s), $proj project crash(es), $lib crash(es) inside C libraries, $irreproducible not reproducible on their own, $res over the memory limit (libFuzzer status $rc)"
  if [ "$proj" -gt 0 ] || [ "$unclassified" -gt 0 ] || { [ "$rc" -ne 0 ] && [ "$lib" -eq 0 ] && [ "$res" -eq 0 ] && [ "$irreproducible" -eq 0 ]; }; then status=1; echo "fuzz: $name: FAILED (log $log)" >&2; fi
done
exit $status
