#!/usr/bin/env bash
# Runs the API locally: an in-memory DynamoDB (dynalite), the tables from template.yaml, a seeded
# demo tenant, and the Lambda function served over HTTP by `cargo lambda watch` on
# http://127.0.0.1:${PORT:-9000} (reloaded when the code changes). Ctrl-C stops everything.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

PORT="${PORT:-9000}"
trap stop_all EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

step "Tools"
ensure_tools

step "Local DynamoDB (dynalite)"
start_dynalite

step "Build (the function and the admin tool)"
cargo build --bin agent-overview --bin agent-overview-admin

step "Tables and demo data"
seed_demo

step "Serve the function on http://127.0.0.1:$PORT"
start_function "$PORT"
info "starting (log: .local/logs/function.log)"
wait_for_function "$PORT" 300

from="$DEMO_FROM"
to="$DEMO_TO"
step "Ready"
cat <<MSG
    The demo tenant has 90 days of conversations ($from .. $to). Try:

    curl -s -H 'X-Auth-Token: $DEMO_TOKEN' -H 'X-User-Id: $DEMO_USER_ID' \\
      'http://127.0.0.1:$PORT/api/v1/livechat/analytics/agent-overview?name=Total_conversations&from=$from&to=$to'

    Other figures: Avg_chat_duration, Total_messages, Avg_first_response_time,
    Best_first_response_time, Avg_response_time, Avg_reaction_time.
    Credentials: .local/demo-credentials. Function log: .local/logs/function.log.
    Ctrl-C stops the function and dynalite. The function's log follows.

MSG
tail -n 0 -f "$LOG_DIR/function.log" &
STARTED_PIDS+=("$!")
wait "$FUNCTION_PID"
