//! The two Rocket.Chat workspaces of `tests/fixtures/rocketchat-export/`, imported with the
//! importer into dynalite, answer every case of their `cases.json` through the handler.
//! The expected answers were computed independently of this code; they are not edited here.

use agent_overview::admin::import::{import_export, ImportOptions};

use crate::support::export::{fixture_dir, replay_cases};
use crate::support::harness;

async fn replay(folder: &str) {
    // Sessions are keyed by token hash alone: no other test may import this export meanwhile.
    let _exports = harness::exports_lock().await;
    let (client, names) = harness::ready().await;
    let tenant = harness::unique_tenant("rc");
    let options = ImportOptions {
        skip_malformed: false,
        show_progress: false,
        ..ImportOptions::at(chrono::Utc::now())
    };
    import_export(
        &client,
        &names,
        &harness::tid(&tenant),
        &fixture_dir(folder),
        &options,
    )
    .await
    .expect("the export imports cleanly");
    let failures = replay_cases(client, names, folder, |_| true).await;
    assert!(
        failures.is_empty(),
        "{folder}: cases differ:\n{}",
        failures.join("\n")
    );
}

#[tokio::test]
async fn custom_zone_relaxed_answers_every_case() {
    replay("custom-zone-relaxed").await;
}

#[tokio::test]
async fn user_zone_canonical_answers_every_case() {
    replay("user-zone-canonical").await;
}
