# shellcheck shell=bash
# Points a shell at the local stack: `source scripts/env.sh` (in your shell, for the admin tool
# against a running ./scripts/run-local.sh) or from the scripts, through scripts/lib.sh.
# It only exports variables: every default of scripts/local.env not already set in the
# environment, fixed dummy credentials, and the SDK's standard DynamoDB endpoint. It defines no
# function and exits nothing, so sourcing it into an interactive shell is safe.

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# Every KEY=value line of local.env, unless KEY is already set (so the environment overrides).
while IFS='=' read -r _local_env_key _local_env_value; do
  [[ "$_local_env_key" =~ ^[A-Z_][A-Z0-9_]*$ ]] || continue
  [[ -n "${!_local_env_key:-}" ]] || export "$_local_env_key=$_local_env_value"
done <"$REPO_ROOT/scripts/local.env"
unset _local_env_key _local_env_value
export AWS_DEFAULT_REGION="$AWS_REGION"

# Credentials are fixed dummies on purpose: local runs never need, and never send, real ones.
export AWS_ACCESS_KEY_ID=local
export AWS_SECRET_ACCESS_KEY=local
unset AWS_SESSION_TOKEN AWS_PROFILE
export AWS_EC2_METADATA_DISABLED=true
# The SDK's standard variable: the code never knows it talks to a local DynamoDB.
export AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$DYNALITE_PORT"
