//! `users`: the user (username, roles, `utcOffset`) and its resume login tokens, which Meteor
//! already stores hashed exactly as we key sessions, so existing tokens keep working.

use serde_json::Value;

use super::{Doc, DocError};
use crate::domain::identity::{hash_token, Session, User};

/// One login token of `services.resume.loginTokens`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginToken {
    /// `base64(sha256(token))`.
    pub hashed_token: String,
    /// `when`, ms since the epoch.
    pub issued_at_ms: i64,
}

impl LoginToken {
    /// The session item's parts: the session and its TTL (epoch seconds), `days` after `when`.
    pub fn session(
        &self,
        tenant: &str,
        user_id: &str,
        login_expiration_days: u32,
    ) -> (Session, i64) {
        let expires_at_s =
            self.issued_at_ms.div_euclid(1000) + i64::from(login_expiration_days) * 86_400;
        let session = Session {
            tenant: tenant.to_string(),
            user_id: user_id.to_string(),
            issued_at_ms: self.issued_at_ms,
            generation: None,
        };
        (session, expires_at_s)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct UserDoc {
    /// `None` when the account has no username yet (Rocket.Chat allows that during sign-up):
    /// it cannot appear in any figure and is not imported.
    pub user: Option<User>,
    /// Rocket.Chat's `active` (missing: active). A deactivated user keeps no working session.
    pub active: bool,
    pub tokens: Vec<LoginToken>,
    /// Personal access tokens (no `when`): they never expire in Rocket.Chat, which our sessions
    /// cannot express, so they are counted, not imported.
    pub personal_access_tokens: u32,
}

pub fn read_user(doc: &Doc) -> Result<UserDoc, DocError> {
    let id = doc.str("_id")?.to_string();
    let username = doc.opt_str("username")?.map(str::to_string);
    let roles = doc.string_list("roles")?;
    let utc_offset = doc.opt_f64("utcOffset")?;
    let active = doc.opt_bool("active")?.unwrap_or(true);
    let mut tokens = Vec::new();
    let mut personal_access_tokens = 0;
    for (i, entry) in doc
        .opt_array("services.resume.loginTokens")?
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        let field = format!("services.resume.loginTokens[{i}]");
        let Value::Object(map) = entry else {
            return Err(DocError::wrong(&field, "an object"));
        };
        let token = Doc(map.clone());
        let within = |e: DocError| e.within(&field);
        if token.opt_str("type").map_err(within)? == Some("personalAccessToken") {
            personal_access_tokens += 1;
            continue;
        }
        let hashed = token.opt_str("hashedToken").map_err(within)?;
        let raw = token.opt_str("token").map_err(within)?;
        let hashed_token = match (hashed, raw) {
            (Some(hashed), _) => hashed.to_string(),
            // Meteor before 0.7.1 kept the raw token; hash it as Meteor would on login.
            (None, Some(raw)) => hash_token(raw),
            (None, None) => return Err(DocError::Missing(format!("{field}.hashedToken"))),
        };
        let issued_at_ms = token.date_ms("when").map_err(within)?;
        tokens.push(LoginToken {
            hashed_token,
            issued_at_ms,
        });
    }
    Ok(UserDoc {
        user: username.map(|username| User {
            id,
            username,
            roles,
            utc_offset,
            generation: None,
        }),
        active,
        tokens,
        personal_access_tokens,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(text: &str) -> Result<UserDoc, DocError> {
        read_user(&Doc::parse(text.as_bytes()).unwrap())
    }

    #[test]
    fn relaxed_user_with_tokens() {
        let u = user(
            r#"{"_id":"hPW","username":"boss","roles":["user","livechat-manager"],"utcOffset":5.5,
            "services":{"resume":{"loginTokens":[{"when":{"$date":"2026-11-24T09:00:00.000Z"},"hashedToken":"W70A="}]}}}"#,
        )
        .unwrap();
        assert_eq!(
            u.user,
            Some(User {
                id: "hPW".into(),
                username: "boss".into(),
                roles: vec!["user".into(), "livechat-manager".into()],
                utc_offset: Some(5.5),
                generation: None,
            })
        );
        assert_eq!(
            u.tokens,
            vec![LoginToken {
                hashed_token: "W70A=".into(),
                issued_at_ms: 1_795_510_800_000
            }]
        );
    }

    #[test]
    fn canonical_user_and_session_expiry() {
        let u = user(
            r#"{"_id":"kX","username":"root","roles":["admin"],"utcOffset":{"$numberInt":"-3"},
            "services":{"resume":{"loginTokens":[{"when":{"$date":{"$numberLong":"1795424400000"}},"hashedToken":"URP="}]}}}"#,
        )
        .unwrap();
        assert_eq!(u.user.as_ref().and_then(|u| u.utc_offset), Some(-3.0));
        let (session, expires_at_s) = u.tokens[0].session("acme", "kX", 3650);
        assert_eq!(session.issued_at_ms, 1_795_424_400_000);
        assert_eq!(session.tenant, "acme");
        assert_eq!(expires_at_s, 1_795_424_400 + 3650 * 86_400);
    }

    #[test]
    fn user_without_services_or_roles() {
        let u = user(r#"{"_id":"Fb","username":"zoe","type":"user"}"#).unwrap();
        assert_eq!(u.user.map(|u| u.roles), Some(vec![]));
        assert!(u.tokens.is_empty());
    }

    #[test]
    fn no_username_means_no_user() {
        let u = user(r#"{"_id":"x","roles":["user"]}"#).unwrap();
        assert_eq!(u.user, None);
    }

    #[test]
    fn personal_access_tokens_are_counted_and_raw_tokens_hashed() {
        let u = user(
            r#"{"_id":"x","username":"u","services":{"resume":{"loginTokens":[
              {"hashedToken":"PAT=","type":"personalAccessToken","name":"ci","createdAt":{"$date":"2024-01-01T00:00:00Z"}},
              {"token":"gxgXWqb89Ishvk1GHyxL2qVIVimYIHT89g4BJePeBUZ","when":{"$date":"2024-01-01T00:00:00Z"}}]}}}"#,
        )
        .unwrap();
        assert_eq!(u.personal_access_tokens, 1);
        assert_eq!(
            u.tokens[0].hashed_token,
            "lFqY+nmwfEnh1GlluwIlWMgjMJT4a5jXW+Bzs2H9o18="
        );
    }

    #[test]
    fn malformed_users_name_the_field() {
        for (text, message) in [
            (r#"{"username":"u"}"#, "_id is missing"),
            (r#"{"_id":"x","roles":"admin"}"#, "roles is not an array"),
            (
                r#"{"_id":"x","roles":[1]}"#,
                "roles is not a list of strings",
            ),
            (
                r#"{"_id":"x","utcOffset":"+2"}"#,
                "utcOffset is not a number",
            ),
            (
                r#"{"_id":"x","services":{"resume":{"loginTokens":[{"hashedToken":"h"}]}}}"#,
                "services.resume.loginTokens[0].when is missing",
            ),
            (
                r#"{"_id":"x","services":{"resume":{"loginTokens":[{"when":{"$date":"2024-01-01T00:00:00Z"}}]}}}"#,
                "services.resume.loginTokens[0].hashedToken is missing",
            ),
            (
                r#"{"_id":"x","services":{"resume":{"loginTokens":["a"]}}}"#,
                "services.resume.loginTokens[0] is not an object",
            ),
        ] {
            assert_eq!(user(text).unwrap_err().to_string(), message, "{text}");
        }
    }
}
