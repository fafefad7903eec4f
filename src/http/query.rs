//! The query string, checked as Rocket.Chat's JSON schema checks it (Ajv, first error only:
//! `required` in order, then `additionalProperties`, then each property's type), and then the
//! checks Rocket.Chat leaves out (our documented deviations: 400 instead of a silent empty
//! success).

use crate::domain::figure::Figure;
use crate::domain::range::{days_inclusive, ReportDate};

/// Properties of Rocket.Chat's `LivechatAnalyticsAgentOverviewPropsSchema`, in schema order.
const PROPERTIES: [&str; 4] = ["name", "from", "to", "departmentId"];
/// The first three properties, in the order Ajv reports them missing.
const REQUIRED: [&str; 3] = ["name", "from", "to"];

/// Longest `departmentId` accepted: it becomes part of a DynamoDB key (2 KB at most).
pub const MAX_DEPARTMENT_ID_CHARS: usize = 256;

/// The query as the schema accepts it: every present property is a single string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawQuery {
    pub name: String,
    pub from: String,
    pub to: String,
    pub department_id: Option<String>,
}

/// What the query string gave for one of the schema's properties.
#[derive(Debug, Default)]
struct Slot {
    /// The last value given (only used when it is the only one).
    value: Option<String>,
    /// How many times the key was given.
    count: usize,
    /// `key[]=…` or `key[x]=…`: an array or object to Rocket.Chat's query parser.
    bracketed: bool,
}

/// Reads the query string in one pass, keeping only the four known properties (a query
/// with thousands of keys costs linear time and no memory beyond them).
fn collect(raw_query: &str) -> ([Slot; 4], bool) {
    let mut slots: [Slot; 4] = Default::default();
    let mut unknown = false;
    for (k, v) in form_urlencoded::parse(raw_query.as_bytes()) {
        let (key, bracketed) = match k.find('[') {
            Some(i) if i > 0 => (&k[..i], true),
            _ => (&k[..], false),
        };
        match PROPERTIES.iter().position(|p| *p == key) {
            Some(i) => {
                let slot = &mut slots[i];
                slot.count += 1;
                slot.bracketed |= bracketed;
                slot.value = Some(v.into_owned());
            }
            None => unknown = true,
        }
    }
    (slots, unknown)
}

/// Schema validation; the error is Rocket.Chat's message without the suffix.
pub fn parse_query(raw_query: &str) -> Result<RawQuery, String> {
    let (slots, unknown) = collect(raw_query);
    for (name, slot) in REQUIRED.iter().zip(&slots) {
        if slot.count == 0 {
            return Err(format!("must have required property '{name}'"));
        }
    }
    if unknown {
        return Err("must NOT have additional properties".into());
    }
    if slots.iter().any(|s| s.bracketed || s.count > 1) {
        return Err("must be string".into());
    }
    let [name, from, to, department_id] = slots.map(|s| s.value);
    match (name, from, to) {
        (Some(name), Some(from), Some(to)) => Ok(RawQuery {
            name,
            from,
            to,
            department_id,
        }),
        _ => Err("must have required property 'name'".into()),
    }
}

/// A request the figures can answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverviewQuery {
    pub figure: Figure,
    pub from: ReportDate,
    pub to: ReportDate,
    pub department_id: Option<String>,
    pub days: i64,
}

/// The checks Rocket.Chat does not make (it answers `{"success":true}` instead): run after
/// the permission check, where Rocket.Chat's own silent answer happens.
pub fn validate(raw: RawQuery, max_range_days: u32) -> Result<OverviewQuery, String> {
    let figure = Figure::parse(&raw.name).ok_or_else(|| {
        let names: Vec<_> = Figure::ALL.iter().map(|f| f.name()).collect();
        format!("name must be one of {}", names.join(", "))
    })?;
    let from = ReportDate::parse(&raw.from).map_err(|e| format!("from {e}"))?;
    let to = ReportDate::parse(&raw.to).map_err(|e| format!("to {e}"))?;
    if from.0 > to.0 {
        return Err("from must not be after to".into());
    }
    let days = days_inclusive(from, to);
    if days > i64::from(max_range_days) {
        return Err(format!(
            "the range from..to must not be longer than {max_range_days} days"
        ));
    }
    if let Some(d) = &raw.department_id {
        if d.chars().count() > MAX_DEPARTMENT_ID_CHARS {
            return Err(format!(
                "departmentId must NOT have more than {MAX_DEPARTMENT_ID_CHARS} characters"
            ));
        }
    }
    // Rocket.Chat filters only on `departmentId && departmentId !== 'undefined'` (its own client
    // can send that string): both spellings mean every department.
    let department_id = raw
        .department_id
        .filter(|d| !d.is_empty() && d != "undefined");
    Ok(OverviewQuery {
        figure,
        from,
        to,
        department_id,
        days,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn required_properties_are_reported_in_schema_order() {
        assert_eq!(
            parse_query("from=x").unwrap_err(),
            "must have required property 'name'"
        );
        assert_eq!(
            parse_query("name=a&to=x").unwrap_err(),
            "must have required property 'from'"
        );
        assert_eq!(
            parse_query("name=a&from=x").unwrap_err(),
            "must have required property 'to'"
        );
        assert_eq!(
            parse_query("").unwrap_err(),
            "must have required property 'name'"
        );
    }

    #[test]
    fn required_beats_additional_which_beats_type() {
        assert_eq!(
            parse_query("limit=5&from=x&to=y").unwrap_err(),
            "must have required property 'name'"
        );
        assert_eq!(
            parse_query("name=a&name=b&from=x&to=y&limit=5").unwrap_err(),
            "must NOT have additional properties"
        );
    }

    #[test]
    fn repeated_or_bracketed_parameters_are_not_strings() {
        for q in [
            "name=a&name=b&from=x&to=y",
            "name=a&from=x&from=z&to=y",
            "name[]=a&from=x&to=y",
            "name=a&from=x&to=y&departmentId=1&departmentId=2",
            "name=a&from=x&to=y&departmentId[a]=1",
        ] {
            assert_eq!(parse_query(q).unwrap_err(), "must be string", "{q}");
        }
    }

    #[test]
    fn values_are_percent_decoded() {
        let q = parse_query("name=Total_conversations&from=2024-03-01T12%3A11%3A45.392Z&to=2024-03-02&departmentId=a%20b").unwrap();
        assert_eq!(q.from, "2024-03-01T12:11:45.392Z");
        assert_eq!(q.department_id.as_deref(), Some("a b"));
    }

    fn raw(name: &str, from: &str, to: &str) -> RawQuery {
        RawQuery {
            name: name.into(),
            from: from.into(),
            to: to.into(),
            department_id: None,
        }
    }

    #[test]
    fn deviations_name_the_problem() {
        assert!(validate(raw("Total_chats", "2024-03-01", "2024-03-02"), 10)
            .unwrap_err()
            .starts_with("name must be one of Total_conversations, "));
        assert_eq!(
            validate(raw("Total_messages", "last week", "2024-03-02"), 10).unwrap_err(),
            "from must start with a date as YYYY-MM-DD"
        );
        assert_eq!(
            validate(raw("Total_messages", "2024-03-01", ""), 10).unwrap_err(),
            "to must start with a date as YYYY-MM-DD"
        );
        assert_eq!(
            validate(raw("Total_messages", "2024-03-06", "2024-03-01"), 10).unwrap_err(),
            "from must not be after to"
        );
        assert_eq!(
            validate(raw("Total_messages", "2024-03-01", "2024-03-11"), 10).unwrap_err(),
            "the range from..to must not be longer than 10 days"
        );
        let mut long = raw("Total_messages", "2024-03-01", "2024-03-01");
        long.department_id = Some("d".repeat(MAX_DEPARTMENT_ID_CHARS + 1));
        assert_eq!(
            validate(long, 10).unwrap_err(),
            "departmentId must NOT have more than 256 characters"
        );
    }

    #[test]
    fn no_filter_spellings_of_department_become_none() {
        for (given, expected) in [
            (Some(""), None),
            (Some("undefined"), None),
            (Some("D1"), Some("D1")),
            (None, None),
        ] {
            let mut q = raw("Total_messages", "2024-03-01", "2024-03-01");
            q.department_id = given.map(String::from);
            assert_eq!(
                validate(q, 10).unwrap().department_id.as_deref(),
                expected,
                "{given:?}"
            );
        }
    }

    #[test]
    fn thousands_of_unknown_keys_are_one_additional_properties_error() {
        let q = format!("name=a&from=b&to=c{}", "&k=v".repeat(10_000));
        assert_eq!(
            parse_query(&q).unwrap_err(),
            "must NOT have additional properties"
        );
    }

    #[test]
    fn a_same_day_range_at_the_maximum_is_accepted() {
        let q = validate(raw("Total_messages", "2024-03-01", "2024-03-10"), 10).unwrap();
        assert_eq!(q.days, 10);
        assert_eq!(q.figure, Figure::TotalMessages);
    }

    /// Random query strings (the fuzz target's job, on stable): parsing and validation never
    /// panic, every answer is one of the documented messages and never echoes the input, and
    /// an accepted query is what the schema promises.
    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn piece() -> impl Strategy<Value = String> {
            prop_oneof![
                prop::sample::select(vec![
                    "name",
                    "from",
                    "to",
                    "departmentId",
                    "name[]",
                    "from[x]",
                    "[",
                    "]",
                    "=",
                    "&",
                    "&&",
                    "%",
                    "%zz",
                    "%FF",
                    "%26",
                    "%3D",
                    "+",
                    "Total_conversations",
                    "Avg_reaction_time",
                    "2024-03-01",
                    "2024-02-29",
                    "9999-12-31",
                    "1000-01-01",
                    "0999-12-31",
                    "T12:00:00Z",
                    "undefined",
                    "\u{e9}",
                    "\u{1F600}",
                ])
                .prop_map(String::from),
                "\\PC{0,12}",
                any::<String>().prop_map(|s| s.chars().take(16).collect()),
            ]
        }

        fn query() -> impl Strategy<Value = String> {
            prop::collection::vec(piece(), 0..24).prop_map(|p| p.concat())
        }

        /// A `from`/`to` value: mostly date-shaped, sometimes anything.
        fn date_value() -> impl Strategy<Value = String> {
            prop_oneof![
                "[0-9]{4}-[0-9]{2}-[0-9]{2}(T[0-9:.Z]{0,12})?",
                "[0-9]{4}-[0-9]{2}-[0-9]\\PC{0,3}",
                "\\PC{0,14}",
            ]
        }

        const PARSE_ERRORS: [&str; 5] = [
            "must have required property 'name'",
            "must have required property 'from'",
            "must have required property 'to'",
            "must NOT have additional properties",
            "must be string",
        ];

        fn is_validation_error(message: &str) -> bool {
            message.starts_with("name must be one of ")
                || message == "from must start with a date as YYYY-MM-DD"
                || message == "to must start with a date as YYYY-MM-DD"
                || message == "from must not be after to"
                || message.starts_with("the range from..to must not be longer than ")
                || message == "departmentId must NOT have more than 256 characters"
        }

        fn check_validated(raw: RawQuery, max: u32) -> Result<(), TestCaseError> {
            match validate(raw.clone(), max) {
                Ok(q) => {
                    prop_assert!(q.from.0 <= q.to.0);
                    prop_assert!(q.days >= 1 && q.days <= i64::from(max));
                    prop_assert_eq!(q.figure.name(), raw.name.as_str());
                    if let Some(d) = &q.department_id {
                        prop_assert!(!d.is_empty() && d != "undefined");
                        prop_assert!(d.chars().count() <= MAX_DEPARTMENT_ID_CHARS);
                    }
                }
                Err(message) => {
                    prop_assert!(is_validation_error(&message), "{}", message);
                    prop_assert!(message.len() < 300, "bounded, never an echo of the input");
                }
            }
            Ok(())
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

            #[test]
            fn any_query_string_gets_a_documented_answer(q in query(), max in 1u32..4000) {
                let pairs: Vec<(String, String)> =
                    form_urlencoded::parse(q.as_bytes()).into_owned().collect();
                match parse_query(&q) {
                    Ok(raw) => {
                        let count = |name: &str| pairs.iter().filter(|(k, _)| k == name).count();
                        let value = |name: &str| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
                        for name in REQUIRED {
                            prop_assert_eq!(count(name), 1, "{}", name);
                        }
                        prop_assert!(count("departmentId") <= 1);
                        prop_assert!(pairs.iter().all(|(k, _)| PROPERTIES.contains(&k.as_str())));
                        prop_assert_eq!(Some(raw.name.clone()), value("name"));
                        prop_assert_eq!(Some(raw.from.clone()), value("from"));
                        prop_assert_eq!(Some(raw.to.clone()), value("to"));
                        prop_assert_eq!(raw.department_id.clone(), value("departmentId"));
                        check_validated(raw, max)?;
                    }
                    Err(message) => {
                        prop_assert!(PARSE_ERRORS.contains(&message.as_str()), "{}", message);
                    }
                }
            }

            #[test]
            fn any_dates_get_a_documented_answer(
                name in prop::sample::select(vec!["Total_messages", "Avg_chat_duration", "x"]),
                from in date_value(),
                to in date_value(),
                department in prop::option::of("\\PC{0,300}"),
                max in 1u32..4000,
            ) {
                let raw = RawQuery { name: name.into(), from, to, department_id: department };
                check_validated(raw, max)?;
            }
        }
    }
}
