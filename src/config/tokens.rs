//! The tokens file: bearer tokens are kept as SHA-256 hashes (a stolen tokens file does not hand
//! out access) and compared in constant time; each token carries one role and the tenant or
//! unit it acts for.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Why a tokens file is unusable.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// It cannot be read.
    #[error("cannot read tokens file {}: {source}", .path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// It does not parse, or a row is incomplete.
    #[error("tokens file {}: {message}", .path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong, with the token's position.
        message: String,
    },
}

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// A platform operator submitting media for a tenant.
    Operator {
        /// The tenant.
        tenant: String,
    },
    /// An investigator of one unit.
    Investigator {
        /// The unit.
        unit: String,
    },
    /// An administrator.
    Admin {
        /// Name for the audit trail.
        name: String,
    },
    /// A regional hashguard server that mirrors this one's lists (fetches their deltas only).
    Mirror {
        /// Name for the audit trail.
        name: String,
    },
}

impl Principal {
    /// The role's name.
    pub fn role(&self) -> &'static str {
        match self {
            Principal::Operator { .. } => "operator",
            Principal::Investigator { .. } => "investigator",
            Principal::Admin { .. } => "admin",
            Principal::Mirror { .. } => "mirror",
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenRow {
    /// SHA-256 of the token, hex.
    sha256: String,
    role: String,
    #[serde(default)]
    tenant: Option<String>,
    #[serde(default)]
    unit: Option<String>,
    #[serde(default)]
    name: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TokensFile {
    #[serde(default)]
    token: Vec<TokenRow>,
}

/// The accepted tokens.
#[derive(Debug, Clone, Default)]
pub struct Tokens {
    entries: Vec<([u8; 32], Principal)>,
}

/// SHA-256 of a token, hex (what the tokens file stores).
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

impl Tokens {
    /// Reads a tokens file (TOML, `[[token]]` tables with `sha256`, `role`, and `tenant`,
    /// `unit` or `name`).
    pub fn load(path: &Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text).map_err(|message| Error::Invalid {
            path: path.to_path_buf(),
            message,
        })
    }

    /// Parses a tokens file.
    pub fn parse(text: &str) -> Result<Self, String> {
        let file: TokensFile = toml::from_str(text).map_err(|e| e.to_string())?;
        let mut entries = Vec::new();
        for (i, t) in file.token.into_iter().enumerate() {
            let n = i + 1;
            let hash: [u8; 32] = hex::decode(t.sha256.trim())
                .ok()
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| format!("token {n}: sha256 must be 64 hex characters"))?;
            let need = |v: Option<String>, what: &str| {
                v.filter(|s| !s.is_empty())
                    .ok_or_else(|| format!("token {n}: role {} needs `{what}`", t.role))
            };
            let p = match t.role.as_str() {
                "operator" => Principal::Operator {
                    tenant: need(t.tenant, "tenant")?,
                },
                "investigator" => Principal::Investigator {
                    unit: need(t.unit, "unit")?,
                },
                "admin" => Principal::Admin {
                    name: t.name.unwrap_or_else(|| "admin".into()),
                },
                "mirror" => Principal::Mirror {
                    name: t.name.unwrap_or_else(|| "mirror".into()),
                },
                other => {
                    return Err(format!(
                        "token {n}: unknown role {other:?} (operator, investigator, admin or mirror)"
                    ));
                }
            };
            entries.push((hash, p));
        }
        Ok(Tokens { entries })
    }

    /// The principal of a presented token. Every stored hash is compared, in constant time, so
    /// timing says nothing about which (or whether a prefix) matched.
    pub fn check(&self, token: &str) -> Option<Principal> {
        let h: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let mut found = None;
        for (stored, p) in &self.entries {
            if bool::from(stored.ct_eq(&h)) {
                found = Some(p.clone());
            }
        }
        found
    }

    /// True when no token is configured.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_checked_by_hash_and_carry_their_role() {
        let text = format!(
            "[[token]]\nsha256 = \"{}\"\nrole = \"operator\"\ntenant = \"acme\"\n\n\
             [[token]]\nsha256 = \"{}\"\nrole = \"investigator\"\nunit = \"unit-a\"\n",
            token_hash("op-secret"),
            token_hash("inv-secret")
        );
        let t = Tokens::parse(&text).unwrap();
        assert_eq!(
            t.check("op-secret"),
            Some(Principal::Operator {
                tenant: "acme".into()
            })
        );
        assert_eq!(
            t.check("inv-secret"),
            Some(Principal::Investigator {
                unit: "unit-a".into()
            })
        );
        assert_eq!(t.check("op-secre"), None);
        let bad = "[[token]]\nsha256 = \"00\"\nrole = \"operator\"\ntenant = \"x\"\n";
        assert!(Tokens::parse(bad).unwrap_err().contains("64 hex"));
        let bad = format!(
            "[[token]]\nsha256 = \"{}\"\nrole = \"operator\"\n",
            token_hash("x")
        );
        assert!(Tokens::parse(&bad).unwrap_err().contains("tenant"));
    }
}
