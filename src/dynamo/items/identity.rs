//! The directory and sessions tables: sessions, users, settings and permission overrides.

use super::{attr, f, n, s, sk, string_list, Item, MalformedItem, Reader};
use crate::domain::identity::{
    ReportingZoneKind, ReportingZoneSetting, Session, TenantSettings, User,
};

pub fn session_item(token_hash: &str, session: &Session, expires_at_s: i64) -> Item {
    let mut item = Item::from([
        (attr::TOKEN_HASH.into(), s(token_hash)),
        (attr::TENANT.into(), s(session.tenant.clone())),
        (attr::USER_ID.into(), s(session.user_id.clone())),
        (attr::ISSUED_AT.into(), n(session.issued_at_ms)),
        (attr::EXPIRES_AT.into(), n(expires_at_s)),
    ]);
    if let Some(g) = &session.generation {
        item.insert(attr::GENERATION.into(), s(g.clone()));
    }
    item
}

pub fn user_item(tenant: &str, user: &User) -> Item {
    let mut item = Item::from([
        (attr::PK.into(), s(tenant)),
        (attr::SK.into(), s(sk::user(&user.id))),
        (attr::USER_ID.into(), s(user.id.clone())),
        (attr::USERNAME.into(), s(user.username.clone())),
        (attr::ROLES.into(), string_list(&user.roles)),
    ]);
    if let Some(o) = user.utc_offset {
        item.insert(attr::UTC_OFFSET.into(), f(o));
    }
    if let Some(g) = &user.generation {
        item.insert(attr::GENERATION.into(), s(g.clone()));
    }
    item
}

pub fn settings_item(tenant: &str, settings: &TenantSettings) -> Item {
    let mut item = Item::from([
        (attr::PK.into(), s(tenant)),
        (attr::SK.into(), s(sk::SETTINGS)),
        (
            attr::LOGIN_EXPIRATION_DAYS.into(),
            n(settings.login_expiration_days),
        ),
    ]);
    if let ReportingZoneSetting::Custom(zone) = &settings.reporting_timezone {
        item.insert(attr::CUSTOM_TIMEZONE.into(), s(zone.clone()));
    }
    let kind = settings.reporting_timezone.kind().as_str();
    item.insert(attr::REPORTING_TIMEZONE.into(), s(kind));
    item
}

pub fn permission_item(tenant: &str, permission: &str, roles: &[String]) -> Item {
    Item::from([
        (attr::PK.into(), s(tenant)),
        (attr::SK.into(), s(sk::permission(permission))),
        (attr::ROLES.into(), string_list(roles)),
    ])
}

pub fn read_session(item: &Item, key: &str) -> Result<Session, MalformedItem> {
    let r = Reader::new(item, key);
    Ok(Session {
        tenant: r.str(attr::TENANT)?.to_string(),
        user_id: r.str(attr::USER_ID)?.to_string(),
        issued_at_ms: r.number(attr::ISSUED_AT)?,
        generation: r.opt_str(attr::GENERATION)?.map(str::to_string),
    })
}

pub fn read_user(item: &Item, key: &str) -> Result<User, MalformedItem> {
    let r = Reader::new(item, key);
    Ok(User {
        id: r.str(attr::USER_ID)?.to_string(),
        username: r.str(attr::USERNAME)?.to_string(),
        roles: r.string_list(attr::ROLES)?,
        utc_offset: r.opt_metric(attr::UTC_OFFSET)?,
        generation: r.opt_str(attr::GENERATION)?.map(str::to_string),
    })
}

pub fn read_settings(item: &Item, key: &str) -> Result<TenantSettings, MalformedItem> {
    let r = Reader::new(item, key);
    let kind = match r.opt_str(attr::REPORTING_TIMEZONE)? {
        None => ReportingZoneKind::Server,
        Some(kind) => kind
            .parse()
            .map_err(|_| r.malformed(format!("unknown reportingTimezone {kind:?}")))?,
    };
    let reporting_timezone = match kind {
        ReportingZoneKind::Server => ReportingZoneSetting::Server,
        ReportingZoneKind::User => ReportingZoneSetting::User,
        ReportingZoneKind::Custom => {
            ReportingZoneSetting::Custom(r.str(attr::CUSTOM_TIMEZONE)?.to_string())
        }
    };
    Ok(TenantSettings {
        reporting_timezone,
        login_expiration_days: r
            .opt_number(attr::LOGIN_EXPIRATION_DAYS)?
            .unwrap_or(crate::domain::identity::DEFAULT_LOGIN_EXPIRATION_DAYS),
    })
}
