//! The operator's bootstrap work on the service's database, without the service running
//! (`cavra db migrate`, `cavra tenant …`, `cavra token …`): its configuration read, the
//! database opened to write or only to read, and API tokens issued.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use cavra_identity::{IssuedToken, Role};
use std::collections::BTreeSet;

use cavra_tenant_store::{
    Db, Directory, Entitlement, EntitlementStatus, LogSettings, LogSigner, TenantStore, TokenRecord,
};

use crate::ServerConfig;
use crate::entitlement::EntitlementView;

/// Why an operator's command could not do its work.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The configuration or an argument is wrong (a usage error: the message says what).
    #[error("{0}")]
    Usage(String),
    /// The configuration file cannot be read.
    #[error("cannot read {}: {error}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        error: std::io::Error,
    },
    /// A command that only reads names a SQLite database that does not exist.
    #[error(
        "no database at {0} (check --database-url; `cavra db migrate` or `cavra serve` creates one)"
    )]
    NoDatabase(String),
    /// The database cannot be opened or migrated (its URL shown without a password).
    #[error("{url}: {error}")]
    Open {
        /// The database URL, without its password.
        url: String,
        /// Why.
        error: String,
    },
    /// Anything else (a key, randomness, a store call), with its message.
    #[error("{0}")]
    Other(String),
}

fn other(e: impl std::fmt::Display) -> AdminError {
    AdminError::Other(e.to_string())
}

/// The service's configuration: the file's (else the defaults), then the database URL and
/// signing key given on the command line or in the environment.
pub fn config(
    file: Option<&Path>,
    database_url: Option<&str>,
    signing_key: Option<&Path>,
) -> Result<ServerConfig, AdminError> {
    let mut config = match file {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|error| AdminError::Read {
                path: path.to_path_buf(),
                error,
            })?;
            ServerConfig::from_yaml(&text, &path.display().to_string())
                .map_err(AdminError::Usage)?
        }
        None => ServerConfig::default(),
    };
    if let Some(url) = database_url {
        config.database_url = url.to_string();
    }
    if let Some(key) = signing_key {
        config.signing_key = Some(key.to_path_buf());
    }
    Ok(config)
}

/// A key that signs nothing: these commands write tenants and tokens, never evidence.
fn throwaway_signer() -> Result<LogSigner, AdminError> {
    Ok(LogSigner {
        key_id: "unused".into(),
        key: cavra_runtime::keyfiles::fresh_key().map_err(other)?,
    })
}

/// Opens (creating and migrating) the database to write. Without a configured key
/// (PostgreSQL) a throwaway one stands in and signs nothing.
pub async fn open(config: &ServerConfig) -> Result<Db, AdminError> {
    let signer = match crate::load_signer(config) {
        Ok(s) => s,
        Err(_) if config.signing_key.is_none() => throwaway_signer()?,
        Err(e) => return Err(other(e)),
    };
    open_with(config, signer).await
}

/// Opens the database for a command that only reads: it must exist already (a mistyped
/// `--database-url` is an error, not a new empty database), and no signing key is created.
pub async fn open_existing(config: &ServerConfig) -> Result<Db, AdminError> {
    if let Some(path) = config.database_url.strip_prefix("sqlite://")
        && !Path::new(path).is_file()
    {
        return Err(AdminError::NoDatabase(path.to_string()));
    }
    open_with(config, throwaway_signer()?).await
}

async fn open_with(config: &ServerConfig, signer: LogSigner) -> Result<Db, AdminError> {
    let redactor = cavra_redact::Redactor::for_pack(&[], &[]).map_err(other)?;
    Db::open(
        &config.database_url,
        LogSettings {
            signer: Arc::new(signer),
            redactor: Arc::new(redactor),
        },
    )
    .await
    .map_err(|e| AdminError::Open {
        url: cavra_redact::url_without_password(&config.database_url),
        error: e.to_string(),
    })
}

/// An API token to issue.
#[derive(Debug, Clone)]
pub struct NewToken<'a> {
    /// The tenant it acts in (it must exist).
    pub tenant: &'a str,
    /// Its role.
    pub role: Role,
    /// Who it stands for (default: `token:ID`).
    pub subject: Option<&'a str>,
    /// The approver groups its holder belongs to.
    pub groups: &'a [String],
    /// Days until it expires (none: never).
    pub expires_in_days: Option<u32>,
}

/// Issues an API token at `now`: stores its record (only the secret's hash) and returns the
/// record with the token, whose secret is shown once.
pub async fn create_token(
    db: &Db,
    new: &NewToken<'_>,
    now: time::OffsetDateTime,
) -> Result<(TokenRecord, IssuedToken), AdminError> {
    let tenant = new.tenant;
    if db.tenant(tenant).await.map_err(other)?.is_none() {
        return Err(AdminError::Usage(format!(
            "no tenant `{tenant}`; create it first with `cavra tenant create {tenant}`"
        )));
    }
    let issued = IssuedToken::generate().map_err(other)?;
    let record = token_record(new, &issued, now);
    db.insert_token(&record).await.map_err(other)?;
    Ok((record, issued))
}

/// The stored record of `issued`.
fn token_record(
    new: &NewToken<'_>,
    issued: &IssuedToken,
    now: time::OffsetDateTime,
) -> TokenRecord {
    let expires_at = new
        .expires_in_days
        .map(|d| now + time::Duration::days(i64::from(d)));
    let mut record = TokenRecord::new(issued, new.tenant, new.role, now, expires_at);
    if let Some(subject) = new.subject {
        record.subject = subject.to_string();
    }
    record.groups = new.groups.to_vec();
    record
}

/// Changes to a tenant's entitlement, as `cavra tenant entitle` takes them: what is given
/// replaces what is stored, the rest stays.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EntitlementChange {
    /// The new status.
    pub status: Option<EntitlementStatus>,
    /// The new expiry (`Some(None)`: none).
    pub expires_at: Option<Option<String>>,
    /// The new features (`Some(None)`: every feature).
    pub features: Option<Option<BTreeSet<String>>>,
    /// Limits to set (`Some(n)`) or lift (`None`).
    pub limits: Vec<(String, Option<u64>)>,
}

impl EntitlementChange {
    /// The change the command line's words give: `status` (active, suspended, expired),
    /// `expires_at` (RFC 3339, or `never`), `features` (names, or the one word `all` or
    /// `none`), `limits` (`KIND=N`, or `KIND=none` to lift one).
    pub fn from_words(
        status: Option<&str>,
        expires_at: Option<&str>,
        features: &[String],
        limits: &[String],
    ) -> Result<EntitlementChange, AdminError> {
        let status = status
            .map(|w| {
                EntitlementStatus::parse(w).ok_or_else(|| {
                    AdminError::Usage(format!("--status {w}: use active, suspended or expired"))
                })
            })
            .transpose()?;
        let expires_at = expires_at.map(|w| (w != "never").then(|| w.to_string()));
        let features = match features {
            [] => None,
            [one] if one == "all" => Some(None),
            [one] if one == "none" => Some(Some(BTreeSet::new())),
            names => Some(Some(names.iter().cloned().collect())),
        };
        let limits = limits
            .iter()
            .map(|word| {
                let (kind, n) = word.split_once('=').ok_or_else(|| {
                    AdminError::Usage(format!("--limit {word}: write KIND=N or KIND=none"))
                })?;
                let n = match n {
                    "none" => None,
                    n => Some(n.parse::<u64>().map_err(|_| {
                        AdminError::Usage(format!("--limit {word}: {n} is not a count"))
                    })?),
                };
                Ok((kind.to_string(), n))
            })
            .collect::<Result<_, AdminError>>()?;
        Ok(EntitlementChange {
            status,
            expires_at,
            features,
            limits,
        })
    }

    /// `current` with the change applied, checked (unknown features or limits, a bad expiry
    /// are usage errors).
    pub fn apply(&self, mut current: Entitlement) -> Result<Entitlement, AdminError> {
        if let Some(status) = self.status {
            current.status = status;
        }
        if let Some(expires_at) = &self.expires_at {
            current.expires_at = expires_at.clone();
        }
        if let Some(features) = &self.features {
            current.features = features.clone();
        }
        for (kind, n) in &self.limits {
            match n {
                Some(n) => current.limits.insert(kind.clone(), *n),
                None => current.limits.remove(kind),
            };
        }
        current.check().map_err(AdminError::Usage)?;
        Ok(current)
    }
}

/// `tenant`'s entitlement in the database, as shown.
pub async fn entitlement(db: &Db, tenant: &str) -> Result<EntitlementView, AdminError> {
    let found = db
        .entitlement(tenant)
        .await
        .map_err(other)?
        .ok_or_else(|| AdminError::Usage(format!("no tenant `{tenant}`")))?;
    Ok(EntitlementView::new(
        tenant,
        found,
        time::OffsetDateTime::now_utc(),
    ))
}

/// Applies `change` to `tenant`'s entitlement in the database (the service's replicas see it
/// within their cache's 2 s).
pub async fn entitle(
    db: &Db,
    config: &ServerConfig,
    tenant: &str,
    change: &EntitlementChange,
) -> Result<EntitlementView, AdminError> {
    let next = change.apply(entitlement(db, tenant).await?.entitlement)?;
    crate::entitlement::check(&config.operator_tenant, tenant, &next).map_err(AdminError::Usage)?;
    if !db.set_entitlement(tenant, &next).await.map_err(other)? {
        return Err(AdminError::Usage(format!("no tenant `{tenant}`")));
    }
    Ok(EntitlementView::new(
        tenant,
        next,
        time::OffsetDateTime::now_utc(),
    ))
}

/// Applies `change` to `tenant`'s entitlement through the API service: reads it, changes it,
/// writes it back (`GET`/`PUT /v1/tenants/{tenant}/entitlement`, a platform admin's token).
/// `call(method, path, body)` sends one request and gives the service's JSON answer, or why
/// not; no change reads the entitlement only.
pub fn entitle_remote(
    mut call: impl FnMut(&str, &str, Option<&serde_json::Value>) -> Result<serde_json::Value, String>,
    tenant: &str,
    change: Option<&EntitlementChange>,
) -> Result<EntitlementView, AdminError> {
    let path = format!("/v1/tenants/{tenant}/entitlement");
    let read = |v: serde_json::Value| {
        serde_json::from_value::<EntitlementView>(v)
            .map_err(|e| other(format!("the service's entitlement does not read: {e}")))
    };
    let current = read(call("GET", &path, None).map_err(AdminError::Other)?)?;
    let Some(change) = change else {
        return Ok(current);
    };
    let next = serde_json::to_value(change.apply(current.entitlement)?).map_err(other)?;
    read(call("PUT", &path, Some(&next)).map_err(AdminError::Other)?)
}

/// What `cavra db migrate` reached.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Migrated {
    /// The database, its URL without a password.
    pub database: String,
    /// The schema version reached.
    pub schema_version: i64,
    /// Whether it is the one this build expects.
    pub current: bool,
}

impl Migrated {
    /// The sentence people read.
    pub fn to_text(&self) -> String {
        let state = if self.current {
            "current"
        } else {
            "NOT current"
        };
        format!(
            "{}: schema version {} ({state})",
            self.database, self.schema_version
        )
    }
}

/// Opens (creating and migrating) the database and says which schema version it reached.
pub async fn migrate(config: &ServerConfig) -> Result<Migrated, AdminError> {
    let db = open(config).await?;
    let r = db.readiness().await.map_err(other)?;
    Ok(Migrated {
        database: cavra_redact::url_without_password(&config.database_url),
        schema_version: r.schema_version,
        current: r.migrations_current,
    })
}

/// A usage error unless `id` can name a tenant.
pub fn check_tenant_id(id: &str) -> Result<(), AdminError> {
    if crate::api::tenants::valid_tenant_id(id) {
        Ok(())
    } else {
        Err(AdminError::Usage(
            "a tenant id is 1-64 lowercase letters, digits, - or _".into(),
        ))
    }
}

/// Creates a tenant (named by its id unless `name` is given); `false` when it exists already.
pub async fn create_tenant(db: &Db, id: &str, name: Option<&str>) -> Result<bool, AdminError> {
    check_tenant_id(id)?;
    db.create_tenant(&cavra_tenant_store::Tenant {
        id: id.to_string(),
        name: name.unwrap_or(id).to_string(),
        created_at: cavra_tenant_store::Timestamp::now(),
    })
    .await
    .map_err(other)
}

/// The tenants, one tab-separated line each (id, name, created).
pub fn tenants_text(tenants: &[cavra_tenant_store::Tenant]) -> String {
    tenants
        .iter()
        .map(|t| format!("{}\t{}\t{}\n", t.id, t.name, t.created_at))
        .collect()
}

/// A token as `cavra token create --json` shows it: the record, and its secret, once.
pub fn issued_json(record: &TokenRecord, role: Role, issued: &IssuedToken) -> serde_json::Value {
    serde_json::json!({
        "id": record.id, "tenant": record.tenant, "subject": record.subject,
        "role": role.as_str(), "groups": record.groups,
        "expires_at": record.expires_at.map(crate::format_time), "token": issued.plaintext(),
    })
}

/// A token as `cavra token list` shows it (never its secret or hash).
#[derive(Debug, Clone, serde::Serialize)]
pub struct TokenView {
    /// The public id.
    pub id: String,
    /// The tenant it acts in.
    pub tenant: String,
    /// Who it stands for.
    pub subject: String,
    /// Its role words.
    pub roles: Vec<String>,
    /// Its approver groups.
    pub groups: Vec<String>,
    /// When it was created.
    pub created_at: cavra_store::Timestamp,
    /// When it expires.
    pub expires_at: Option<cavra_store::Timestamp>,
    /// When it was revoked.
    pub revoked_at: Option<cavra_store::Timestamp>,
    /// `active`, `expired` or `revoked`, at the time of listing.
    pub state: &'static str,
}

/// The tokens (of one tenant, or all), as they stand at `now`.
pub async fn tokens(
    db: &Db,
    tenant: Option<&str>,
    now: time::OffsetDateTime,
) -> Result<Vec<TokenView>, AdminError> {
    let records = db.tokens(tenant).await.map_err(other)?;
    Ok(records
        .into_iter()
        .map(|t| TokenView {
            state: t.state(now),
            id: t.id,
            tenant: t.tenant,
            subject: t.subject,
            roles: t.roles.iter().map(|r| r.as_str().to_string()).collect(),
            groups: t.groups,
            created_at: cavra_store::Timestamp::at_or_epoch(t.created_at),
            expires_at: t.expires_at.map(cavra_store::Timestamp::at_or_epoch),
            revoked_at: t.revoked_at.map(cavra_store::Timestamp::at_or_epoch),
        })
        .collect())
}

/// The tokens, one tab-separated line each (id, tenant, roles, subject, state).
pub fn tokens_text(tokens: &[TokenView]) -> String {
    tokens
        .iter()
        .map(|t| {
            format!(
                "{}\t{}\t{}\t{}\t{}\n",
                t.id,
                t.tenant,
                t.roles.join(","),
                t.subject,
                t.state
            )
        })
        .collect()
}

/// Revokes an active token by its id; an error when there is none.
pub async fn revoke_token(db: &Db, id: &str) -> Result<(), AdminError> {
    match db
        .revoke_token(None, id, cavra_store::Timestamp::now())
        .await
    {
        Ok(true) => Ok(()),
        Ok(false) => Err(AdminError::Other(format!("no active token {id}"))),
        Err(e) => Err(other(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn the_command_line_overrides_the_file_and_a_bad_file_is_a_usage_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("server.yaml");
        std::fs::write(&file, "database_url: sqlite:///from-file.db\n").expect("write");
        let from_file = config(Some(&file), None, None).expect("config");
        assert_eq!(from_file.database_url, "sqlite:///from-file.db");
        let given = config(
            Some(&file),
            Some("sqlite:///given.db"),
            Some(Path::new("k.pem")),
        )
        .expect("config");
        assert_eq!(given.database_url, "sqlite:///given.db");
        assert_eq!(given.signing_key.as_deref(), Some(Path::new("k.pem")));
        std::fs::write(&file, "no_such_setting: 1\n").expect("write");
        assert!(matches!(
            config(Some(&file), None, None),
            Err(AdminError::Usage(_))
        ));
        assert!(matches!(
            config(Some(&dir.path().join("absent.yaml")), None, None),
            Err(AdminError::Read { .. })
        ));
    }

    #[test]
    fn a_token_record_holds_the_hash_its_role_and_its_expiry() {
        let issued = IssuedToken::generate().expect("token");
        let now = datetime!(2026-03-01 12:00 UTC);
        let groups = vec!["sre".to_string()];
        let new = NewToken {
            tenant: "acme",
            role: Role::Approver,
            subject: None,
            groups: &groups,
            expires_in_days: Some(2),
        };
        let record = token_record(&new, &issued, now);
        assert_eq!(record.subject, format!("token:{}", issued.token_id));
        assert_eq!(record.roles, [Role::Approver]);
        assert_eq!(record.digest, issued.digest);
        assert!(!record.digest.to_hex().contains(issued.plaintext()));
        assert_eq!(
            crate::format_time(record.created_at),
            "2026-03-01T12:00:00.000Z"
        );
        assert_eq!(
            record.expires_at.map(crate::format_time).as_deref(),
            Some("2026-03-03T12:00:00.000Z")
        );
        assert_eq!(record.state(now), "active");
    }

    #[test]
    fn an_entitlement_change_replaces_what_it_names_and_refuses_unknown_words() {
        let words = |s: Option<&str>, e: Option<&str>, f: &[&str], l: &[&str]| {
            let f: Vec<String> = f.iter().map(|w| w.to_string()).collect();
            let l: Vec<String> = l.iter().map(|w| w.to_string()).collect();
            EntitlementChange::from_words(s, e, &f, &l)
        };
        let start = Entitlement {
            limits: [("agents".to_string(), 2)].into(),
            ..Entitlement::default()
        };
        let suspended = words(Some("suspended"), None, &[], &["policy_packs=5"])
            .expect("words")
            .apply(start.clone())
            .expect("applies");
        assert_eq!(suspended.status, EntitlementStatus::Suspended);
        assert_eq!(suspended.features, None, "untouched");
        assert_eq!(
            suspended.limits,
            [("agents".to_string(), 2), ("policy_packs".to_string(), 5)].into()
        );
        let lifted = words(
            None,
            Some("2027-01-01T00:00:00Z"),
            &["none"],
            &["agents=none"],
        )
        .expect("words")
        .apply(start.clone())
        .expect("applies");
        assert_eq!(lifted.features, Some(BTreeSet::new()));
        assert!(lifted.limits.is_empty());
        assert_eq!(lifted.expires_at.as_deref(), Some("2027-01-01T00:00:00Z"));
        let never = words(None, Some("never"), &["all"], &[])
            .expect("words")
            .apply(lifted)
            .expect("applies");
        assert_eq!((never.expires_at, never.features), (None, None));
        for bad in [
            words(Some("paused"), None, &[], &[]).map(|_| ()),
            words(None, None, &[], &["agents"]).map(|_| ()),
            words(None, None, &[], &["agents=many"]).map(|_| ()),
            words(None, None, &["teleport"], &[]).and_then(|c| c.apply(start.clone()).map(|_| ())),
            words(None, Some("soon"), &[], &[]).and_then(|c| c.apply(start.clone()).map(|_| ())),
        ] {
            assert!(matches!(bad, Err(AdminError::Usage(_))), "{bad:?}");
        }
    }

    #[tokio::test]
    async fn a_reading_command_never_creates_a_database_and_a_token_needs_its_tenant() {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}", dir.path().join("s.db").display());
        let config = config(None, Some(&url), None).expect("config");
        assert!(matches!(
            open_existing(&config).await,
            Err(AdminError::NoDatabase(_))
        ));
        let db = open(&config).await.expect("opens");
        let none = create_token(
            &db,
            &NewToken {
                tenant: "nobody",
                role: Role::Agent,
                subject: None,
                groups: &[],
                expires_in_days: None,
            },
            time::OffsetDateTime::now_utc(),
        )
        .await;
        assert!(matches!(none, Err(AdminError::Usage(m)) if m.starts_with("no tenant `nobody`")));
        assert!(open_existing(&config).await.is_ok());
    }

    #[test]
    fn listings_are_a_line_each_and_a_bad_tenant_id_is_a_usage_error() {
        let migrated = Migrated {
            database: "sqlite:///x.db".into(),
            schema_version: 7,
            current: false,
        };
        assert_eq!(
            migrated.to_text(),
            "sqlite:///x.db: schema version 7 (NOT current)"
        );
        assert!(matches!(
            check_tenant_id("Acme!"),
            Err(AdminError::Usage(_))
        ));
        assert!(check_tenant_id("acme-1").is_ok());
        let tenants = [cavra_tenant_store::Tenant {
            id: "acme".into(),
            name: "Acme".into(),
            created_at: "2026-01-01T00:00:00.000Z".parse().expect("time"),
        }];
        assert_eq!(
            tenants_text(&tenants),
            "acme\tAcme\t2026-01-01T00:00:00.000Z\n"
        );
        let view = TokenView {
            id: "t1".into(),
            tenant: "acme".into(),
            subject: "ci".into(),
            roles: vec!["agent".into(), "auditor".into()],
            groups: vec![],
            created_at: "2026-01-01T00:00:00.000Z".parse().expect("time"),
            expires_at: None,
            revoked_at: None,
            state: "active",
        };
        assert_eq!(
            tokens_text(&[view]),
            "t1\tacme\tagent,auditor\tci\tactive\n"
        );
    }
}
