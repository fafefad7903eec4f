//! `rocketchat_settings`: the three settings the endpoint reads, out of the hundreds a
//! workspace has. Each is one document `{_id, value, packageValue}`.

use super::{Doc, DocError};
use crate::domain::identity::{
    ReportingZoneKind, ReportingZoneSetting, TenantSettings, DEFAULT_LOGIN_EXPIRATION_DAYS,
};

pub const REPORTING_TIMEZONE: &str = "Default_Timezone_For_Reporting";
pub const CUSTOM_TIMEZONE: &str = "Default_Custom_Timezone";
pub const LOGIN_EXPIRATION: &str = "Accounts_LoginExpiration";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Setting {
    ReportingZone(ReportingZoneKind),
    /// Empty means unset.
    CustomTimezone(Option<String>),
    /// `None`: Rocket.Chat's default applies (the value is 0, negative or unset).
    LoginExpirationDays(Option<u32>),
    /// Any other setting: not used by the endpoint.
    Other,
}

pub fn read_setting(doc: &Doc) -> Result<Setting, DocError> {
    let id = doc.str("_id")?;
    // An unchanged setting may hold only its default, in `packageValue`.
    let field = if doc.get("value")?.is_some() {
        "value"
    } else {
        "packageValue"
    };
    match id {
        REPORTING_TIMEZONE => match doc.opt_str(field)? {
            None => Ok(Setting::ReportingZone(ReportingZoneKind::Server)),
            Some(mode) => {
                mode.parse()
                    .map(Setting::ReportingZone)
                    .map_err(|problem| DocError::Invalid {
                        field: field.into(),
                        problem,
                    })
            }
        },
        CUSTOM_TIMEZONE => Ok(Setting::CustomTimezone(
            doc.opt_str(field)?
                .map(str::trim)
                .filter(|z| !z.is_empty())
                .map(str::to_string),
        )),
        LOGIN_EXPIRATION => login_expiration(doc.opt_f64(field)?)
            .map(Setting::LoginExpirationDays)
            .map_err(|problem| DocError::Invalid {
                field: field.into(),
                problem,
            }),
        _ => Ok(Setting::Other),
    }
}

/// Rocket.Chat (`getLoginExpirationInDays`) falls back to 90 days for 0, negative or missing
/// values. It would accept a fractional number of days; our sessions hold whole days, so
/// that is reported rather than rounded.
fn login_expiration(days: Option<f64>) -> Result<Option<u32>, String> {
    match days {
        None => Ok(None),
        Some(d) if d <= 0.0 => Ok(None),
        Some(d) if d.fract() != 0.0 => Err(format!("{d} days is not a whole number of days")),
        Some(d) if d > f64::from(u32::MAX) => Err(format!("{d} days is too large")),
        Some(d) => Ok(Some(d as u32)),
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SettingsError {
    #[error("{REPORTING_TIMEZONE} is custom but {CUSTOM_TIMEZONE} is not set")]
    MissingCustomZone,
    #[error("{CUSTOM_TIMEZONE} {0:?} is not an IANA time zone")]
    UnknownZone(String),
}

/// The settings read so far; the last document of a setting wins, as in MongoDB.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SettingsDraft {
    mode: Option<ReportingZoneKind>,
    custom_zone: Option<String>,
    login_expiration_days: Option<u32>,
}

impl SettingsDraft {
    pub fn apply(&mut self, setting: Setting) {
        match setting {
            Setting::ReportingZone(mode) => self.mode = Some(mode),
            Setting::CustomTimezone(zone) => self.custom_zone = zone,
            Setting::LoginExpirationDays(days) => self.login_expiration_days = days,
            Setting::Other => {}
        }
    }

    /// The custom zone is checked only when it is used: a workspace may keep a stale one
    /// while reporting in the server's or the user's zone.
    pub fn build(self) -> Result<TenantSettings, SettingsError> {
        let reporting_timezone = match self.mode.unwrap_or(ReportingZoneKind::Server) {
            ReportingZoneKind::Server => ReportingZoneSetting::Server,
            ReportingZoneKind::User => ReportingZoneSetting::User,
            ReportingZoneKind::Custom => {
                let zone = self.custom_zone.ok_or(SettingsError::MissingCustomZone)?;
                ReportingZoneSetting::Custom(validate_zone(&zone)?)
            }
        };
        Ok(TenantSettings {
            reporting_timezone,
            login_expiration_days: self
                .login_expiration_days
                .unwrap_or(DEFAULT_LOGIN_EXPIRATION_DAYS),
        })
    }
}

/// An IANA zone name as chrono-tz knows it (the handler resolves it the same way).
pub fn validate_zone(zone: &str) -> Result<String, SettingsError> {
    zone.parse::<chrono_tz::Tz>()
        .map(|tz| tz.name().to_string())
        .map_err(|_| SettingsError::UnknownZone(zone.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setting(text: &str) -> Result<Setting, DocError> {
        read_setting(&Doc::parse(text.as_bytes()).unwrap())
    }

    fn settings(lines: &[&str]) -> Result<TenantSettings, SettingsError> {
        let mut draft = SettingsDraft::default();
        for l in lines {
            draft.apply(setting(l).unwrap());
        }
        draft.build()
    }

    #[test]
    fn relaxed_custom_zone_settings() {
        let s = settings(&[
            r#"{"_id":"Default_Timezone_For_Reporting","value":"custom"}"#,
            r#"{"_id":"Default_Custom_Timezone","value":"America/New_York"}"#,
            r#"{"_id":"Accounts_LoginExpiration","value":3650}"#,
        ])
        .unwrap();
        assert_eq!(
            s,
            TenantSettings {
                reporting_timezone: ReportingZoneSetting::Custom("America/New_York".into()),
                login_expiration_days: 3650,
            }
        );
    }

    #[test]
    fn canonical_user_zone_settings_ignore_the_unused_custom_zone() {
        let s = settings(&[
            r#"{"_id":"Default_Timezone_For_Reporting","value":"user"}"#,
            r#"{"_id":"Default_Custom_Timezone","value":"Not/AZone"}"#,
            r#"{"_id":"Accounts_LoginExpiration","value":{"$numberInt":"3650"}}"#,
        ])
        .unwrap();
        assert_eq!(s.reporting_timezone, ReportingZoneSetting::User);
        assert_eq!(s.login_expiration_days, 3650);
    }

    #[test]
    fn defaults_and_package_values() {
        assert_eq!(settings(&[]).unwrap(), TenantSettings::default());
        let s = settings(&[
            r#"{"_id":"Default_Timezone_For_Reporting","packageValue":"server"}"#,
            r#"{"_id":"Accounts_LoginExpiration","value":0,"packageValue":90}"#,
            r#"{"_id":"Site_Name","value":"Acme"}"#,
        ])
        .unwrap();
        assert_eq!(s, TenantSettings::default());
        assert_eq!(
            setting(r#"{"_id":"Accounts_LoginExpiration","value":30.0}"#).unwrap(),
            Setting::LoginExpirationDays(Some(30))
        );
    }

    #[test]
    fn bad_values_are_reported() {
        assert!(setting(r#"{"_id":"Default_Timezone_For_Reporting","value":"moon"}"#).is_err());
        assert!(setting(r#"{"_id":"Accounts_LoginExpiration","value":"90"}"#).is_err());
        assert!(setting(r#"{"_id":"Accounts_LoginExpiration","value":1.5}"#).is_err());
        assert_eq!(
            settings(&[r#"{"_id":"Default_Timezone_For_Reporting","value":"custom"}"#]),
            Err(SettingsError::MissingCustomZone)
        );
        assert_eq!(
            settings(&[
                r#"{"_id":"Default_Timezone_For_Reporting","value":"custom"}"#,
                r#"{"_id":"Default_Custom_Timezone","value":"Mars/Olympus"}"#,
            ]),
            Err(SettingsError::UnknownZone("Mars/Olympus".into()))
        );
    }
}
