#!/usr/bin/env bash
# Release-profile comparison (issue 11): builds the API function's release binary once per
# candidate profile (each in its own target dir under target/profiles/),
# then runs the benchmark's profile mode on all of them against one dynalite: binary size,
# INIT (wall and CPU) and the function's CPU per request on the heavy raw path. Writes
# bench/profiles.md and bench/profiles.json.
#
#   ./scripts/bench-profiles.sh                  # the candidates below
#   BEFORE=f624de7 ./scripts/bench-profiles.sh   # also the tree before the feature split
#   ./scripts/bench-profiles.sh --runs 9         # any option of the bench binary's profile mode
#
# Each candidate is a full release build of the tree (about 10 minutes on 2 quiet cores).
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

trap stop_all EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# name | opt-level | lto | what it is
CANDIDATES=(
  "release|3|thin|the release profile in Cargo.toml"
  "fat|3|fat|opt-level 3, fat LTO"
  "s-fat|s|fat|opt-level s, fat LTO"
  "z-fat|z|fat|opt-level z, fat LTO"
)

step "Tools"
ensure_tools

profile_args=()
for candidate in "${CANDIDATES[@]}"; do
  IFS='|' read -r name opt lto what <<<"$candidate"
  # Each in its own target dir: a binary left in target/release by a build with other
  # features (cargo bench, default features) is not replaced when cargo finds its own fresh.
  dir="target/profiles/$name"
  step "Release build: $name ($what)"
  CARGO_PROFILE_RELEASE_OPT_LEVEL="$opt" CARGO_PROFILE_RELEASE_LTO="$lto" \
    cargo build --release --locked --no-default-features --bin agent-overview --target-dir "$dir"
  profile_args+=(--profile "$name=$dir/release/agent-overview=$what")
done

if [[ -n "${BEFORE:-}" ]]; then
  # The tree before: its own checkout, built as it was deployed then (default features).
  step "Release build: before ($BEFORE, as deployed then)"
  before_src="target/profiles/before-src"
  rm -rf "$before_src"
  git worktree prune
  git worktree add --detach --force "$before_src" "$BEFORE" >/dev/null
  (cd "$before_src" && cargo build --release --locked --bin agent-overview --target-dir ../before)
  cp target/profiles/before/release/agent-overview target/profiles/before-agent-overview
  git worktree remove --force "$before_src"
  profile_args=(--profile "before=target/profiles/before-agent-overview=commit $BEFORE, its release profile (opt-level 3, thin LTO), default features" "${profile_args[@]}")
fi

step "dynalite (in memory, free port)"
DYNALITE_PORT="$(free_port)"
start_dynalite

step "Profile mode of the benchmark"
cargo bench --locked --bench agent_overview -- "${profile_args[@]}" "$@"

step "Done: bench/profiles.md, bench/profiles.json"
