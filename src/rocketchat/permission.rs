//! `rocketchat_permissions`: `{_id: permission, roles: [...]}`, the workspace's own role lists.

use super::{Doc, DocError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permission {
    pub id: String,
    pub roles: Vec<String>,
}

/// A permission without `roles` would silently grant nobody; it is reported instead.
pub fn read_permission(doc: &Doc) -> Result<Permission, DocError> {
    let id = doc.str("_id")?.to_string();
    if doc.get("roles")?.is_none() {
        return Err(DocError::Missing("roles".into()));
    }
    Ok(Permission {
        id,
        roles: doc.string_list("roles")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_an_override() {
        let d = Doc::parse(br#"{"_id":"view-livechat-manager","roles":["admin","livechat-manager","auditor"],"_updatedAt":{"$date":"2024-01-01T00:00:00Z"}}"#).unwrap();
        assert_eq!(
            read_permission(&d).unwrap(),
            Permission {
                id: "view-livechat-manager".into(),
                roles: vec!["admin".into(), "livechat-manager".into(), "auditor".into()],
            }
        );
    }

    #[test]
    fn roles_are_required() {
        let d = Doc::parse(br#"{"_id":"p"}"#).unwrap();
        assert_eq!(
            read_permission(&d).unwrap_err().to_string(),
            "roles is missing"
        );
    }
}
