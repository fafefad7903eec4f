//! Who is calling, and what the tenant allows: sessions, users, settings, permissions.

/// The permission the endpoint requires.
pub const VIEW_LIVECHAT_MANAGER: &str = "view-livechat-manager";

/// Rocket.Chat's default roles for `view-livechat-manager`.
pub const DEFAULT_VIEW_LIVECHAT_MANAGER_ROLES: [&str; 2] = ["admin", "livechat-manager"];

/// Rocket.Chat's monitor role. In Rocket.Chat Enterprise a monitor sees only the departments of
/// its units; this service has no units, so a caller whose only granting role is this one is
/// refused (403), a documented deviation.
pub const LIVECHAT_MONITOR: &str = "livechat-monitor";

/// Rocket.Chat's default `Accounts_LoginExpiration`, in days.
pub const DEFAULT_LOGIN_EXPIRATION_DAYS: u32 = 90;

/// A stored login session. The token itself is never held, only its hash (the key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub tenant: String,
    pub user_id: String,
    /// When the token was issued (Rocket.Chat's `when`), ms since the epoch.
    pub issued_at_ms: i64,
    /// The generation of the user it was issued to (see [`User::generation`]).
    pub generation: Option<String>,
}

impl Session {
    /// Valid while `now < issued + expiration days`, as Rocket.Chat computes it.
    pub fn is_valid_at(&self, now_ms: i64, login_expiration_days: u32) -> bool {
        let lifetime_ms = i64::from(login_expiration_days) * 86_400_000;
        now_ms < self.issued_at_ms.saturating_add(lifetime_ms)
    }
}

/// A user of a tenant.
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub id: String,
    pub username: String,
    pub roles: Vec<String>,
    /// Hours from UTC, as Rocket.Chat's client reports it (may be fractional).
    pub utc_offset: Option<f64>,
    /// Set when the user item is created and kept while it exists: a user deleted and created
    /// again gets a new one, so sessions of the old user never admit the new one. `None` on
    /// items written before generations existed (they match sessions without one).
    pub generation: Option<String>,
}

/// The reporting-zone setting as stored: Rocket.Chat's `Default_Timezone_For_Reporting` with
/// `Default_Custom_Timezone`. Resolved for a caller, it is a `range::ReportingZone`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ReportingZoneSetting {
    /// The server's zone; UTC for this service.
    #[default]
    Server,
    /// An IANA zone name, with its DST.
    Custom(String),
    /// The caller's `utcOffset`, when it is a whole number of hours.
    User,
}

impl ReportingZoneSetting {
    pub fn kind(&self) -> ReportingZoneKind {
        match self {
            ReportingZoneSetting::Server => ReportingZoneKind::Server,
            ReportingZoneSetting::Custom(_) => ReportingZoneKind::Custom,
            ReportingZoneSetting::User => ReportingZoneKind::User,
        }
    }
}

/// The reporting-zone setting's kind, without the custom zone: Rocket.Chat's values of
/// `Default_Timezone_For_Reporting`, which are also the stored ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportingZoneKind {
    Server,
    Custom,
    User,
}

impl ReportingZoneKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ReportingZoneKind::Server => "server",
            ReportingZoneKind::Custom => "custom",
            ReportingZoneKind::User => "user",
        }
    }
}

impl std::str::FromStr for ReportingZoneKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "server" => Ok(ReportingZoneKind::Server),
            "custom" => Ok(ReportingZoneKind::Custom),
            "user" => Ok(ReportingZoneKind::User),
            other => Err(format!("{other:?} is not one of server, custom, user")),
        }
    }
}

/// Per-tenant settings that the endpoint reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantSettings {
    pub reporting_timezone: ReportingZoneSetting,
    pub login_expiration_days: u32,
}

impl Default for TenantSettings {
    fn default() -> Self {
        Self {
            reporting_timezone: ReportingZoneSetting::Server,
            login_expiration_days: DEFAULT_LOGIN_EXPIRATION_DAYS,
        }
    }
}

/// What one directory read returns for a tenant's sign-in: its connection's Rocket.Chat URL
/// (`None`: not connected, nobody signs in), its settings and its permission override.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TenantSignIn {
    pub url: Option<String>,
    pub settings: TenantSettings,
    pub view_livechat_manager_roles: Option<Vec<String>>,
}

/// What one directory read returns for a caller.
#[derive(Debug, Clone, PartialEq)]
pub struct CallerContext {
    /// `None` when the session's user no longer exists.
    pub user: Option<User>,
    pub settings: TenantSettings,
    /// The tenant's override of `view-livechat-manager`'s roles, if any.
    pub view_livechat_manager_roles: Option<Vec<String>>,
}

impl CallerContext {
    /// Whether `session` still admits its caller: the user exists, is the same generation the
    /// session was issued to, and the login has not expired.
    pub fn admits(&self, session: &Session, now_ms: i64) -> bool {
        self.user
            .as_ref()
            .is_some_and(|user| user.generation == session.generation)
            && session.is_valid_at(now_ms, self.settings.login_expiration_days)
    }

    /// Whether the caller holds `view-livechat-manager` (roles are read live, with the request)
    /// through a role other than `livechat-monitor` (see [`LIVECHAT_MONITOR`]).
    pub fn can_view_livechat_manager(&self) -> bool {
        let Some(user) = &self.user else {
            return false;
        };
        let grants = |role: &String| match &self.view_livechat_manager_roles {
            Some(allowed) => allowed.contains(role),
            None => DEFAULT_VIEW_LIVECHAT_MANAGER_ROLES.contains(&role.as_str()),
        };
        user.roles
            .iter()
            .any(|r| r != LIVECHAT_MONITOR && grants(r))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(roles: &[&str], over: Option<&[&str]>) -> CallerContext {
        CallerContext {
            user: Some(User {
                id: "u1".into(),
                username: "u".into(),
                roles: roles.iter().map(|s| s.to_string()).collect(),
                utc_offset: None,
                generation: None,
            }),
            settings: TenantSettings::default(),
            view_livechat_manager_roles: over.map(|o| o.iter().map(|s| s.to_string()).collect()),
        }
    }

    #[test]
    fn default_roles_grant_admin_and_manager_only() {
        assert!(caller(&["admin"], None).can_view_livechat_manager());
        assert!(caller(&["user", "livechat-manager"], None).can_view_livechat_manager());
        assert!(!caller(&["user", "livechat-agent"], None).can_view_livechat_manager());
        assert!(!caller(&[], None).can_view_livechat_manager());
    }

    #[test]
    fn override_replaces_the_defaults() {
        let over: &[&str] = &["auditor"];
        assert!(caller(&["auditor"], Some(over)).can_view_livechat_manager());
        assert!(!caller(&["admin"], Some(over)).can_view_livechat_manager());
    }

    #[test]
    fn a_monitor_only_caller_is_refused_even_when_the_tenant_grants_monitors() {
        let over: &[&str] = &["admin", "livechat-manager", "livechat-monitor"];
        assert!(!caller(&["user", "livechat-monitor"], Some(over)).can_view_livechat_manager());
        assert!(
            caller(&["livechat-monitor", "livechat-manager"], Some(over))
                .can_view_livechat_manager()
        );
        assert!(!caller(&["livechat-monitor"], None).can_view_livechat_manager());
    }

    #[test]
    fn missing_user_has_no_permission() {
        let mut c = caller(&["admin"], None);
        c.user = None;
        assert!(!c.can_view_livechat_manager());
    }

    #[test]
    fn session_expires_after_the_login_expiration() {
        let s = Session {
            tenant: "t".into(),
            user_id: "u".into(),
            issued_at_ms: 0,
            generation: None,
        };
        assert!(s.is_valid_at(86_400_000 - 1, 1));
        assert!(!s.is_valid_at(86_400_000, 1));
    }
}

/// A tenant id, checked once where it enters (an operator's argument): `[A-Za-z0-9_-]{1,64}`.
/// No `#`, so nothing that follows a tenant id in a key can reach into another tenant's key
/// space. Everything past the entry point takes a `TenantId` and need not check again.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TenantId(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a valid tenant id (1 to 64 of A-Z a-z 0-9 _ -)")]
pub struct InvalidTenantId(pub String);

impl TenantId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for TenantId {
    type Error = InvalidTenantId;

    fn try_from(id: String) -> Result<Self, InvalidTenantId> {
        let valid = !id.is_empty()
            && id.len() <= 64
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if valid {
            Ok(Self(id))
        } else {
            Err(InvalidTenantId(id))
        }
    }
}

impl std::str::FromStr for TenantId {
    type Err = InvalidTenantId;

    fn from_str(id: &str) -> Result<Self, InvalidTenantId> {
        Self::try_from(id.to_string())
    }
}

impl std::fmt::Display for TenantId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for TenantId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tenant_id_tests {
    use super::TenantId;

    #[test]
    fn tenant_ids_cannot_hold_a_key_separator() {
        assert!("acme-prod_1".parse::<TenantId>().is_ok());
        assert!("acme#2024-01".parse::<TenantId>().is_err());
        assert!("".parse::<TenantId>().is_err());
        assert!("a".repeat(65).parse::<TenantId>().is_err());
        assert_eq!(
            "a b".parse::<TenantId>().unwrap_err().to_string(),
            "\"a b\" is not a valid tenant id (1 to 64 of A-Z a-z 0-9 _ -)"
        );
    }
}

/// Rocket.Chat's `hashedToken`: `base64(sha256(token))`. Only this is ever stored or logged.
pub fn hash_token(token: &str) -> String {
    use base64::Engine;
    use sha2::{Digest, Sha256};
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod hash_token_tests {
    #[test]
    fn matches_rocket_chat_hashed_token() {
        // A token and its hash from the custom-zone fixture's users.json (user "root").
        assert_eq!(
            super::hash_token("gxgXWqb89Ishvk1GHyxL2qVIVimYIHT89g4BJePeBUZ"),
            "lFqY+nmwfEnh1GlluwIlWMgjMJT4a5jXW+Bzs2H9o18="
        );
    }
}
