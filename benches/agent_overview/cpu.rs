//! Handler-side CPU with no I/O, on this thread (one core): query pages generated from the demo
//! data, shaped exactly as the GSI returns them to the function (the key attributes it
//! projects, `pk`, `ts`, the figure's agent attribute and its metric; absent attributes absent),
//! folded with the function's own `fold_page`, then formatted into the response body.
//!
//! Where the time goes, per item: attribute lookups alone, lookups and number parsing, the
//! Aggregator fed pre-decoded values, and the whole path. And the step before it: the SDK
//! turning a Query response's JSON into those pages (a local stand-in for DynamoDB answers
//! every call with one canned page).

use std::hint::black_box;
use std::io::BufReader;
use std::net::TcpListener;
use std::thread;
use std::time::Instant;

use agent_overview::admin::demo::demo_conversations;
use agent_overview::domain::aggregate::Aggregator;
use agent_overview::domain::figure::Figure;
use agent_overview::dynamo::items::{attr, conversation_item, Item};
use agent_overview::dynamo::raw_fold::{agent_attribute, fold_page, metric_attribute};
use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};

use crate::e2e::percentile;
use crate::http1::{read_request, write_response};
use crate::load::demo_params;

/// Items per generated page: about what a 1 MB page of the index holds.
const PAGE_ITEMS: usize = 8_000;
const REPEATS: usize = 7;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FigureCpu {
    pub figure: String,
    pub items: usize,
    /// Median over the repeats.
    pub items_per_sec: f64,
    pub ns_per_item: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Breakdown {
    pub figure: String,
    /// ns per item of each stage (medians), cumulative except `aggregate_only`.
    pub lookups_ns: f64,
    pub lookups_and_parse_ns: f64,
    pub aggregate_only_ns: f64,
    pub fold_page_ns: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SdkDecode {
    pub figure: String,
    pub items_per_page: usize,
    pub page_bytes: usize,
    /// Query calls through the SDK against the canned page, decoded and folded (one thread).
    pub items_per_sec: f64,
    pub ns_per_item: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Cpu {
    pub figures: Vec<FigureCpu>,
    pub breakdown: Breakdown,
    pub sdk: SdkDecode,
}

/// The attributes the function's query projects for `figure`.
fn projected(figure: Figure) -> Vec<&'static str> {
    let mut names = vec![attr::PK, attr::TS, agent_attribute(figure)];
    names.extend(metric_attribute(figure));
    names
}

fn pages(figure: Figure, items: &[Item]) -> Vec<Vec<Item>> {
    let keep = projected(figure);
    let shaped: Vec<Item> = items
        .iter()
        .map(|item| {
            item.iter()
                .filter(|(k, _)| keep.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .collect();
    shaped.chunks(PAGE_ITEMS).map(<[Item]>::to_vec).collect()
}

/// Median ns per item of `f` over the repeats.
fn ns_per_item(items: usize, mut f: impl FnMut()) -> f64 {
    f();
    let runs: Vec<f64> = (0..REPEATS)
        .map(|_| {
            let started = Instant::now();
            f();
            started.elapsed().as_nanos() as f64 / items as f64
        })
        .collect();
    percentile(&runs, 0.5)
}

fn decode_fold_format(figure: Figure, pages: &[Vec<Item>]) -> usize {
    let mut agg = Aggregator::new(figure);
    for page in pages {
        fold_page(&mut agg, page).expect("generated items are well formed");
    }
    serde_json::to_string(&agg.into_rows()).expect("json").len()
}

pub fn run(conversations: u32) -> Cpu {
    let items: Vec<Item> = demo_conversations(&demo_params(conversations))
        .map(|c| conversation_item("bench-cpu", &c).expect("a storable conversation"))
        .collect();
    let n = items.len();
    let mut figures = Vec::new();
    for figure in Figure::ALL {
        let pages = pages(figure, &items);
        let ns = ns_per_item(n, || {
            black_box(decode_fold_format(figure, &pages));
        });
        eprintln!("  {:<26} {:>6.0} ns/item", figure.name(), ns);
        figures.push(FigureCpu {
            figure: figure.name().to_string(),
            items: n,
            items_per_sec: 1e9 / ns,
            ns_per_item: ns,
        });
    }
    let breakdown = breakdown(Figure::AvgChatDuration, &items);
    // Its own thread: the SDK measurement runs a current-thread runtime of its own.
    let first_page = items[..PAGE_ITEMS.min(n)].to_vec();
    let sdk = thread::spawn(move || sdk_decode(Figure::AvgChatDuration, &first_page))
        .join()
        .expect("the SDK measurement");
    Cpu {
        figures,
        breakdown,
        sdk,
    }
}

fn breakdown(figure: Figure, items: &[Item]) -> Breakdown {
    let pages = pages(figure, items);
    let n = items.len();
    let agent_attr = agent_attribute(figure);
    let metric_attr = metric_attribute(figure).expect("a figure with a metric");
    let lookups_ns = ns_per_item(n, || {
        for item in pages.iter().flatten() {
            black_box(item.get(attr::PK));
            black_box(item.get(attr::TS));
            black_box(item.get(agent_attr));
            black_box(item.get(metric_attr));
        }
    });
    let decoded: Vec<(i64, Option<String>, Option<f64>)> = pages
        .iter()
        .flatten()
        .map(|item| {
            let n = |name: &str| match item.get(name) {
                Some(AttributeValue::N(v)) => Some(v.clone()),
                _ => None,
            };
            let agent = match item.get(agent_attr) {
                Some(AttributeValue::S(s)) => Some(s.clone()),
                _ => None,
            };
            (
                n(attr::TS).and_then(|v| v.parse().ok()).unwrap_or(0),
                agent,
                n(metric_attr).and_then(|v| v.parse().ok()),
            )
        })
        .collect();
    let lookups_and_parse_ns = ns_per_item(n, || {
        for item in pages.iter().flatten() {
            black_box(item.get(attr::PK));
            if let Some(AttributeValue::N(v)) = item.get(attr::TS) {
                black_box(v.parse::<i64>().ok());
            }
            black_box(item.get(agent_attr));
            if let Some(AttributeValue::N(v)) = item.get(metric_attr) {
                black_box(v.parse::<f64>().ok());
            }
        }
    });
    let aggregate_only_ns = ns_per_item(n, || {
        let mut agg = Aggregator::new(figure);
        for (ts, agent, metric) in &decoded {
            agg.add(*ts, agent.as_deref(), *metric).expect("in range");
        }
        black_box(agg.into_rows());
    });
    let fold_page_ns = ns_per_item(n, || {
        black_box(decode_fold_format(figure, &pages));
    });
    Breakdown {
        figure: figure.name().to_string(),
        lookups_ns,
        lookups_and_parse_ns,
        aggregate_only_ns,
        fold_page_ns,
    }
}

/// DynamoDB JSON of one item (`{"pk":{"S":"…"},…}`).
fn item_json(item: &Item) -> serde_json::Value {
    let fields: serde_json::Map<String, serde_json::Value> = item
        .iter()
        .map(|(k, v)| {
            let typed = match v {
                AttributeValue::S(s) => serde_json::json!({ "S": s }),
                AttributeValue::N(n) => serde_json::json!({ "N": n }),
                other => panic!("unexpected attribute {other:?}"),
            };
            (k.clone(), typed)
        })
        .collect();
    serde_json::Value::Object(fields)
}

/// The SDK's side of one page: a Query call answered by a local stand-in with a canned page,
/// decoded into items and folded, on a current-thread runtime (one core for the client).
fn sdk_decode(figure: Figure, items: &[Item]) -> SdkDecode {
    let page = pages(figure, items).into_iter().next().unwrap_or_default();
    let body = serde_json::to_vec(&serde_json::json!({
        "Count": page.len(),
        "ScannedCount": page.len(),
        "Items": page.iter().map(item_json).collect::<Vec<_>>(),
    }))
    .expect("json");
    let page_bytes = body.len();
    let listener = TcpListener::bind("127.0.0.1:0").expect("a local port");
    let endpoint = format!("http://{}", listener.local_addr().expect("address"));
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let body = body.clone();
            thread::spawn(move || {
                let Ok(mut writer) = stream.try_clone() else {
                    return;
                };
                let mut reader = BufReader::new(stream);
                while read_request(&mut reader).is_some() {
                    let headers = [("content-type", "application/x-amz-json-1.0")];
                    if write_response(&mut writer, "200 OK", &headers, &body).is_err() {
                        return;
                    }
                }
            });
        }
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let ns = runtime.block_on(async {
        let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .load()
            .await;
        let config = agent_overview::dynamo::capacity::with_meter(
            aws_sdk_dynamodb::config::Builder::from(&sdk).endpoint_url(&endpoint),
        )
        .build();
        let client = aws_sdk_dynamodb::Client::from_conf(config);
        let call = || async {
            let out = client
                .query()
                .table_name("canned")
                .key_condition_expression("#b = :b")
                .expression_attribute_names("#b", "month")
                .expression_attribute_values(":b", AttributeValue::S("x".into()))
                .send()
                .await
                .expect("the canned page");
            let mut agg = Aggregator::new(figure);
            fold_page(&mut agg, out.items()).expect("well formed");
            black_box(agg.into_rows());
            out.items().len()
        };
        let per_page = call().await;
        let calls = 20;
        let mut runs = Vec::new();
        for _ in 0..REPEATS {
            let started = Instant::now();
            for _ in 0..calls {
                black_box(call().await);
            }
            runs.push(started.elapsed().as_nanos() as f64 / (calls * per_page) as f64);
        }
        percentile(&runs, 0.5)
    });
    SdkDecode {
        figure: figure.name().to_string(),
        items_per_page: page.len(),
        page_bytes,
        items_per_sec: 1e9 / ns,
        ns_per_item: ns,
    }
}
