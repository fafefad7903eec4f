//! The limits a room or user must meet before anything of it is stored, shared by every writer
//! (the import and the sync): sizes that keep DynamoDB keys and items valid, the department id
//! length the API and the rollup keys take, and metric values every figure can add up. A
//! document past them would make a put fail (and a retried cycle fail the same way), or a day
//! unbuildable and every request over it answer 500.

use std::collections::{HashMap, HashSet};

use crate::domain::aggregate::Aggregator;
use crate::domain::conversation::Conversation;
use crate::domain::figure::{Figure, MetricField};
use crate::domain::identity::User;
use crate::dynamo::items::conversation_item;

use super::DocError;

/// The longest id (room, user, username, permission) stored: keys that hold one stay far
/// below DynamoDB's key limits (2048 bytes partition, 1024 sort).
pub const MAX_ID_BYTES: usize = 512;
/// The API refuses a longer `departmentId`, and the rollup keys hold it.
pub const MAX_DEPARTMENT_ID_CHARS: usize = 256;
/// Roles of one user or permission, in bytes: DynamoDB's item limit is 400 KB.
pub const MAX_ROLES_BYTES: usize = 300 * 1024;
/// Departments one UTC day may hold: a day's rollup state lists them in one item (400 KB),
/// and each costs seven rollup items per rebuild. Far above any real workspace's departments.
pub const MAX_DEPARTMENTS_PER_DAY: usize = 300;

pub fn id_size(field: &str, value: &str) -> Result<(), DocError> {
    if value.len() > MAX_ID_BYTES {
        return Err(DocError::Invalid {
            field: field.into(),
            problem: format!("{} bytes; at most {MAX_ID_BYTES}", value.len()),
        });
    }
    Ok(())
}

pub fn roles_size(roles: &[String]) -> Result<(), DocError> {
    let bytes: usize = roles.iter().map(|r| r.len() + 4).sum();
    if bytes > MAX_ROLES_BYTES {
        return Err(DocError::Invalid {
            field: "roles".into(),
            problem: format!("{bytes} bytes; at most {MAX_ROLES_BYTES}"),
        });
    }
    Ok(())
}

/// A user's ids and roles fit their items.
pub fn check_user(user: &User) -> Result<(), DocError> {
    id_size("_id", &user.id)?;
    id_size("username", &user.username)?;
    roles_size(&user.roles)
}

/// A livechat room's ids, department and metrics fit its items and every figure.
pub fn check_conversation(tenant: &str, c: &Conversation) -> Result<(), DocError> {
    id_size("_id", &c.room_id)?;
    for (field, name) in [
        ("servedBy.username", &c.agent),
        ("responseBy.username", &c.responder),
    ] {
        if let Some(name) = name {
            id_size(field, name)?;
        }
    }
    if let Some(d) = &c.department_id {
        if d.chars().count() > MAX_DEPARTMENT_ID_CHARS {
            return Err(DocError::Invalid {
                field: "departmentId".into(),
                problem: format!(
                    "{} characters; the API and the rollups take at most \
                     {MAX_DEPARTMENT_ID_CHARS}",
                    d.chars().count()
                ),
            });
        }
    }
    conversation_item(tenant, c).map_err(|e| DocError::Invalid {
        field: "ts".into(),
        problem: e.problem,
    })?;
    figures_accept(c)
}

/// A day already holding `held` departments cannot take one more.
pub fn department_fits(held: usize) -> Result<(), DocError> {
    if held >= MAX_DEPARTMENTS_PER_DAY {
        return Err(DocError::Invalid {
            field: "departmentId".into(),
            problem: format!(
                "its day already holds {MAX_DEPARTMENTS_PER_DAY} departments, the most a day \
                 can hold"
            ),
        });
    }
    Ok(())
}

/// The departments each UTC day (epoch day) holds, as a writer admits rooms to it: a room that
/// would bring its day past [`MAX_DEPARTMENTS_PER_DAY`] is refused.
#[derive(Debug, Default)]
pub struct DayDepartments(HashMap<i64, HashSet<String>>);

impl DayDepartments {
    /// The UTC day (days since 1970) of a conversation started at `ts_ms`.
    pub fn day_of(ts_ms: i64) -> i64 {
        ts_ms.div_euclid(86_400_000)
    }

    /// Whether `day` was seen (or seeded) already.
    pub fn knows(&self, day: i64) -> bool {
        self.0.contains_key(&day)
    }

    /// The departments `day` already holds in the store.
    pub fn seed(&mut self, day: i64, held: impl IntoIterator<Item = String>) {
        self.0.entry(day).or_default().extend(held);
    }

    pub fn admit(&mut self, c: &Conversation) -> Result<(), DocError> {
        let Some(d) = &c.department_id else {
            return Ok(());
        };
        let held = self.0.entry(Self::day_of(c.ts_ms)).or_default();
        if !held.contains(d) {
            department_fits(held.len())?;
            held.insert(d.clone());
        }
        Ok(())
    }
}

/// Every figure's aggregator takes the conversation's metrics (a value it would refuse
/// would fail the rollups and every request over the day).
pub fn figures_accept(c: &Conversation) -> Result<(), DocError> {
    for figure in Figure::ALL {
        let metric = c.metric_for(figure);
        if Aggregator::new(figure)
            .add(c.ts_ms, Some("-"), metric)
            .is_err()
        {
            let field = match figure.metric_field() {
                MetricField::ChatDuration => "metrics.chatDuration",
                MetricField::FirstResponse => "metrics.response.ft",
                MetricField::AvgResponse => "metrics.response.avg",
                MetricField::FirstReaction => "metrics.reaction.ft",
                MetricField::AgentMessages | MetricField::None => "metrics",
            };
            return Err(DocError::Invalid {
                field: field.into(),
                problem: format!(
                    "{} is outside the range the figures can add up",
                    metric.unwrap_or_default()
                ),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_metric_the_figures_refuse_and_a_long_department_are_refused() {
        let mut c = Conversation::new("r", 1_717_200_000_000);
        assert!(check_conversation("t", &c).is_ok());
        c.chat_duration = Some(1e13);
        assert!(check_conversation("t", &c).is_err());
        c.chat_duration = Some(10.0);
        c.department_id = Some("d".repeat(MAX_DEPARTMENT_ID_CHARS + 1));
        assert!(check_conversation("t", &c).is_err());
        c.department_id = None;
        c.room_id = "r".repeat(MAX_ID_BYTES + 1);
        assert!(check_conversation("t", &c).is_err());
        assert!(department_fits(MAX_DEPARTMENTS_PER_DAY - 1).is_ok());
        assert!(department_fits(MAX_DEPARTMENTS_PER_DAY).is_err());
    }

    #[test]
    fn a_day_takes_a_bounded_number_of_departments() {
        let mut days = DayDepartments::default();
        let room = |i: usize, ts: i64| {
            let mut c = Conversation::new(format!("r{i}"), ts);
            c.department_id = Some(format!("d{i}"));
            c
        };
        for i in 0..MAX_DEPARTMENTS_PER_DAY {
            days.admit(&room(i, 0)).unwrap();
        }
        assert!(days.admit(&room(0, 1)).is_ok(), "a department it holds");
        assert!(days.admit(&room(9999, 2)).is_err(), "one more");
        assert!(days.admit(&room(9999, 86_400_000)).is_ok(), "another day");
    }
}
