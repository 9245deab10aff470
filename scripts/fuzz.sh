#!/usr/bin/env bash
# Runs every cargo-fuzz target of tests/fuzz/ (its invariants in tests/fuzz/src/, one module per
# target) for a fixed time each, one after the other, and prints one summary line per target:
# runs, executions per second, coverage, corpus size and findings. Exits non-zero when any target
# found something (a crash, a failed invariant, a timeout, an out-of-memory or a leak); the input
# is kept under tests/fuzz/artifacts/<target>/.
#
# Usage: scripts/fuzz.sh [SECONDS] [TARGET...]   (default: 60 seconds, every target)
# Needs the nightly toolchain (libFuzzer's instrumentation) and cargo-fuzz, which it installs
# from crates.io when missing. Unattended: no prompt, every run bounded by -max_total_time.
#
# The committed seeds (tests/fuzz/corpus/<target>/) are only read: libFuzzer writes what it
# finds into tests/fuzz/work/corpus/<target>/ (ignored by git, as are the logs beside it), which
# the next run starts from.
# A finding worth keeping after its fix goes into the seed folder, where plain `cargo test`
# replays it (tests/it/fuzz_corpus.rs).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-60}
shift || true
if ! [[ "$seconds" =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: scripts/fuzz.sh [SECONDS] [TARGET...]" >&2
  exit 2
fi

fuzz_dir=tests/fuzz
if ! cargo +nightly --version >/dev/null 2>&1; then
  echo "fuzz.sh: the nightly toolchain is missing (rustup toolchain install nightly)" >&2
  exit 2
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "installing: cargo-fuzz"
  cargo install --locked cargo-fuzz
fi

if [ $# -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(cargo +nightly fuzz list --fuzz-dir "$fuzz_dir")
fi

# The fuzz crate is its own workspace; starting from the server's lockfile makes it resolve the
# server's dependencies to the versions that ship (cargo keeps what the lockfile has and only
# adds libFuzzer's crates), so what is fuzzed is what is built.
cp Cargo.lock "$fuzz_dir/Cargo.lock"
echo "building ${#targets[@]} fuzz targets (release, AddressSanitizer)"
cargo +nightly fuzz build --fuzz-dir "$fuzz_dir" >/dev/null 2>&1 \
  || cargo +nightly fuzz build --fuzz-dir "$fuzz_dir"

# libFuzzer's output of the last run of each target, for a closer look at a finding.
logs="$fuzz_dir/work/logs"
mkdir -p "$logs"
summary=()
failed=0
for target in "${targets[@]}"; do
  work="$fuzz_dir/work/corpus/$target"
  artifacts="$fuzz_dir/artifacts/$target"
  log="$logs/$target.log"
  mkdir -p "$work" "$artifacts"
  before=$(find "$artifacts" -type f | wc -l)
  echo "fuzzing $target for ${seconds}s"
  # -timeout: one input taking 10 s is a finding (the server's own head timeout is 5 s);
  # -rss_limit_mb: far above what any target needs, far below the machine's memory;
  # -dict: the words of the format, where the target has a dictionary.
  options=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1)
  if [ -f "$fuzz_dir/dict/$target.dict" ]; then
    options+=(-dict="$fuzz_dir/dict/$target.dict")
  fi
  set +e
  cargo +nightly fuzz run --fuzz-dir "$fuzz_dir" "$target" "$work" "$fuzz_dir/corpus/$target" -- \
    "${options[@]}" >"$log" 2>&1
  status=$?
  set -e
  after=$(find "$artifacts" -type f | wc -l)
  findings=$((after - before))
  # libFuzzer's last status line: "#RUNS  DONE  cov: C ft: F corp: N/S ... exec/s: E rss: R".
  last=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
  runs=$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+).*/\1/p' "$log" | tail -1)
  runs=${runs:-$(sed -nE 's/^#([0-9]+).*/\1/p' <<<"$last")}
  rate=$(sed -nE 's/^stat::average_exec_per_sec: *([0-9]+).*/\1/p' "$log" | tail -1)
  rate=${rate:-$(sed -nE 's/.*exec\/s: ([0-9]+).*/\1/p' <<<"$last")}
  cov=$(sed -nE 's/.*cov: ([0-9]+).*/\1/p' <<<"$last")
  corp=$(sed -nE 's/.*corp: ([0-9]+).*/\1/p' <<<"$last")
  if [ "$status" -ne 0 ] && [ "$findings" -eq 0 ]; then
    # A failure that left no artifact (a build or setup error): show it, count it.
    findings=1
    echo "fuzz.sh: $target exited with $status without an artifact; its log ends with:" >&2
    tail -20 "$log" >&2
  fi
  if [ "$findings" -gt 0 ]; then
    failed=1
    echo "FINDING in $target:" >&2
    grep -E 'panicked at|ERROR: libFuzzer|SUMMARY|Test unit written' "$log" | head -10 >&2 || true
  fi
  summary+=("$(printf '%-16s %12s %9s %7s %7s %9s' "$target" "${runs:-?}" "${rate:-?}" \
    "${cov:-?}" "${corp:-?}" "$findings")")
done

echo
echo "fuzzing summary: ${seconds}s per target ($(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores)"
printf '%-16s %12s %9s %7s %7s %9s\n' target runs execs/s cov corpus findings
printf '%s\n' "${summary[@]}"
if [ "$failed" -ne 0 ]; then
  echo "fuzz.sh: findings above; inputs under $fuzz_dir/artifacts/, logs under $logs/" >&2
  exit 1
fi
