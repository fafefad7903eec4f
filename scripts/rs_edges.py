"""The edge rules of a Rust crate's `src/` (test.sh runs it; code inside `#[cfg(test)]` is skipped):
1. every binary but the admin tool (`src/main.rs`, `src/bin/*.rs`) is at most 30 lines of wiring;
2. environment variables are read only in `src/config.rs` (and the admin tool's token variable,
   read in `src/bin/admin.rs`);
3. the wall clock (`Utc::now`, `Local::now`, `SystemTime::now`, `system_clock()`) is read only at
   the edge: the binaries, `src/functions/mod.rs` (the functions' INIT) and `src/domain/clock.rs`.
   `Instant::now` is not the wall clock: it measures durations and deadlines, never a date;
4. every binary uses the one SDK configuration (an SDK configuration is loaded only in
   `src/dynamo/client.rs`'s `sdk_config`) and the DynamoDB client is built in one function
   (`dynamo::client`, which adds the capacity meter);
5. no configuration error is swallowed (`from_env().unwrap_or_default()`);
6. BatchGetItem is called only in `src/dynamo/batch_get.rs`, whose retry of unprocessed keys is
   bounded;
7. `src/domain/` is pure: it imports nothing of the crate outside `domain`, and no AWS SDK;
8. the DynamoDB boundary: only `src/dynamo/` names `aws_sdk_dynamodb` or `AttributeValue` (the
   binaries' wiring and `src/admin/tables.rs`, which creates the local tables, aside);
9. the boundary imports nothing above it: `src/dynamo/` uses only `domain`, `config`, `telemetry`
   and itself;
10. the rollup engine (`src/rollups/`) imports nothing of the request path above it or of the
   sync: not `store`, `http`, `functions`, `sync`, `reconcile` or `admin`.
usage: rs_edges.py SRC_DIR  -> prints each breach; exit 1 if any."""
import os, re, sys

MAX_BINARY_LINES = 30
ENV_ALLOWED = {"config.rs", os.path.join("bin", "admin.rs")}
CLOCK_ALLOWED = {"main.rs", os.path.join("functions", "mod.rs"), os.path.join("domain", "clock.rs")}
ENV_READ = re.compile(r"\benv::var(_os)?\s*\(|\benv::vars(_os)?\s*\(")
SDK_CONFIG = re.compile(r"\baws_config::(load_defaults|load_from_env|from_env|defaults|ConfigLoader)\b|\bBehaviorVersion\b")
SDK_CONFIG_ALLOWED = {os.path.join("dynamo", "client.rs")}
DYNAMO_CLIENT = re.compile(r"\bdynamodb::Client::(new|from_conf)\s*\(")
BARE_CLIENT = re.compile(r"(?<![:\w])Client::(new|from_conf)\s*\(")
IMPORTS_DYNAMO_CLIENT = re.compile(r"use aws_sdk_dynamodb::(Client\b|\{[^}]*\bClient\b)")
DYNAMO_CLIENT_ALLOWED = {os.path.join("dynamo", "client.rs")}
NAMES_SDK = re.compile(r"\baws_sdk_dynamodb\b|\bAttributeValue\b")
NAMES_SDK_ALLOWED = {os.path.join("admin", "tables.rs")}
DYNAMO_EDGE = re.compile(r"\bcrate::(?!(domain|config|telemetry|dynamo)\b)\w+")
ROLLUPS_EDGE = re.compile(r"\bcrate::(store|http|functions|sync|reconcile|admin)\b")
DOMAIN_EDGE = re.compile(r"\bcrate::(?!domain\b)\w+|\baws_sdk_\w+|\baws_config\b")
BATCH_GET = re.compile(r"\.batch_get_item\s*\(")
BATCH_GET_ALLOWED = {os.path.join("dynamo", "batch_get.rs")}
WALL_CLOCK = re.compile(r"\b(Utc|Local)::now\s*\(|\bSystemTime::now\s*\(|\bsystem_clock\s*\(")

src = sys.argv[1]
breaches = []
for root, _, files in os.walk(src):
    for f in sorted(files):
        if not f.endswith(".rs"):
            continue
        path = os.path.join(root, f)
        rel = os.path.relpath(path, src)
        text = open(path).read()
        code = text.split("#[cfg(test)]")[0]
        is_binary = rel == "main.rs" or rel.startswith("bin" + os.sep)
        # The admin tool (src/bin/admin.rs and its modules under src/bin/admin/) is exempt.
        is_admin_tool = rel == os.path.join("bin", "admin.rs") or rel.startswith(os.path.join("bin", "admin") + os.sep)
        if is_binary and not is_admin_tool:
            lines = text.count("\n")
            if lines > MAX_BINARY_LINES:
                breaches.append(f"{rel}: {lines} lines; a binary is at most {MAX_BINARY_LINES} lines of wiring (move the logic into src/functions/)")
        for n, line in enumerate(code.splitlines(), 1):
            stripped = line.lstrip()
            if stripped.startswith("//"):
                continue
            if ENV_READ.search(line) and rel not in ENV_ALLOWED:
                breaches.append(f"{rel}:{n}: reads an environment variable outside config.rs: {stripped}")
            if WALL_CLOCK.search(line) and not (is_binary or rel in CLOCK_ALLOWED):
                breaches.append(f"{rel}:{n}: reads the wall clock outside the edge (take `now` or a Clock): {stripped}")
            if re.search(r"from_env\(\)\s*\.unwrap_or_default\(\)", line):
                breaches.append(f"{rel}:{n}: a configuration error swallowed: {stripped}")
            if SDK_CONFIG.search(line) and rel not in SDK_CONFIG_ALLOWED:
                breaches.append(f"{rel}:{n}: its own SDK configuration (use dynamo::sdk_config()): {stripped}")
            builds_client = DYNAMO_CLIENT.search(line) or (IMPORTS_DYNAMO_CLIENT.search(code) and BARE_CLIENT.search(line))
            if builds_client and rel not in DYNAMO_CLIENT_ALLOWED:
                breaches.append(f"{rel}:{n}: builds an SDK client outside dynamo::client: {stripped}")
            if rel.startswith("domain" + os.sep) and DOMAIN_EDGE.search(line):
                breaches.append(f"{rel}:{n}: domain imports outside domain: {stripped}")
            if BATCH_GET.search(line) and rel not in BATCH_GET_ALLOWED:
                breaches.append(f"{rel}:{n}: its own BatchGetItem loop (use dynamo::batch_get::batch_get): {stripped}")
            in_dynamo = rel.startswith("dynamo" + os.sep)
            if NAMES_SDK.search(re.sub(r'"[^"]*"', '""', line)) and not (in_dynamo or is_binary or rel in NAMES_SDK_ALLOWED):
                breaches.append(f"{rel}:{n}: DynamoDB's SDK outside the boundary (move the call into src/dynamo/): {stripped}")
            if in_dynamo and DYNAMO_EDGE.search(line):
                breaches.append(f"{rel}:{n}: the DynamoDB boundary imports from above it: {stripped}")
            if rel.startswith("rollups" + os.sep) and ROLLUPS_EDGE.search(line):
                breaches.append(f"{rel}:{n}: the rollup engine imports from above it: {stripped}")
for b in breaches:
    print(b)
sys.exit(1 if breaches else 0)
