//! Users, roles and settings of a tenant, as an operator changes them by hand.

use std::fmt;

use crate::dynamo::Client;

use super::session::end_sessions_of;
use super::Report;
use crate::config::TableNames;
use crate::domain::identity::{
    ReportingZoneKind, ReportingZoneSetting, TenantId, TenantSettings, User,
};
use crate::dynamo::identity_writes::{
    delete_user as delete_user_item, get_settings, get_user, put_settings,
    put_user_keeping_generation, set_roles,
};
use crate::rocketchat::setting::{validate_zone, SettingsError};
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    #[error("a user id and a username must not be empty")]
    EmptyName,
    #[error("--utc-offset must be between -14 and 14 hours")]
    BadOffset,
    #[error("tenant {tenant} has no user {user_id}")]
    NoSuchUser { tenant: String, user_id: String },
    #[error("a role must not be empty")]
    EmptyRole,
    #[error("--custom-timezone applies only to the custom reporting time zone")]
    ZoneWithoutCustom,
    #[error("the custom reporting time zone needs --custom-timezone ZONE")]
    CustomWithoutZone,
    #[error("--login-expiration-days must be at least 1")]
    NoDays,
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error("the directory store failed")]
    Store(#[from] StoreError),
}

/// What `add-user` stored.
#[derive(Debug, Clone, PartialEq)]
pub struct UserStored {
    pub tenant: TenantId,
    pub user_id: String,
    pub username: String,
}

impl fmt::Display for UserStored {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "tenant {}: user {} ({}) stored",
            self.tenant, self.user_id, self.username
        )
    }
}

impl Report for UserStored {}

/// A tenant's settings after `set-settings`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingsStored {
    pub tenant: TenantId,
    pub settings: TenantSettings,
}

impl fmt::Display for SettingsStored {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let zone = match &self.settings.reporting_timezone {
            ReportingZoneSetting::Custom(z) => format!("custom ({z})"),
            other => other.kind().as_str().to_string(),
        };
        writeln!(
            f,
            "tenant {}: reporting time zone {zone}, login expiration {} days",
            self.tenant, self.settings.login_expiration_days
        )
    }
}

impl Report for SettingsStored {}

/// A user's roles after `grant-role` or `revoke-role`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRoles {
    pub tenant: TenantId,
    pub user_id: String,
    pub roles: Vec<String>,
}

impl fmt::Display for UserRoles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "tenant {}: user {} has roles [{}]",
            self.tenant,
            self.user_id,
            self.roles.join(", ")
        )
    }
}

impl Report for UserRoles {}

/// Puts the user, replacing one with the same id.
pub async fn add_user(
    client: &Client,
    names: &TableNames,
    tenant: &TenantId,
    user: &User,
) -> Result<UserStored, DirectoryError> {
    if user.id.is_empty() || user.username.is_empty() {
        return Err(DirectoryError::EmptyName);
    }
    if user.roles.iter().any(String::is_empty) {
        return Err(DirectoryError::EmptyRole);
    }
    if matches!(user.utc_offset, Some(o) if !(-14.0..=14.0).contains(&o)) {
        return Err(DirectoryError::BadOffset);
    }
    put_user_keeping_generation(client, &names.directory, tenant.as_str(), user).await?;
    Ok(UserStored {
        tenant: tenant.clone(),
        user_id: user.id.clone(),
        username: user.username.clone(),
    })
}

/// What `delete-user` removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserDeleted {
    pub tenant: TenantId,
    pub user_id: String,
    pub existed: bool,
    pub sessions: usize,
}

impl fmt::Display for UserDeleted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "tenant {}: user {} {}; {} session(s) revoked",
            self.tenant,
            self.user_id,
            if self.existed {
                "deleted"
            } else {
                "did not exist"
            },
            self.sessions
        )
    }
}

impl Report for UserDeleted {}

/// Deletes a user and ends every session of it. The user item goes first: from that moment
/// no session of the user admits anyone, even one the index has not shown yet.
pub async fn delete_user(
    client: &Client,
    names: &TableNames,
    tenant: &TenantId,
    user_id: &str,
) -> Result<UserDeleted, DirectoryError> {
    let existed = delete_user_item(client, &names.directory, tenant.as_str(), user_id).await?;
    let sessions = end_sessions_of(client, names, tenant, user_id).await?;
    Ok(UserDeleted {
        tenant: tenant.clone(),
        user_id: user_id.to_string(),
        existed,
        sessions,
    })
}

/// What `set-settings` changes; `None` keeps the current value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SettingsChange {
    pub reporting_timezone: Option<ReportingZoneKind>,
    pub custom_timezone: Option<String>,
    pub login_expiration_days: Option<u32>,
}

/// Applies `change` to the current settings (or the defaults) and stores the result.
pub async fn set_settings(
    client: &Client,
    names: &TableNames,
    tenant: &TenantId,
    change: &SettingsChange,
) -> Result<SettingsStored, DirectoryError> {
    let current = get_settings(client, &names.directory, tenant.as_str())
        .await?
        .unwrap_or_default();
    let next = apply(current, change)?;
    put_settings(client, &names.directory, tenant.as_str(), &next, false).await?;
    Ok(SettingsStored {
        tenant: tenant.clone(),
        settings: next,
    })
}

fn apply(
    current: TenantSettings,
    change: &SettingsChange,
) -> Result<TenantSettings, DirectoryError> {
    let current_kind = current.reporting_timezone.kind();
    let current_zone = match current.reporting_timezone {
        ReportingZoneSetting::Custom(zone) => Some(zone),
        _ => None,
    };
    let reporting_timezone = match change.reporting_timezone.unwrap_or(current_kind) {
        ReportingZoneKind::Custom => {
            let zone = change
                .custom_timezone
                .clone()
                .or(current_zone)
                .ok_or(DirectoryError::CustomWithoutZone)?;
            ReportingZoneSetting::Custom(validate_zone(&zone)?)
        }
        // The data model keeps a zone only for the custom mode; accepting one here would
        // silently drop it.
        _ if change.custom_timezone.is_some() => return Err(DirectoryError::ZoneWithoutCustom),
        ReportingZoneKind::Server => ReportingZoneSetting::Server,
        ReportingZoneKind::User => ReportingZoneSetting::User,
    };
    let login_expiration_days = match change.login_expiration_days {
        Some(0) => return Err(DirectoryError::NoDays),
        Some(days) => days,
        None => current.login_expiration_days,
    };
    Ok(TenantSettings {
        reporting_timezone,
        login_expiration_days,
    })
}

/// Adds `role` to the user's roles (once). Returns the roles after the change.
pub async fn grant_role(
    client: &Client,
    names: &TableNames,
    tenant: &TenantId,
    user_id: &str,
    role: &str,
) -> Result<UserRoles, DirectoryError> {
    change_roles(client, names, tenant, user_id, role, |roles| {
        if !roles.iter().any(|r| r == role) {
            roles.push(role.to_string());
        }
    })
    .await
}

/// Removes `role` from the user's roles. Returns the roles after the change.
pub async fn revoke_role(
    client: &Client,
    names: &TableNames,
    tenant: &TenantId,
    user_id: &str,
    role: &str,
) -> Result<UserRoles, DirectoryError> {
    change_roles(client, names, tenant, user_id, role, |roles| {
        roles.retain(|r| r != role)
    })
    .await
}

async fn change_roles(
    client: &Client,
    names: &TableNames,
    tenant: &TenantId,
    user_id: &str,
    role: &str,
    change: impl FnOnce(&mut Vec<String>),
) -> Result<UserRoles, DirectoryError> {
    let tenant_id = tenant;
    let tenant = tenant.as_str();
    if role.is_empty() {
        return Err(DirectoryError::EmptyRole);
    }
    let no_such_user = || DirectoryError::NoSuchUser {
        tenant: tenant.to_string(),
        user_id: user_id.to_string(),
    };
    let mut roles = get_user(client, &names.directory, tenant, user_id)
        .await?
        .ok_or_else(no_such_user)?
        .roles;
    change(&mut roles);
    // The update is conditional on the user still existing, so a concurrent delete is
    // reported rather than resurrecting a user without a username.
    if !set_roles(client, &names.directory, tenant, user_id, &roles).await? {
        return Err(no_such_user());
    }
    Ok(UserRoles {
        tenant: tenant_id.clone(),
        user_id: user_id.to_string(),
        roles,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn custom(zone: &str) -> TenantSettings {
        TenantSettings {
            reporting_timezone: ReportingZoneSetting::Custom(zone.into()),
            login_expiration_days: 90,
        }
    }

    #[test]
    fn switching_to_custom_needs_a_valid_zone() {
        let change = SettingsChange {
            reporting_timezone: Some(ReportingZoneKind::Custom),
            ..Default::default()
        };
        assert!(matches!(
            apply(TenantSettings::default(), &change),
            Err(DirectoryError::CustomWithoutZone)
        ));
        let change = SettingsChange {
            reporting_timezone: Some(ReportingZoneKind::Custom),
            custom_timezone: Some("Europe/Berlin".into()),
            ..Default::default()
        };
        assert_eq!(
            apply(TenantSettings::default(), &change).unwrap(),
            custom("Europe/Berlin")
        );
        let change = SettingsChange {
            custom_timezone: Some("Nowhere/Land".into()),
            ..Default::default()
        };
        assert!(matches!(
            apply(custom("Europe/Berlin"), &change),
            Err(DirectoryError::Settings(SettingsError::UnknownZone(_)))
        ));
    }

    #[test]
    fn unchanged_fields_keep_their_values() {
        let change = SettingsChange {
            login_expiration_days: Some(3650),
            ..Default::default()
        };
        let next = apply(custom("Asia/Kolkata"), &change).unwrap();
        assert_eq!(
            next.reporting_timezone,
            ReportingZoneSetting::Custom("Asia/Kolkata".into())
        );
        assert_eq!(next.login_expiration_days, 3650);
    }

    #[test]
    fn a_zone_without_the_custom_mode_is_refused() {
        let change = SettingsChange {
            reporting_timezone: Some(ReportingZoneKind::User),
            custom_timezone: Some("Europe/Berlin".into()),
            ..Default::default()
        };
        assert!(matches!(
            apply(TenantSettings::default(), &change),
            Err(DirectoryError::ZoneWithoutCustom)
        ));
        let change = SettingsChange {
            login_expiration_days: Some(0),
            ..Default::default()
        };
        assert!(matches!(
            apply(TenantSettings::default(), &change),
            Err(DirectoryError::NoDays)
        ));
    }
}
