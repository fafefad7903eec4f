#!/usr/bin/env bash
# Everything CI runs (.ci/run calls this): formatting, lints, unit and integration tests against
# an in-memory DynamoDB (dynalite), a smoke test of the function served by `cargo lambda watch`
# (with Schemathesis fuzzing openapi.yaml against it), the SAM template's lint and checkov's scan. Stops at the first failure; leaves no process behind.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

STARTED_AT=$SECONDS
CURRENT_STEP=""
PASSED=()
on_exit() {
  local rc=$?
  stop_all
  if ((rc != 0)) && [[ -n "$CURRENT_STEP" ]]; then
    printf '\n\033[31mFAILED\033[0m in step %s after %ds (logs: .local/logs/)\n' "$CURRENT_STEP" $((SECONDS - STARTED_AT)) >&2
  fi
  exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# begin LABEL TITLE: a new step (LABEL for the summary line).
begin() {
  [[ -n "$CURRENT_STEP" ]] && PASSED+=("$CURRENT_STEP")
  CURRENT_STEP="$1"
  step "$2"
}

# check_status NAME EXPECTED_CODE BODY_SUBSTRING CURL_ARGS...
check_status() {
  local name="$1" expected="$2" needle="$3" out code body
  shift 3
  out="$(curl -s --max-time 60 -w '\n%{http_code}' "$@")" || die "$name: curl failed"
  code="${out##*$'\n'}"
  body="${out%$'\n'*}"
  [[ "$code" == "$expected" && "$body" == *"$needle"* ]] ||
    die "$name: expected HTTP $expected with '$needle', got $code: $body"
  info "ok: $name -> $code ${body:0:120}"
}

# invoke_event FILE EXPECTED_SUBSTRING: sends an event file to the running function.
invoke_event() {
  local file="$1" needle="$2" out
  out="$(timeout 120 cargo lambda invoke agent-overview --invoke-address 127.0.0.1 \
    --invoke-port "$FUNCTION_PORT" --data-file "$file" 2>&1)" || die "cargo lambda invoke $file failed: $out"
  [[ "$out" == *"$needle"* ]] || die "$file: expected '$needle' in: $out"
  info "ok: $file -> ${out:0:120}"
}

# fuzz_api PORT: Schemathesis (tests/schemathesis/) fuzzes openapi.yaml against the function on
# PORT as the demo manager: every check, a fixed seed, bounded examples; any failure fails.
fuzz_api() {
  local port="$1" started=$SECONDS
  st --config-file tests/schemathesis/schemathesis.toml run openapi.yaml \
    --url "http://127.0.0.1:$port" \
    -H "X-Auth-Token: $DEMO_TOKEN" -H "X-User-Id: $DEMO_USER_ID" \
    --no-color >"$LOG_DIR/schemathesis.log" 2>&1 ||
    die "Schemathesis found failures: $(tail -n 60 "$LOG_DIR/schemathesis.log")"
  info "ok: Schemathesis, $(grep -E '[0-9]+ generated' "$LOG_DIR/schemathesis.log" | tail -n 1 | xargs) in $((SECONDS - started)) s (log: .local/logs/schemathesis.log)"
}

begin tools "Tools"
ensure_tools
if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
  command -v rustup >/dev/null || die "cargo fmt and cargo clippy are required (rustfmt, clippy)"
  rustup component add rustfmt clippy
fi

# scripts/env.sh is for users' shells: it may only export variables (no function, no exit).
env -i HOME="$HOME" PATH="$PATH" bash -c 'source scripts/env.sh && [[ -z "$(declare -F)" ]]' ||
  die "sourcing scripts/env.sh must define no function"

begin fmt "Format (cargo fmt --check)"
cargo fmt --all -- --check
# No import cycle among src files (a rough reading of `use crate::…`/`super::…` paths).
python3 scripts/rs_cycles.py src >/dev/null || die "import cycle among src files: $(python3 scripts/rs_cycles.py src)"
# The functions' shape: binaries of 30 lines of wiring, env vars read in config.rs, the wall clock
# read at the edge, one SDK configuration, one DynamoDB client builder (scripts/rs_edges.py).
python3 scripts/rs_edges.py src >/dev/null || die "src breaks an edge rule:
$(python3 scripts/rs_edges.py src)"
# No src file over 500 lines of code before its tests (scripts/rs_sizes.py).
python3 scripts/rs_sizes.py src >/dev/null || die "src files over the size limit:
$(python3 scripts/rs_sizes.py src)"
# Tests you can find: test modules under tests/it import only from tests/it/support, and no fn
# name in src/ or tests/ cites a tracker number.
python3 scripts/test_names.py tests/it src tests >/dev/null ||
  die "test layout or names: $(python3 scripts/test_names.py tests/it src tests)"

begin clippy "Lints (cargo clippy -D warnings)"
cargo clippy --all-targets --locked -- -D warnings

# The Lambda functions are built without default features (`cargo lambda build`, `sam build`):
# that build must compile, lint clean and carry none of the admin tool's crates.
begin lambda-build "Lambda build: no default features, no CLI crates in the tree"
cargo clippy --lib --bins --locked --no-default-features -- -D warnings
cli_crates="$(cargo tree --locked -e normal --no-default-features --prefix none |
  grep -E '^(clap|indicatif|serde_norway|aws-sdk-sso|aws-sdk-ssooidc|hyper v0\.14|rustls v0\.21) ' | sort -u || true)"
[[ -z "$cli_crates" ]] || die "the Lambda build's dependency tree has: $cli_crates (CLI-only crates are
optional, enabled by the admin feature; AWS SDK crates take default-features = false,
features = [\"default-https-client\", \"rt-tokio\"]: their default \`rustls\` adds hyper 0.14/rustls 0.21)"

begin tests "Unit and integration tests (cargo test, against dynalite and moto)"
DYNALITE_PORT="$(free_port)"
start_dynalite
start_moto
cargo test --locked
stop_pid "$MOTO_PID"
stop_pid "$DYNALITE_PID"

begin smoke "Smoke test: the served function, seeded like run-local.sh"
DYNALITE_PORT="$(free_port)"
start_dynalite
cargo build --locked --bin agent-overview --bin agent-overview-admin
seed_demo
FUNCTION_PORT="$(free_port)"
start_function "$FUNCTION_PORT" --ignore-changes
wait_for_function "$FUNCTION_PORT" 300
url="http://127.0.0.1:$FUNCTION_PORT/api/v1/livechat/analytics/agent-overview?name=Total_conversations&from=$DEMO_FROM&to=$DEMO_TO"
check_status "demo request" 200 '"success":true' \
  -H "X-Auth-Token: $DEMO_TOKEN" -H "X-User-Id: $DEMO_USER_ID" "$url"
check_status "request without credentials" 401 '"status":"error"' "$url"
invoke_event events/warmup.json ""
invoke_event events/http-api-agent-overview.json '"statusCode":200'
invoke_event events/rest-api-agent-overview.json '"statusCode":200'
fuzz_api "$FUNCTION_PORT"
stop_all

begin template "Template (sam validate --lint, checkov)"
sam validate --lint --template template.yaml
# Fails on any failed check: each check that does not fit is skipped in template.yaml itself
# (Metadata: checkov: skip), with its reason. --skip-download: no rules or mappings fetched.
"$VENV_DIR/checkov/bin/checkov" --file template.yaml --framework cloudformation --compact --quiet \
  --skip-download

PASSED+=("$CURRENT_STEP")
CURRENT_STEP=""
step "PASSED: ${PASSED[*]} ($((SECONDS - STARTED_AT)) s)"
