//! Creating the local tables from `template.yaml`, the one place tables are defined. Only
//! what a query depends on is taken from the template: keys, attribute types, the GSIs and
//! their projections. TTL, streams, point-in-time recovery and encryption are AWS concerns that
//! a local DynamoDB does not need. Table names come from the typed config, as the function
//! reads them; the template's `TableName` (usually a `!Sub`) is ignored.

use std::time::Duration;

use aws_sdk_dynamodb::error::{BuildError, SdkError};
use aws_sdk_dynamodb::operation::create_table::CreateTableError;
use aws_sdk_dynamodb::operation::describe_table::DescribeTableError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, IndexStatus, KeySchemaElement, KeyType,
    Projection, ProjectionType, ScalarAttributeType, TableStatus,
};
use aws_sdk_dynamodb::Client;
use serde_norway::Value;

use crate::config::TableNames;
use crate::store::succeeded_unless;

/// The template's logical ids of the four tables.
pub const SESSIONS_TABLE: &str = "SessionsTable";
pub const DIRECTORY_TABLE: &str = "DirectoryTable";
pub const CONVERSATIONS_TABLE: &str = "ConversationsTable";
pub const ROLLUPS_TABLE: &str = "RollupsTable";

/// How long a new table may stay `CREATING` before we give up.
const ACTIVE_TIMEOUT: Duration = Duration::from_secs(120);

#[derive(Debug, thiserror::Error)]
pub enum TablesError {
    #[error("cannot read {path}")]
    ReadTemplate {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("template.yaml is not valid YAML")]
    Yaml(#[source] serde_norway::Error),
    #[error("template.yaml has no resource {0}")]
    MissingResource(&'static str),
    #[error("template.yaml: {logical_id}: {problem}")]
    Template {
        logical_id: &'static str,
        problem: String,
    },
    #[error("cannot build the definition of table {table}")]
    Build {
        table: String,
        #[source]
        source: BuildError,
    },
    #[error("creating table {table} failed")]
    Create {
        table: String,
        #[source]
        source: Box<SdkError<CreateTableError>>,
    },
    #[error("describing table {table} failed")]
    Describe {
        table: String,
        #[source]
        source: Box<SdkError<DescribeTableError>>,
    },
    #[error("table {table} was not ACTIVE after {waited:?}")]
    NotActive { table: String, waited: Duration },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySpec {
    pub attribute: String,
    pub key_type: KeyType,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexSpec {
    pub name: String,
    pub key_schema: Vec<KeySpec>,
    pub projection_type: ProjectionType,
    pub non_key_attributes: Vec<String>,
}

/// One table as the template defines it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSpec {
    pub logical_id: &'static str,
    pub key_schema: Vec<KeySpec>,
    pub attributes: Vec<(String, ScalarAttributeType)>,
    pub indexes: Vec<IndexSpec>,
}

/// Reads the four tables out of a SAM template. Intrinsic functions (`!Ref`, `!Sub`) are
/// tagged values to serde_norway; they may appear anywhere we do not read.
pub fn table_specs(template_yaml: &str) -> Result<Vec<TableSpec>, TablesError> {
    let template: Value = serde_norway::from_str(template_yaml).map_err(TablesError::Yaml)?;
    [
        SESSIONS_TABLE,
        DIRECTORY_TABLE,
        CONVERSATIONS_TABLE,
        ROLLUPS_TABLE,
    ]
    .into_iter()
    .map(|id| table_spec(&template, id))
    .collect()
}

fn table_spec(template: &Value, logical_id: &'static str) -> Result<TableSpec, TablesError> {
    let resource = template
        .get("Resources")
        .and_then(|r| r.get(logical_id))
        .ok_or(TablesError::MissingResource(logical_id))?;
    let bad = |problem: String| TablesError::Template {
        logical_id,
        problem,
    };
    match resource.get("Type").and_then(Value::as_str) {
        Some("AWS::DynamoDB::Table") => {}
        other => return Err(bad(format!("Type is {other:?}, not AWS::DynamoDB::Table"))),
    }
    let props = resource
        .get("Properties")
        .ok_or_else(|| bad("no Properties".into()))?;
    let key_schema = key_schema(props.get("KeySchema"), "KeySchema").map_err(bad)?;
    let attributes = sequence(props.get("AttributeDefinitions"), "AttributeDefinitions")
        .map_err(bad)?
        .iter()
        .map(|a| {
            let name = string(a, "AttributeName").map_err(&bad)?;
            let kind = match string(a, "AttributeType").map_err(&bad)?.as_str() {
                "S" => ScalarAttributeType::S,
                "N" => ScalarAttributeType::N,
                "B" => ScalarAttributeType::B,
                other => return Err(bad(format!("AttributeType {other:?} of {name}"))),
            };
            Ok((name, kind))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let indexes = match props.get("GlobalSecondaryIndexes") {
        None => Vec::new(),
        Some(gsis) => sequence(Some(gsis), "GlobalSecondaryIndexes")
            .map_err(bad)?
            .iter()
            .map(|g| index_spec(g).map_err(&bad))
            .collect::<Result<Vec<_>, _>>()?,
    };
    Ok(TableSpec {
        logical_id,
        key_schema,
        attributes,
        indexes,
    })
}

fn index_spec(g: &Value) -> Result<IndexSpec, String> {
    let name = string(g, "IndexName")?;
    let key_schema = key_schema(g.get("KeySchema"), &format!("{name}.KeySchema"))?;
    let projection = g
        .get("Projection")
        .ok_or_else(|| format!("index {name} has no Projection"))?;
    let projection_type = match string(projection, "ProjectionType")?.as_str() {
        "ALL" => ProjectionType::All,
        "KEYS_ONLY" => ProjectionType::KeysOnly,
        "INCLUDE" => ProjectionType::Include,
        other => return Err(format!("ProjectionType {other:?} of index {name}")),
    };
    let non_key_attributes = match projection.get("NonKeyAttributes") {
        None => Vec::new(),
        Some(v) => sequence(Some(v), "NonKeyAttributes")?
            .iter()
            .map(|a| {
                a.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| format!("a NonKeyAttributes entry of {name} is not a string"))
            })
            .collect::<Result<_, _>>()?,
    };
    Ok(IndexSpec {
        name,
        key_schema,
        projection_type,
        non_key_attributes,
    })
}

fn key_schema(v: Option<&Value>, what: &str) -> Result<Vec<KeySpec>, String> {
    sequence(v, what)?
        .iter()
        .map(|k| {
            let attribute = string(k, "AttributeName")?;
            let key_type = match string(k, "KeyType")?.as_str() {
                "HASH" => KeyType::Hash,
                "RANGE" => KeyType::Range,
                other => return Err(format!("KeyType {other:?} of {attribute} in {what}")),
            };
            Ok(KeySpec {
                attribute,
                key_type,
            })
        })
        .collect()
}

fn sequence<'a>(v: Option<&'a Value>, what: &str) -> Result<&'a Vec<Value>, String> {
    v.and_then(Value::as_sequence)
        .ok_or_else(|| format!("{what} is missing or not a list"))
}

fn string(v: &Value, key: &str) -> Result<String, String> {
    v.get(key)
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| format!("{key} is missing or not a plain string"))
}

impl TableSpec {
    /// The configured name of this table.
    pub fn table_name<'a>(&self, names: &'a TableNames) -> &'a str {
        match self.logical_id {
            SESSIONS_TABLE => &names.sessions,
            DIRECTORY_TABLE => &names.directory,
            ROLLUPS_TABLE => &names.rollups,
            _ => &names.conversations,
        }
    }
}

/// The configured name of an index: the function queries the indexes by the names in its
/// config, so an index the template calls by the default name is created under that name.
fn index_name(template_name: &str, names: &TableNames) -> String {
    match template_name {
        TableNames::DEFAULT_BY_MONTH_INDEX => names.by_month_index.clone(),
        TableNames::DEFAULT_BY_DEPARTMENT_MONTH_INDEX => names.by_department_month_index.clone(),
        TableNames::DEFAULT_ATTENTION_INDEX => names.attention_index.clone(),
        TableNames::DEFAULT_SESSIONS_BY_USER_INDEX => names.sessions_by_user_index.clone(),
        other => other.to_string(),
    }
}

/// What `create-tables` did, one line per table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TablesCreated(pub Vec<String>);

impl std::fmt::Display for TablesCreated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.iter().try_for_each(|line| writeln!(f, "{line}"))
    }
}

impl super::Report for TablesCreated {}

/// `create-tables`: the tables of the SAM template at `path`.
pub async fn create_tables(
    client: &Client,
    path: &std::path::Path,
    names: &TableNames,
) -> Result<TablesCreated, TablesError> {
    let yaml = std::fs::read_to_string(path).map_err(|source| TablesError::ReadTemplate {
        path: path.display().to_string(),
        source,
    })?;
    Ok(TablesCreated(
        create_tables_from_template(client, &yaml, names).await?,
    ))
}

/// Creates the template's four tables under the configured names, on demand billing, and
/// waits until they are ACTIVE. A table that exists is left as it is. Returns one line per
/// table, `"<name>: created"` or `"<name>: exists"`.
pub async fn create_tables_from_template(
    client: &Client,
    template_yaml: &str,
    names: &TableNames,
) -> Result<Vec<String>, TablesError> {
    let specs = table_specs(template_yaml)?;
    let mut report = Vec::with_capacity(specs.len());
    for spec in &specs {
        let table = spec.table_name(names);
        let created = create_table(client, spec, table, names).await?;
        wait_until_active(client, table).await?;
        report.push(format!(
            "{table}: {}",
            if created { "created" } else { "exists" }
        ));
    }
    Ok(report)
}

async fn create_table(
    client: &Client,
    spec: &TableSpec,
    table: &str,
    names: &TableNames,
) -> Result<bool, TablesError> {
    let build = |source| TablesError::Build {
        table: table.to_string(),
        source,
    };
    let keys = |schema: &[KeySpec]| {
        schema
            .iter()
            .map(|k| {
                KeySchemaElement::builder()
                    .attribute_name(&k.attribute)
                    .key_type(k.key_type.clone())
                    .build()
            })
            .collect::<Result<Vec<_>, _>>()
    };
    let attributes = spec
        .attributes
        .iter()
        .map(|(name, kind)| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(kind.clone())
                .build()
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(build)?;
    let indexes = spec
        .indexes
        .iter()
        .map(|i| {
            let mut projection = Projection::builder().projection_type(i.projection_type.clone());
            if !i.non_key_attributes.is_empty() {
                projection = projection.set_non_key_attributes(Some(i.non_key_attributes.clone()));
            }
            GlobalSecondaryIndex::builder()
                .index_name(index_name(&i.name, names))
                .set_key_schema(Some(keys(&i.key_schema)?))
                .projection(projection.build())
                .build()
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(build)?;
    let result = client
        .create_table()
        .table_name(table)
        .set_key_schema(Some(keys(&spec.key_schema).map_err(build)?))
        .set_attribute_definitions(Some(attributes))
        .set_global_secondary_indexes((!indexes.is_empty()).then_some(indexes))
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await;
    succeeded_unless(result, |e| e.is_resource_in_use_exception()).map_err(|source| {
        TablesError::Create {
            table: table.to_string(),
            source: Box::new(source),
        }
    })
}

/// Also waits for a table that exists: another process may have just created it.
async fn wait_until_active(client: &Client, table: &str) -> Result<(), TablesError> {
    let started = std::time::Instant::now();
    loop {
        let described = client
            .describe_table()
            .table_name(table)
            .send()
            .await
            .map_err(|source| TablesError::Describe {
                table: table.to_string(),
                source: Box::new(source),
            })?;
        let active = described.table.as_ref().is_some_and(|t| {
            t.table_status == Some(TableStatus::Active)
                && t.global_secondary_indexes().iter().all(|g| {
                    g.index_status.is_none() || g.index_status == Some(IndexStatus::Active)
                })
        });
        if active {
            return Ok(());
        }
        if started.elapsed() > ACTIVE_TIMEOUT {
            return Err(TablesError::NotActive {
                table: table.to_string(),
                waited: ACTIVE_TIMEOUT,
            });
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEMPLATE: &str = include_str!("../../template.yaml");

    fn key(attribute: &str, key_type: KeyType) -> KeySpec {
        KeySpec {
            attribute: attribute.into(),
            key_type,
        }
    }

    #[test]
    fn reads_the_four_tables_of_the_repository_template() {
        let specs = table_specs(TEMPLATE).unwrap();
        let ids: Vec<_> = specs.iter().map(|s| s.logical_id).collect();
        assert_eq!(
            ids,
            [
                SESSIONS_TABLE,
                DIRECTORY_TABLE,
                CONVERSATIONS_TABLE,
                ROLLUPS_TABLE
            ]
        );

        let sessions = &specs[0];
        assert_eq!(sessions.key_schema, vec![key("tokenHash", KeyType::Hash)]);
        // Sessions by (tenant, user): revoke-sessions, delete-user and import never scan.
        assert_eq!(sessions.indexes.len(), 1);
        let by_user = &sessions.indexes[0];
        assert_eq!(by_user.name, TableNames::DEFAULT_SESSIONS_BY_USER_INDEX);
        assert_eq!(
            by_user.key_schema,
            vec![key("tenant", KeyType::Hash), key("userId", KeyType::Range)]
        );
        assert_eq!(by_user.projection_type, ProjectionType::KeysOnly);

        let directory = &specs[1];
        assert_eq!(
            directory.key_schema,
            vec![key("pk", KeyType::Hash), key("sk", KeyType::Range)]
        );

        let conversations = &specs[2];
        assert_eq!(conversations.key_schema, vec![key("pk", KeyType::Hash)]);
        let ts = conversations
            .attributes
            .iter()
            .find(|(a, _)| a == "ts")
            .map(|(_, t)| t.clone());
        assert_eq!(ts, Some(ScalarAttributeType::N));
        let mut names: Vec<_> = conversations
            .indexes
            .iter()
            .map(|i| i.name.as_str())
            .collect();
        names.sort();
        assert_eq!(names, ["byDepartmentMonth", "byMonth"]);
        for index in &conversations.indexes {
            let partition = if index.name == "byMonth" {
                "month"
            } else {
                "deptMonth"
            };
            assert_eq!(
                index.key_schema,
                vec![key(partition, KeyType::Hash), key("ts", KeyType::Range)]
            );
            assert_eq!(index.projection_type, ProjectionType::Include);
            let mut projected = index.non_key_attributes.clone();
            projected.sort();
            // departmentId: a rollup rebuild reads a whole day once and groups it by department.
            let mut expected = [
                "agent",
                "agentMessages",
                "departmentId",
                "avgResponse",
                "chatDuration",
                "firstReaction",
                "firstResponse",
                "responder",
            ];
            expected.sort();
            assert_eq!(projected, expected);
        }
        let rollups = &specs[3];
        assert_eq!(
            rollups.key_schema,
            vec![key("pk", KeyType::Hash), key("sk", KeyType::Range)]
        );
        // The reconciliation's sparse index of the per-day states.
        assert_eq!(rollups.indexes.len(), 1);
        assert_eq!(rollups.indexes[0].name, "byAttention");
        assert_eq!(
            rollups.indexes[0].key_schema,
            vec![
                key("attention", KeyType::Hash),
                key("lastChangeAt", KeyType::Range)
            ]
        );
        assert_eq!(rollups.indexes[0].projection_type, ProjectionType::KeysOnly);
        // Every key attribute is defined, and nothing else (CreateTable refuses both).
        for spec in &specs {
            let mut keys: Vec<_> = spec
                .key_schema
                .iter()
                .chain(spec.indexes.iter().flat_map(|i| i.key_schema.iter()))
                .map(|k| k.attribute.clone())
                .collect();
            keys.sort();
            keys.dedup();
            let mut defined: Vec<_> = spec.attributes.iter().map(|(a, _)| a.clone()).collect();
            defined.sort();
            assert_eq!(keys, defined, "{}", spec.logical_id);
        }
    }

    #[test]
    fn intrinsic_functions_are_ignored_where_not_read() {
        let yaml = r#"
Resources:
  SessionsTable:
    Type: AWS::DynamoDB::Table
    Properties:
      TableName: !Sub "${AWS::StackName}-s"
      Tags: [{Key: k, Value: !Ref Env}]
      AttributeDefinitions: [{AttributeName: tokenHash, AttributeType: S}]
      KeySchema: [{AttributeName: tokenHash, KeyType: HASH}]
  DirectoryTable:
    Type: AWS::DynamoDB::Table
    Properties:
      AttributeDefinitions: [{AttributeName: pk, AttributeType: S}]
      KeySchema: [{AttributeName: pk, KeyType: HASH}]
  ConversationsTable:
    Type: AWS::DynamoDB::Table
    Properties:
      AttributeDefinitions: [{AttributeName: pk, AttributeType: S}]
      KeySchema: [{AttributeName: pk, KeyType: HASH}]
  RollupsTable:
    Type: AWS::DynamoDB::Table
    Properties:
      StreamSpecification: {StreamViewType: !Ref View}
      AttributeDefinitions: [{AttributeName: pk, AttributeType: S}]
      KeySchema: [{AttributeName: pk, KeyType: HASH}]
"#;
        assert_eq!(table_specs(yaml).unwrap().len(), 4);
    }

    #[test]
    fn a_missing_or_wrong_resource_is_an_error() {
        let yaml = "Resources:\n  SessionsTable:\n    Type: AWS::SQS::Queue\n";
        assert!(matches!(
            table_specs(yaml),
            Err(TablesError::Template {
                logical_id: SESSIONS_TABLE,
                ..
            })
        ));
        assert!(matches!(
            table_specs("Resources: {}\n"),
            Err(TablesError::MissingResource(SESSIONS_TABLE))
        ));
        assert!(matches!(table_specs("a: [b"), Err(TablesError::Yaml(_))));
    }

    #[test]
    fn configured_index_names_replace_the_defaults() {
        let names = TableNames {
            sessions: "s".into(),
            directory: "d".into(),
            conversations: "c".into(),
            by_month_index: "m2".into(),
            by_department_month_index: "dm2".into(),
            rollups: "r".into(),
            attention_index: "a2".into(),
            sessions_by_user_index: "u2".into(),
        };
        assert_eq!(index_name("byMonth", &names), "m2");
        assert_eq!(index_name("byDepartmentMonth", &names), "dm2");
        assert_eq!(index_name("byAttention", &names), "a2");
        assert_eq!(index_name("byTenantUser", &names), "u2");
        assert_eq!(index_name("other", &names), "other");
    }
}
