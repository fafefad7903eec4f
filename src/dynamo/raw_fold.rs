//! The request path's raw read: one month bucket of a GSI of the conversations table, queried
//! page by page with the figure's projection and folded into its tallies as it is read.

use aws_sdk_dynamodb::types::AttributeValue;

use super::items::{self, attr, Item, Reader};
use super::query::each_page;
use super::{classify, Client, ReadError};
use crate::domain::aggregate::Aggregator;
use crate::domain::figure::{AgentField, Figure, MetricField};
use crate::domain::range::UtcRange;

/// Where a month bucket lives: the table and its two month indexes.
#[derive(Debug, Clone, Copy)]
pub struct BucketTables<'a> {
    pub conversations: &'a str,
    pub by_month_index: &'a str,
    pub by_department_month_index: &'a str,
}

/// One month bucket of a tenant (and department, if any), between two instants.
#[derive(Debug, Clone, Copy)]
pub struct Bucket<'a> {
    pub tenant: &'a str,
    pub department: Option<&'a str>,
    pub month: (i32, u32),
    pub range: UtcRange,
}

/// A bucket folded: its tallies, and the pages and items it took.
#[derive(Debug)]
pub struct BucketRead {
    pub agg: Aggregator,
    pub pages: u64,
    pub items: u64,
}

/// Queries one month bucket, every page, folding each page into `figure`'s tallies.
pub async fn fold_bucket(
    client: &Client,
    tables: BucketTables<'_>,
    bucket: Bucket<'_>,
    figure: Figure,
    page_limit: Option<i32>,
) -> Result<BucketRead, ReadError> {
    let (index, pk_name, pk_value) = match bucket.department {
        Some(d) => (
            tables.by_department_month_index,
            attr::DEPT_MONTH,
            items::dept_month_key(bucket.tenant, bucket.month, d),
        ),
        None => (
            tables.by_month_index,
            attr::MONTH,
            items::month_key(bucket.tenant, bucket.month),
        ),
    };
    let agent_attr = agent_attribute(figure);
    let metric_attr = metric_attribute(figure);
    let mut projection = "#pk, #ts, #agent".to_string();
    let mut request = client
        .query()
        .table_name(tables.conversations)
        .index_name(index)
        .key_condition_expression("#bucket = :bucket AND #ts BETWEEN :start AND :end")
        .expression_attribute_names("#bucket", pk_name)
        .expression_attribute_names("#pk", attr::PK)
        .expression_attribute_names("#ts", attr::TS)
        .expression_attribute_names("#agent", agent_attr)
        .expression_attribute_values(":bucket", AttributeValue::S(pk_value))
        .expression_attribute_values(
            ":start",
            AttributeValue::N(bucket.range.start_ms.to_string()),
        )
        .expression_attribute_values(":end", AttributeValue::N(bucket.range.end_ms.to_string()))
        .set_limit(page_limit);
    if let Some(metric) = metric_attr {
        projection.push_str(", #metric");
        request = request.expression_attribute_names("#metric", metric);
    }
    let (mut agg, mut items) = (Aggregator::new(figure), 0);
    let pages = each_page(
        request.projection_expression(projection),
        classify,
        |page| {
            items += page.len() as u64;
            fold_page(&mut agg, &page)
        },
    )
    .await?;
    Ok(BucketRead { agg, pages, items })
}

/// Folds one query page's items into `agg`, reading the attributes its figure needs. The
/// bucket query above calls it per page; the benchmark calls it on generated pages to measure
/// the decode and aggregate path without I/O.
pub fn fold_page(agg: &mut Aggregator, items: &[Item]) -> Result<(), ReadError> {
    let figure = agg.figure();
    let (agent_attr, metric_attr) = (agent_attribute(figure), metric_attribute(figure));
    items
        .iter()
        .try_for_each(|item| fold_item(agg, item, agent_attr, metric_attr))
}

/// The attribute holding the username a figure counts a conversation under.
pub fn agent_attribute(figure: Figure) -> &'static str {
    match figure.agent_field() {
        AgentField::ServedBy => attr::AGENT,
        AgentField::ResponseBy => attr::RESPONDER,
    }
}

/// The attribute holding the metric a figure reads, if any.
pub fn metric_attribute(figure: Figure) -> Option<&'static str> {
    match figure.metric_field() {
        MetricField::None => None,
        MetricField::ChatDuration => Some(attr::CHAT_DURATION),
        MetricField::FirstResponse => Some(attr::FIRST_RESPONSE),
        MetricField::AvgResponse => Some(attr::AVG_RESPONSE),
        MetricField::FirstReaction => Some(attr::FIRST_REACTION),
        MetricField::AgentMessages => Some(attr::AGENT_MESSAGES),
    }
}

/// Decodes the three attributes a figure needs and folds them; a malformed item stops the
/// request with its key rather than being skipped (a skipped item is a wrong figure).
fn fold_item(
    agg: &mut Aggregator,
    item: &Item,
    agent_attr: &str,
    metric_attr: Option<&str>,
) -> Result<(), ReadError> {
    let key = match item.get(attr::PK) {
        Some(AttributeValue::S(pk)) => pk.as_str(),
        _ => "<item without pk>",
    };
    let r = Reader::new(item, key);
    let ts: i64 = r.number(attr::TS)?;
    let agent = r.opt_str(agent_attr)?;
    let metric = match metric_attr {
        Some(name) => r.opt_metric(name)?,
        None => None,
    };
    agg.add(ts, agent, metric)
        .map_err(|e| r.malformed(format!("metric sum out of range: {e}")).into())
}
