//! Consumed DynamoDB capacity, as DynamoDB reports it, added up per unit of work.
//!
//! One SDK interceptor (registered on every client by [`with_meter`]) does it for every call:
//! before serialization it asks for `ReturnConsumedCapacity: INDEXES` (unless the caller chose),
//! and after deserialization it adds the response's consumed capacity to the meter of the
//! current [`measure`] scope. Outside a scope it does nothing: no field is asked for, nothing is
//! counted. The scope is a tokio task-local: the SDK runs its interceptors in the task that
//! awaits the call; work spawned onto other tasks carries the scope with [`carry`].
//!
//! DynamoDB rules and where dynalite differs: `docs/capacity.md`.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::config::interceptors::{
    AfterDeserializationInterceptorContextRef, BeforeSerializationInterceptorContextMut,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use aws_sdk_dynamodb::operation::{
    batch_get_item::{BatchGetItemInput, BatchGetItemOutput},
    batch_write_item::{BatchWriteItemInput, BatchWriteItemOutput},
    delete_item::{DeleteItemInput, DeleteItemOutput},
    get_item::{GetItemInput, GetItemOutput},
    put_item::{PutItemInput, PutItemOutput},
    query::{QueryInput, QueryOutput},
    scan::{ScanInput, ScanOutput},
    transact_get_items::{TransactGetItemsInput, TransactGetItemsOutput},
    transact_write_items::{TransactWriteItemsInput, TransactWriteItemsOutput},
    update_item::{UpdateItemInput, UpdateItemOutput},
};
use aws_sdk_dynamodb::types::{self, AttributeValue, ReturnConsumedCapacity};

/// Read and write capacity units consumed (tables and indexes together).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ConsumedCapacity {
    pub read_units: f64,
    pub write_units: f64,
}

impl ConsumedCapacity {
    pub fn add(&mut self, other: &ConsumedCapacity) {
        self.read_units += other.read_units;
        self.write_units += other.write_units;
    }
}

/// `12 write units, 3.5 read units`, as summaries show it.
impl std::fmt::Display for ConsumedCapacity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} write units, {} read units",
            self.write_units, self.read_units
        )
    }
}

/// What the calls of one scope consumed so far; shared by the tasks the scope [`carry`]s into.
#[derive(Debug, Clone, Default)]
pub struct CapacityMeter(Arc<Mutex<ConsumedCapacity>>);

impl CapacityMeter {
    fn add(&self, consumed: &ConsumedCapacity) {
        // A poisoned meter only means another task panicked mid-addition; keep counting.
        let mut total = self.0.lock().unwrap_or_else(|e| e.into_inner());
        total.add(consumed);
    }

    /// The total so far.
    pub fn consumed(&self) -> ConsumedCapacity {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

tokio::task_local! {
    static METER: CapacityMeter;
}

/// Runs `fut` in a fresh scope and returns what its DynamoDB calls consumed. A scope inside
/// another one also adds its total to the outer one.
pub async fn measure<F: Future>(fut: F) -> (F::Output, ConsumedCapacity) {
    let outer = current();
    let meter = CapacityMeter::default();
    let output = METER.scope(meter.clone(), fut).await;
    let consumed = meter.consumed();
    if let Some(outer) = outer {
        outer.add(&consumed);
    }
    (output, consumed)
}

/// The current scope's meter, if any.
pub fn current() -> Option<CapacityMeter> {
    METER.try_with(CapacityMeter::clone).ok()
}

/// `fut` in the current scope, for spawning onto another task (a spawned task does not inherit
/// task-locals); without a scope, `fut` unchanged in effect.
pub fn carry<F: Future>(fut: F) -> impl Future<Output = F::Output> {
    let meter = current();
    async move {
        match meter {
            Some(meter) => METER.scope(meter, fut).await,
            None => fut.await,
        }
    }
}

/// `builder` with the capacity interceptor: every client of this crate is built through it.
pub fn with_meter(builder: aws_sdk_dynamodb::config::Builder) -> aws_sdk_dynamodb::config::Builder {
    builder.interceptor(CapacityInterceptor)
}

#[derive(Debug)]
struct CapacityInterceptor;

/// Sets `return_consumed_capacity` to INDEXES on the input, whichever of `$ty` it is, unless
/// the caller chose a value.
macro_rules! ask_capacity {
    ($input:expr, $($ty:ty),+ $(,)?) => {
        $(if let Some(input) = $input.downcast_mut::<$ty>() {
            input
                .return_consumed_capacity
                .get_or_insert(ReturnConsumedCapacity::Indexes);
        })+
    };
}

impl Intercept for CapacityInterceptor {
    fn name(&self) -> &'static str {
        "CapacityInterceptor"
    }

    fn modify_before_serialization(
        &self,
        context: &mut BeforeSerializationInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if current().is_some() {
            let input = context.input_mut();
            ask_capacity!(
                input,
                GetItemInput,
                BatchGetItemInput,
                QueryInput,
                ScanInput,
                TransactGetItemsInput,
                PutItemInput,
                UpdateItemInput,
                DeleteItemInput,
                BatchWriteItemInput,
                TransactWriteItemsInput,
            );
        }
        Ok(())
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(meter) = current() else {
            return Ok(());
        };
        // An error response carries no consumed capacity (see docs/capacity.md).
        let Ok(output) = context.output_or_error() else {
            return Ok(());
        };
        // Single-item operations report one entry, batches and transactions a list.
        macro_rules! single {
            ($ty:ty, $kind:expr) => {
                if let Some(out) = output.downcast_ref::<$ty>() {
                    meter.add(&sum(out.consumed_capacity.iter(), $kind));
                    return Ok(());
                }
            };
        }
        macro_rules! list {
            ($ty:ty, $kind:expr) => {
                if let Some(out) = output.downcast_ref::<$ty>() {
                    meter.add(&sum(out.consumed_capacity.iter().flatten(), $kind));
                    return Ok(());
                }
            };
        }
        single!(QueryOutput, Kind::Read);
        single!(GetItemOutput, Kind::Read);
        list!(BatchGetItemOutput, Kind::Read);
        single!(ScanOutput, Kind::Read);
        list!(TransactGetItemsOutput, Kind::Read);
        single!(PutItemOutput, Kind::Write);
        single!(UpdateItemOutput, Kind::Write);
        single!(DeleteItemOutput, Kind::Write);
        list!(BatchWriteItemOutput, Kind::Write);
        list!(TransactWriteItemsOutput, Kind::Write);
        Ok(())
    }
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Read,
    Write,
}

/// The units of one response's entries (one per table; batches and transactions may name
/// several). DynamoDB may split them into read and write units; when it gives only
/// `CapacityUnits` (dynalite always does), they are the operation's kind.
fn sum<'a>(
    entries: impl IntoIterator<Item = &'a types::ConsumedCapacity>,
    kind: Kind,
) -> ConsumedCapacity {
    let mut total = ConsumedCapacity::default();
    for entry in entries {
        match (entry.read_capacity_units, entry.write_capacity_units) {
            (None, None) => {
                let units = entry.capacity_units.unwrap_or(0.0);
                match kind {
                    Kind::Read => total.read_units += units,
                    Kind::Write => total.write_units += units,
                }
            }
            (read, write) => {
                total.read_units += read.unwrap_or(0.0);
                total.write_units += write.unwrap_or(0.0);
            }
        }
    }
    total
}

/// An item's size by DynamoDB's rules, in bytes: for each attribute its name's UTF-8 length
/// plus its value's size. Strings: UTF-8 length; binary: byte length; numbers: 1 byte plus 1
/// per two significant digits (plus 1 if negative); booleans and nulls: 1; sets: the sum of
/// their members; lists and maps: 3 bytes plus, per element, 1 byte and the element's size (a
/// map's element also counts its key's length). Capacity rounds these up per item: see
/// [`read_units`] and [`write_units`].
pub fn dynamo_item_size(item: &HashMap<String, AttributeValue>) -> usize {
    item.iter()
        .map(|(name, value)| name.len() + value_size(value))
        .sum()
}

fn value_size(value: &AttributeValue) -> usize {
    match value {
        AttributeValue::S(s) => s.len(),
        AttributeValue::N(n) => number_size(n),
        AttributeValue::B(b) => b.as_ref().len(),
        AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
        AttributeValue::Ss(set) => set.iter().map(String::len).sum(),
        AttributeValue::Ns(set) => set.iter().map(|n| number_size(n)).sum(),
        AttributeValue::Bs(set) => set.iter().map(|b| b.as_ref().len()).sum(),
        AttributeValue::L(list) => 3 + list.iter().map(|v| 1 + value_size(v)).sum::<usize>(),
        AttributeValue::M(map) => {
            3 + map
                .iter()
                .map(|(k, v)| 1 + k.len() + value_size(v))
                .sum::<usize>()
        }
        // A type newer than this SDK: its wire form is the best estimate there is.
        _ => 0,
    }
}

/// 1 byte, plus 1 per two significant digits (leading and trailing zeros trimmed), plus 1 for
/// a minus sign.
fn number_size(n: &str) -> usize {
    let (negative, unsigned) = match n.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, n.strip_prefix('+').unwrap_or(n)),
    };
    let mantissa = unsigned.split(['e', 'E']).next().unwrap_or("");
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let significant = digits.trim_start_matches('0').trim_end_matches('0').len();
    if significant == 0 {
        return 1;
    }
    1 + significant.div_ceil(2) + usize::from(negative)
}

/// The size of `item`'s entry in a secondary index: the table's and the index's key attributes
/// (`keys`) and the projected ones (`projected`; an ALL projection is the whole item). `None`
/// when the item lacks one of the keys, so the index (sparse) holds no entry for it and writing
/// the item writes nothing there. Each index entry written costs [`write_units`] of this size.
pub fn index_entry_size(
    item: &HashMap<String, AttributeValue>,
    keys: &[&str],
    projected: &[&str],
) -> Option<usize> {
    if !keys.iter().all(|k| item.contains_key(*k)) {
        return None;
    }
    Some(
        item.iter()
            .filter(|(name, _)| keys.contains(&name.as_str()) || projected.contains(&name.as_str()))
            .map(|(name, value)| name.len() + value_size(value))
            .sum(),
    )
}

/// DynamoDB's read units for `bytes` read in one request (an item of GetItem or BatchGetItem, or
/// a Query/Scan page's items summed): 4 KB units rounded up, at least one; half as many when
/// eventually consistent.
pub fn read_units(bytes: usize, consistent: bool) -> f64 {
    let units = bytes.div_ceil(4096).max(1) as f64;
    if consistent {
        units
    } else {
        units / 2.0
    }
}

/// DynamoDB's write units for writing one item (or index entry) of `bytes`: 1 KB units rounded
/// up, at least one. An update or delete is charged for the larger of the old and new item.
pub fn write_units(bytes: usize) -> f64 {
    bytes.div_ceil(1024).max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::primitives::Blob;

    fn item(pairs: &[(&str, AttributeValue)]) -> HashMap<String, AttributeValue> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    #[test]
    fn strings_binaries_and_scalars_count_their_bytes_and_names() {
        assert_eq!(
            dynamo_item_size(&item(&[("pk", AttributeValue::S("abc".into()))])),
            5
        );
        // UTF-8 bytes, not characters: "é" is two.
        assert_eq!(
            dynamo_item_size(&item(&[("é", AttributeValue::S("é".into()))])),
            4
        );
        assert_eq!(
            dynamo_item_size(&item(&[("b", AttributeValue::B(Blob::new(vec![0u8; 10])))])),
            11
        );
        assert_eq!(
            dynamo_item_size(&item(&[("t", AttributeValue::Bool(true))])),
            2
        );
        assert_eq!(
            dynamo_item_size(&item(&[("n", AttributeValue::Null(true))])),
            2
        );
    }

    #[test]
    fn numbers_are_one_byte_per_two_significant_digits_plus_one() {
        assert_eq!(number_size("0"), 1);
        assert_eq!(number_size("7"), 2);
        assert_eq!(number_size("12"), 2);
        assert_eq!(number_size("123"), 3);
        // Leading and trailing zeros are trimmed, the decimal point is not a digit.
        assert_eq!(number_size("1000"), 2);
        assert_eq!(number_size("0.00125"), 3);
        assert_eq!(number_size("-12"), 3);
        // A millisecond timestamp: 13 digits, 7 bytes + 1.
        assert_eq!(number_size("1700000000123"), 8);
        assert_eq!(number_size("1.5E+3"), 2);
    }

    #[test]
    fn sets_lists_and_maps() {
        let ss = AttributeValue::Ss(vec!["ab".into(), "cde".into()]);
        assert_eq!(value_size(&ss), 5);
        let ns = AttributeValue::Ns(vec!["1".into(), "123".into()]);
        assert_eq!(value_size(&ns), 2 + 3);
        assert_eq!(value_size(&AttributeValue::L(vec![])), 3);
        assert_eq!(value_size(&AttributeValue::M(HashMap::new())), 3);
        let list = AttributeValue::L(vec![
            AttributeValue::S("ab".into()),
            AttributeValue::Bool(false),
        ]);
        assert_eq!(value_size(&list), 3 + (1 + 2) + (1 + 1));
        let map = AttributeValue::M(item(&[("key", AttributeValue::S("v".into()))]));
        assert_eq!(value_size(&map), 3 + 1 + 3 + 1);
    }

    #[test]
    fn an_index_entry_is_its_keys_and_projection_or_nothing_without_its_keys() {
        let it = item(&[
            ("pk", AttributeValue::S("t#r1".into())),
            ("month", AttributeValue::S("t#2024-03".into())),
            ("ts", AttributeValue::N("1709251200000".into())),
            ("agent", AttributeValue::S("kim".into())),
            ("roomId", AttributeValue::S("r1".into())),
        ]);
        let keys = ["pk", "month", "ts"];
        // pk 2+4, month 5+9, ts 2+5 (8 significant digits), agent 5+3; roomId not projected.
        assert_eq!(index_entry_size(&it, &keys, &["agent"]), Some(35));
        assert_eq!(index_entry_size(&it, &keys, &[]), Some(27));
        assert_eq!(
            index_entry_size(&it, &["pk", "deptMonth", "ts"], &["agent"]),
            None
        );
    }

    #[test]
    fn capacity_rounds_up_per_unit_with_a_minimum_of_one() {
        assert_eq!(read_units(0, false), 0.5);
        assert_eq!(read_units(4096, true), 1.0);
        assert_eq!(read_units(4097, true), 2.0);
        assert_eq!(read_units(4097, false), 1.0);
        assert_eq!(write_units(1), 1.0);
        assert_eq!(write_units(1024), 1.0);
        assert_eq!(write_units(1025), 2.0);
    }

    fn entry(units: Option<f64>, read: Option<f64>, write: Option<f64>) -> types::ConsumedCapacity {
        types::ConsumedCapacity::builder()
            .set_capacity_units(units)
            .set_read_capacity_units(read)
            .set_write_capacity_units(write)
            .build()
    }

    #[test]
    fn capacity_units_alone_count_as_the_operations_kind() {
        let entries = [entry(Some(1.5), None, None), entry(Some(2.0), None, None)];
        assert_eq!(
            sum(entries.iter(), Kind::Read),
            ConsumedCapacity {
                read_units: 3.5,
                write_units: 0.0
            }
        );
        assert_eq!(
            sum(entries.iter(), Kind::Write),
            ConsumedCapacity {
                read_units: 0.0,
                write_units: 3.5
            }
        );
        // Split units, as DynamoDB reports for transactions, are taken as given.
        let split = [entry(Some(3.0), Some(1.0), Some(2.0))];
        assert_eq!(
            sum(split.iter(), Kind::Write),
            ConsumedCapacity {
                read_units: 1.0,
                write_units: 2.0
            }
        );
    }

    #[tokio::test]
    async fn scopes_nest_and_carry_into_spawned_tasks() {
        assert!(current().is_none(), "no scope, no meter");
        let ((), outer) = measure(async {
            current().unwrap().add(&ConsumedCapacity {
                read_units: 1.0,
                write_units: 0.0,
            });
            let ((), inner) = measure(async {
                current().unwrap().add(&ConsumedCapacity {
                    read_units: 0.5,
                    write_units: 2.0,
                });
            })
            .await;
            assert_eq!(
                inner,
                ConsumedCapacity {
                    read_units: 0.5,
                    write_units: 2.0
                }
            );
            tokio::spawn(carry(async {
                current().unwrap().add(&ConsumedCapacity {
                    read_units: 0.0,
                    write_units: 1.0,
                });
            }))
            .await
            .unwrap();
            // Without carry, a spawned task sees no scope.
            let seen = tokio::spawn(async { current().is_some() }).await.unwrap();
            assert!(!seen);
        })
        .await;
        assert_eq!(
            outer,
            ConsumedCapacity {
                read_units: 1.5,
                write_units: 3.0
            }
        );
    }
}
