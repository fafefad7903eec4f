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
