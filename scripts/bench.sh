#!/usr/bin/env bash
# The benchmark (issue 5), one command: builds the function's release binary (and the arm64 one
# when cargo-lambda and zig are there), starts its own in-memory dynalite on a free port, runs
# `cargo bench --bench agent_overview`, which loads the tenants, measures and rewrites
# bench/README.md, bench/results.json and bench/latency-vs-range.svg. Stops what it started.
#
#   ./scripts/bench.sh                     # defaults: RUNS=5, 1k/10k/100k conversations
#   RUNS=20 ./scripts/bench.sh             # tighter percentiles, longer run
#   ARM64=0 ./scripts/bench.sh             # skip the arm64 build (its size only)
#   ./scripts/bench.sh --sizes 1000,10000  # any option of the bench binary (--help lists them)
#   ./scripts/bench.sh --scale             # issue 21: 1 M conversations over 10 years (~30 min),
#                                          # writes bench/scale.md, scale-results.json, README's
#                                          # scale section; then python3 bench/cost_model.py
#   ./scripts/bench.sh --scale --scale-size 20000   # the same pipeline, small
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

trap stop_all EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [[ "${1:-}" == --help || "${1:-}" == -h ]]; then
  exec cargo bench --locked --bench agent_overview -- --help
fi
RUNS="${RUNS:-5}"
ARM64="${ARM64:-1}"
SCALE=0
OUT=bench
prev=""
for arg in "$@"; do
  [[ "$arg" == --scale ]] && SCALE=1
  [[ "$prev" == --out ]] && OUT="$arg"
  [[ "$arg" == --out=* ]] && OUT="${arg#--out=}"
  prev="$arg"
done

step "Tools"
ensure_tools

if [[ "$SCALE" == 1 ]]; then
  # A million conversations and their two index entries live in dynalite's heap.
  export DYNALITE_HEAP_MB="${DYNALITE_HEAP_MB:-12288}"
  step "dynalite (in memory, free port, heap ${DYNALITE_HEAP_MB} MB)"
  DYNALITE_PORT="$(free_port)"
  start_dynalite
  export BENCH_DYNALITE_PID="$DYNALITE_PID"
  step "Scale benchmark (cargo bench --bench agent_overview -- --scale)"
  started=$SECONDS
  cargo bench --locked --bench agent_overview -- --runs "$RUNS" "$@"
  info "dynalite's peak RSS: $(grep VmHWM "/proc/$DYNALITE_PID/status" | tr -s ' ')"
  step "Cost model (bench/cost_model.py)"
  python3 bench/cost_model.py --results "$OUT/scale-results.json" --out "$OUT"
  step "Done in $((SECONDS - started)) s: $OUT/scale.md, scale-results.json, cost.md, cost-vs-range.svg"
  exit 0
fi

step "Release build of the function (size, cold start)"
# As deployed: without default features, like `cargo lambda build` (Cargo.toml's metadata).
cargo build --release --locked --no-default-features --bin agent-overview
# `cargo bench` below builds the binaries again, with default features: measure a copy.
mkdir -p target/bench-lambda
cp target/release/agent-overview target/bench-lambda/agent-overview
bench_args=(--runs "$RUNS" --lambda-binary target/bench-lambda/agent-overview)

if [[ "$ARM64" == 1 ]]; then
  step "arm64 build (cargo lambda build --release --arm64), for its size"
  if ! command -v zig >/dev/null && ! "$VENV_DIR/bin/python" -c 'import ziglang' 2>/dev/null; then
    info "installing zig from PyPI (ziglang) into .venv"
    "$VENV_DIR/bin/pip" install --quiet --disable-pip-version-check ziglang ||
      info "could not install ziglang"
  fi
  if cargo lambda build --release --arm64 --bin agent-overview >"$LOG_DIR/bench-arm64.log" 2>&1; then
    bench_args+=(--arm64-binary target/lambda/agent-overview/bootstrap)
  else
    info "arm64 build failed (log: .local/logs/bench-arm64.log); reporting the host size only"
    bench_args+=(--arm64-note "cargo lambda build --arm64 failed here: see .local/logs/bench-arm64.log")
  fi
else
  bench_args+=(--arm64-note "skipped (ARM64=0)")
fi

step "dynalite (in memory, free port)"
DYNALITE_PORT="$(free_port)"
start_dynalite
# The bench reads dynalite's CPU time per request from /proc.
export BENCH_DYNALITE_PID="$DYNALITE_PID"

step "Benchmark (cargo bench --bench agent_overview)"
cargo bench --locked --bench agent_overview -- "${bench_args[@]}" "$@"

step "Done: bench/README.md, bench/results.json, bench/latency-vs-range.svg"
