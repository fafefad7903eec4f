//! The `agent-overview-admin` binary, run against the test's tables.

use std::process::{Command, Output};

use agent_overview::config::TableNames;

use crate::support::harness::{endpoint, region};

pub fn admin(names: &TableNames, args: &[&str]) -> Output {
    admin_command(names, args)
        .output()
        .expect("the admin binary runs")
}

/// `admin` with `input` on its stdin.
pub fn admin_with_stdin(names: &TableNames, args: &[&str], input: &str) -> Output {
    use std::io::Write;
    let mut child = admin_command(names, args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the admin binary runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("writes stdin");
    child.wait_with_output().expect("the admin binary ends")
}

pub fn admin_command(names: &TableNames, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_agent-overview-admin"));
    command
        .args(args)
        .env("SESSIONS_TABLE", &names.sessions)
        .env("DIRECTORY_TABLE", &names.directory)
        .env("CONVERSATIONS_TABLE", &names.conversations)
        .env("ROLLUPS_TABLE", &names.rollups)
        .env("BY_MONTH_INDEX", &names.by_month_index)
        .env(
            "BY_DEPARTMENT_MONTH_INDEX",
            &names.by_department_month_index,
        )
        .env("AWS_ENDPOINT_URL_DYNAMODB", endpoint())
        .env("AWS_REGION", region())
        .env("AWS_ACCESS_KEY_ID", "local")
        .env("AWS_SECRET_ACCESS_KEY", "local")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_SESSION_TOKEN");
    command
}
