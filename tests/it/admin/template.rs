//! `template.yaml`'s promises about the data: every table survives a mistaken stack or console
//! deletion.

use serde_norway::Value;

fn template() -> Value {
    let text = std::fs::read_to_string(format!("{}/template.yaml", env!("CARGO_MANIFEST_DIR")))
        .expect("template.yaml");
    serde_norway::from_str(&text).expect("template.yaml is YAML")
}

#[test]
fn every_table_is_deletion_protected_and_retained() {
    let template = template();
    let resources = template["Resources"].as_mapping().expect("Resources");
    let mut tables = 0;
    for (name, resource) in resources {
        if resource["Type"].as_str() != Some("AWS::DynamoDB::Table") {
            continue;
        }
        tables += 1;
        let name = name.as_str().unwrap_or_default();
        // DeletionProtectionEnabled refuses DeleteTable from any caller (console, CLI, another
        // stack); the Retain policies keep the table when this stack deletes or replaces it.
        assert_eq!(
            resource["Properties"]["DeletionProtectionEnabled"].as_bool(),
            Some(true),
            "{name}: DeletionProtectionEnabled"
        );
        assert_eq!(
            resource["DeletionPolicy"].as_str(),
            Some("Retain"),
            "{name}"
        );
        assert_eq!(
            resource["UpdateReplacePolicy"].as_str(),
            Some("Retain"),
            "{name}"
        );
    }
    assert!(tables >= 4, "the four tables are in the template");
}

fn sync_statements(template: &Value) -> Vec<Value> {
    template["Resources"]["SyncFunction"]["Properties"]["Policies"][0]["Statement"]
        .as_sequence()
        .expect("SyncFunction's policy statements")
        .clone()
}

fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Sequence(items) => items
            .iter()
            .filter_map(|i| i.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}

#[test]
fn the_sync_role_cannot_write_the_connections_nor_arbitrary_rollup_state() {
    let template = template();
    let statements = sync_statements(&template);
    let deny = statements
        .iter()
        .find(|s| s["Effect"].as_str() == Some("Deny"))
        .expect("a Deny statement");
    let actions = strings(&deny["Action"]);
    for write in [
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
        "dynamodb:BatchWriteItem",
    ] {
        assert!(actions.contains(&write.to_string()), "{write} denied");
    }
    assert_eq!(
        strings(&deny["Condition"]["ForAnyValue:StringEquals"]["dynamodb:LeadingKeys"]),
        ["#SYNC"]
    );
    // The rollups table: UpdateItem of the day-state mark's attributes only (never `built`).
    let mark = statements
        .iter()
        .find(|s| s["Sid"].as_str() == Some("MarkDaysStale"))
        .expect("MarkDaysStale");
    assert_eq!(strings(&mark["Action"]), ["dynamodb:UpdateItem"]);
    let allowed = strings(&mark["Condition"]["ForAllValues:StringEquals"]["dynamodb:Attributes"]);
    for attribute in [
        "changed",
        "pending",
        "overflow",
        "attention",
        "lastChangeAt",
        "tenant",
    ] {
        assert!(allowed.contains(&attribute.to_string()), "{attribute}");
    }
    for never in ["built", "departments", "version"] {
        assert!(!allowed.contains(&never.to_string()), "{never}");
    }
}

#[test]
fn the_sync_queue_reaches_its_dead_letters_and_its_concurrency_is_bounded() {
    let template = template();
    let queue = &template["Resources"]["SyncQueue"]["Properties"];
    let retention = queue["MessageRetentionPeriod"].as_u64().unwrap();
    let visibility = queue["VisibilityTimeout"].as_u64().unwrap();
    let receives = queue["RedrivePolicy"]["maxReceiveCount"].as_u64().unwrap();
    assert!(
        retention > receives * visibility,
        "a message expires ({retention} s) before its {receives} receives ({} s)",
        receives * visibility
    );
    let function = &template["Resources"]["SyncFunction"]["Properties"];
    let scaling = &function["Events"]["Jobs"]["Properties"]["ScalingConfig"];
    assert!(
        !scaling["MaximumConcurrency"].is_null(),
        "the SQS event source bounds the sync's concurrency"
    );
    assert!(
        !function["Environment"]["Variables"]["SYNC_SECRET_PREFIX"].is_null(),
        "the job knows the secrets' prefix, to bind a secret to its tenant"
    );
}

#[test]
fn sync_lag_is_alarmed_per_tenant_count_and_on_a_rise() {
    let template = template();
    let resources = &template["Resources"];
    assert_eq!(
        resources["SyncLagAlarm"]["Properties"]["MetricName"].as_str(),
        Some("SyncLaggingTenants")
    );
    let metrics = resources["SyncNewlyLaggingAlarm"]["Properties"]["Metrics"]
        .as_sequence()
        .expect("metric math");
    assert!(metrics.iter().any(|m| m["Expression"]
        .as_str()
        .is_some_and(|e| e.starts_with("DIFF("))));
    let fan_out = &resources["SyncFanOutFunction"]["Properties"];
    assert!(!fan_out["Environment"]["Variables"]["SYNC_LAG_ALARM_SECONDS"].is_null());
}
