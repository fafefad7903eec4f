//! Every function's INIT: a configuration it cannot read stops start-up with a message naming
//! the variable, logged as `bad configuration` (never a default in its place).

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::process::{Command, Output};

/// Runs a function's binary outside Lambda with only `vars` set, and returns its exit and logs.
fn init(binary: &str, vars: &[(&str, &OsStr)]) -> (Output, String) {
    let mut command = Command::new(binary);
    command
        .env_clear()
        .env("RUST_LOG", "info")
        .env("AWS_REGION", "us-east-1");
    for (name, value) in vars {
        command.env(name, value);
    }
    let out = command.output().expect("the binary runs");
    let logs =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out, logs)
}

fn tables() -> Vec<(&'static str, &'static OsStr)> {
    [
        ("SESSIONS_TABLE", "sessions"),
        ("DIRECTORY_TABLE", "directory"),
        ("CONVERSATIONS_TABLE", "conversations"),
        ("ROLLUPS_TABLE", "rollups"),
        (
            "SYNC_QUEUE_URL",
            "https://sqs.us-east-1.amazonaws.com/1/q.fifo",
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k, OsStr::new(v)))
    .collect()
}

/// A namespace that is not UTF-8 cannot be read; falling back to the default namespace would
/// publish the function's metrics where no alarm looks.
#[test]
fn every_function_stops_on_metric_settings_it_cannot_read() {
    let bad = OsStr::from_bytes(b"Agent\xffOverview");
    for binary in [
        env!("CARGO_BIN_EXE_agent-overview"),
        env!("CARGO_BIN_EXE_agent-overview-rollups"),
        env!("CARGO_BIN_EXE_agent-overview-reconcile"),
        env!("CARGO_BIN_EXE_agent-overview-sync"),
        env!("CARGO_BIN_EXE_agent-overview-sync-fanout"),
    ] {
        let mut vars = tables();
        vars.push(("METRICS_NAMESPACE", bad));
        let (out, logs) = init(binary, &vars);
        assert!(!out.status.success(), "{binary}: {logs}");
        assert!(
            logs.contains("bad configuration") && logs.contains("METRICS_NAMESPACE"),
            "{binary}: {logs}"
        );
    }
}

#[test]
fn the_fan_out_stops_without_its_queue() {
    let vars: Vec<_> = tables()
        .into_iter()
        .filter(|(k, _)| *k != "SYNC_QUEUE_URL")
        .collect();
    let (out, logs) = init(env!("CARGO_BIN_EXE_agent-overview-sync-fanout"), &vars);
    assert!(!out.status.success(), "{logs}");
    assert!(
        logs.contains("bad configuration") && logs.contains("SYNC_QUEUE_URL"),
        "{logs}"
    );
}

#[test]
fn the_sync_stops_on_an_invalid_lag_threshold() {
    let mut vars = tables();
    vars.push(("SYNC_LAG_ALARM_SECONDS", OsStr::new("-5")));
    let (out, logs) = init(env!("CARGO_BIN_EXE_agent-overview-sync"), &vars);
    assert!(!out.status.success(), "{logs}");
    assert!(
        logs.contains("bad configuration") && logs.contains("SYNC_LAG_ALARM_SECONDS"),
        "{logs}"
    );
}
