//! Host names: which tenant a request's host names. Compared lower-case, without a port or a
//! trailing dot. A wildcard entry `*.analytics.example.com` maps `acme.analytics.example.com`
//! to the tenant whose id is its first label, `acme`. The host only chooses whom to ask; it
//! never admits anyone by itself.

use crate::domain::identity::TenantId;

/// Longest DNS name.
const MAX_HOST_LEN: usize = 253;

/// A host as a request carries it, normalised: ASCII lower-case, no port, no trailing dot.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Host(String);

impl Host {
    /// `None` for anything that is not a plain DNS name (IP literals, empty labels, non-ASCII).
    pub fn from_request(raw: &str) -> Option<Host> {
        let raw = raw.trim();
        // A port, if any (an IPv6 literal never reaches here: it is not a DNS name).
        let name = match raw.rsplit_once(':') {
            Some((name, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => {
                name
            }
            Some(_) => return None,
            None => raw,
        };
        let name = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
        valid_name(&name).then_some(Host(name))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The wildcard entry that covers this host, and the first label it would name:
    /// `acme.analytics.example.com` → (`*.analytics.example.com`, `acme`). Only for hosts of
    /// at least four labels, so a wildcard always sits under a registrable domain.
    pub fn wildcard(&self) -> Option<(String, &str)> {
        let (first, rest) = self.0.split_once('.')?;
        (rest.split('.').count() >= 3).then(|| (format!("*.{rest}"), first))
    }
}

/// What an operator names in `add-domain`: a host, or a wildcard whose first label is the
/// tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DomainEntry {
    Exact(Host),
    /// `*.suffix`, stored as written (lower-case).
    Wildcard(String),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadDomain {
    #[error("{0:?} is not a host name (letters, digits, - and _, dot-separated labels; no scheme, path or IP address)")]
    NotAHost(String),
    #[error(
        "{0:?}: a wildcard needs at least three labels after \"*.\" (e.g. *.analytics.example.com)"
    )]
    WildcardTooWide(String),
}

impl DomainEntry {
    /// Parses an operator's `--domain`: case-insensitive, a port or a trailing dot dropped.
    pub fn parse(raw: &str) -> Result<DomainEntry, BadDomain> {
        let bad = || BadDomain::NotAHost(raw.to_string());
        match raw.trim().strip_prefix("*.") {
            Some(rest) => {
                let host = Host::from_request(rest).ok_or_else(bad)?;
                if host.0.split('.').count() < 3 {
                    return Err(BadDomain::WildcardTooWide(raw.to_string()));
                }
                Ok(DomainEntry::Wildcard(format!("*.{}", host.0)))
            }
            None => Host::from_request(raw)
                .map(DomainEntry::Exact)
                .ok_or_else(bad),
        }
    }

    /// The directory sort key of the entry.
    pub fn key(&self) -> &str {
        match self {
            DomainEntry::Exact(h) => h.as_str(),
            DomainEntry::Wildcard(w) => w,
        }
    }
}

/// What the directory holds for a host: its exact entry's tenant, and whether a wildcard entry
/// covers it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostMapping {
    pub exact: Option<String>,
    pub wildcard: bool,
}

/// The tenant a host names: an exact entry's tenant first, else the first label under a
/// wildcard entry (when it is a valid tenant id).
pub fn resolve(host: &Host, mapping: &HostMapping) -> Option<TenantId> {
    if let Some(tenant) = &mapping.exact {
        return tenant.parse().ok();
    }
    if mapping.wildcard {
        return host.wildcard().and_then(|(_, label)| label.parse().ok());
    }
    None
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_HOST_LEN
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        })
        // An IPv4 literal is not a name a custom domain can have.
        && !name.split('.').all(|l| l.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_compare_without_case_port_or_trailing_dot() {
        let h = Host::from_request("ACME.Analytics.Example.com.:443").unwrap();
        assert_eq!(h.as_str(), "acme.analytics.example.com");
        assert_eq!(
            Host::from_request("acme.example.com"),
            Host::from_request("Acme.Example.COM.")
        );
        for bad in [
            "",
            "a..b",
            "a b.com",
            "127.0.0.1",
            "[::1]:80",
            "x.com:",
            "x.com:abc",
            "é.com",
            "a/b",
        ] {
            assert_eq!(Host::from_request(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_wildcard_names_the_first_label() {
        let h = Host::from_request("acme.analytics.example.com").unwrap();
        assert_eq!(
            h.wildcard(),
            Some(("*.analytics.example.com".into(), "acme"))
        );
        assert_eq!(Host::from_request("example.com").unwrap().wildcard(), None);
        assert_eq!(
            Host::from_request("a.example.com").unwrap().wildcard(),
            None
        );
        let map = |exact: Option<&str>, wildcard| HostMapping {
            exact: exact.map(str::to_string),
            wildcard,
        };
        assert_eq!(resolve(&h, &map(None, true)).unwrap().as_str(), "acme");
        let exact = resolve(&h, &map(Some("other"), true)).unwrap();
        assert_eq!(exact.as_str(), "other", "exact wins");
        assert_eq!(resolve(&h, &map(None, false)), None);
    }

    #[test]
    fn operators_name_hosts_or_wildcards() {
        assert_eq!(
            DomainEntry::parse("*.Analytics.Example.com").unwrap(),
            DomainEntry::Wildcard("*.analytics.example.com".into())
        );
        assert_eq!(
            DomainEntry::parse("Acme.Example.com.").unwrap().key(),
            "acme.example.com"
        );
        assert!(matches!(
            DomainEntry::parse("*.example.com"),
            Err(BadDomain::WildcardTooWide(_))
        ));
        assert!(DomainEntry::parse("https://acme.example.com").is_err());
        assert!(DomainEntry::parse("a.*.example.com").is_err());
    }
}
