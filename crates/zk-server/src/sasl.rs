//! SASL on the client port, as Apache 3.8's `ZooKeeperServer.processSasl` with the
//! `DigestLoginModule` JAAS `Server` section: DIGEST-MD5 only (no Kerberos).
//!
//! Owns: [`SaslSettings`] (the user database and its JAAS source) and the per-connection
//! exchange type the core keeps with each connection while a client authenticates. The
//! mechanism itself is [`zk_proto::sasl::digest_md5`]; what the core does with its
//! outcome (ids, replies, closing) is in `core.rs`:
//! - success adds the id `sasl:<user>` to the connection (and `super:` for the configured
//!   super user, Apache's `zookeeper.superUser`);
//! - failure answers `AuthFailed` (-115; `SessionClosedRequireSaslAuth` -124 when SASL is
//!   required) with zxid 0 and a null token, then closes the connection — unless
//!   `zookeeper.allowSaslFailedClients` keeps it open, as in Apache.
//!
//! # Where the user database comes from
//! The JAAS file Apache reads from the JVM property `java.security.auth.login.config`;
//! its section `Server` (Apache's `zookeeper.sasl.serverconfig` renames it) lists one
//! `user_<name>="<password>"` option per user. Apache's user names are not rewritten for
//! DIGEST-MD5 (its Kerberos name rules leave names without `@` alone), so the id is the
//! user name as the client sent it.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use zk_proto::sasl::jaas;
use zk_proto::sasl::{DigestMd5Server, PasswordLookup};

use crate::server::ServerError;

/// Apache's default JAAS section for the server (`zookeeper.sasl.serverconfig`).
pub const DEFAULT_SERVER_SECTION: &str = "Server";
/// The login module whose `user_<name>` options are DIGEST-MD5 users.
pub const DIGEST_LOGIN_MODULE: &str = "org.apache.zookeeper.server.auth.DigestLoginModule";

/// Which users may authenticate with SASL DIGEST-MD5, and how a successful or failed
/// exchange is treated. Debug output never shows passwords.
#[derive(Clone, Default)]
pub struct SaslSettings {
    users: Arc<HashMap<String, String>>,
    super_user: Option<String>,
    allow_failed_clients: bool,
}

impl fmt::Debug for SaslSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut users: Vec<&String> = self.users.keys().collect();
        users.sort();
        f.debug_struct("SaslSettings")
            .field("users", &users)
            .field("super_user", &self.super_user)
            .field("allow_failed_clients", &self.allow_failed_clients)
            .finish()
    }
}

impl SaslSettings {
    /// DIGEST-MD5 for these `(user, password)` pairs.
    pub fn digest_md5<U: Into<String>, P: Into<String>>(
        users: impl IntoIterator<Item = (U, P)>,
    ) -> Self {
        Self {
            users: Arc::new(
                users
                    .into_iter()
                    .map(|(u, p)| (u.into(), p.into()))
                    .collect(),
            ),
            ..Self::default()
        }
    }

    /// The users of `section` of the JAAS file at `path`; `None` when the file has no such
    /// section (Apache then offers no SASL, and neither does zk-server).
    ///
    /// # Errors
    /// [`ServerError::Config`] naming the file (and the line, for syntax errors): unreadable,
    /// not JAAS syntax, or a section whose login module is not `DigestLoginModule`.
    pub fn from_jaas_file(path: &Path, section: &str) -> Result<Option<Self>, ServerError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ServerError::Config(format!("JAAS file {}: cannot read: {e}", path.display()))
        })?;
        Self::from_jaas_str(&text, section)
            .map_err(|e| ServerError::Config(format!("JAAS file {}{e}", path.display())))
    }

    /// [`SaslSettings::from_jaas_file`] on the file's text; errors start with `:line: `
    /// (or `: ` when about the whole text) for the caller to prefix with the file name.
    fn from_jaas_str(text: &str, section: &str) -> Result<Option<Self>, String> {
        let sections = jaas::parse(text).map_err(|e| format!(":{}: {}", e.line, e.message))?;
        let Some(found) = sections.iter().find(|s| s.name == section) else {
            return Ok(None);
        };
        let mut users = HashMap::new();
        for module in &found.modules {
            if module.class != DIGEST_LOGIN_MODULE {
                // Apache would log in with it (Kerberos); zk-server has only DIGEST-MD5.
                return Err(format!(
                    ":{}: login module {} is not supported (only {DIGEST_LOGIN_MODULE})",
                    module.line, module.class
                ));
            }
            // Apache's SaslServerCallbackHandler: every `user_<name>` option is a user.
            for (key, value) in &module.options {
                if let Some(user) = key.strip_prefix("user_") {
                    users.insert(user.to_owned(), value.clone());
                }
            }
        }
        Ok(Some(Self::digest_md5(users)))
    }

    /// The SASL user that is also given the `super` id (Apache's `zookeeper.superUser`).
    pub fn super_user(mut self, user: impl Into<String>) -> Self {
        self.super_user = Some(user.into());
        self
    }

    /// Keeps a client whose exchange failed connected, unauthenticated (Apache's
    /// `zookeeper.allowSaslFailedClients`; ignored when SASL is required).
    pub fn allow_failed_clients(mut self, allow: bool) -> Self {
        self.allow_failed_clients = allow;
        self
    }

    /// The user names (for logs and tests).
    pub fn users(&self) -> impl Iterator<Item = &str> {
        self.users.keys().map(String::as_str)
    }

    pub(crate) fn is_super_user(&self, user: &str) -> bool {
        self.super_user.as_deref() == Some(user)
    }

    pub(crate) fn allows_failed_clients(&self) -> bool {
        self.allow_failed_clients
    }

    /// A fresh exchange for one connection.
    pub(crate) fn exchange(&self) -> Exchange {
        DigestMd5Server::new(Users(Arc::clone(&self.users)))
    }
}

/// One connection's DIGEST-MD5 exchange in progress (or finished).
pub(crate) type Exchange = DigestMd5Server<Users>;

/// The password lookup of an exchange: a shared, read-only user table.
#[derive(Clone)]
pub(crate) struct Users(Arc<HashMap<String, String>>);

impl fmt::Debug for Users {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Users(..)")
    }
}

impl PasswordLookup for Users {
    fn password(&self, username: &str) -> Option<String> {
        self.0.get(username).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_named_section_lists_its_user_options_as_users() {
        let text = r#"
            Client { org.apache.zookeeper.server.auth.DigestLoginModule required
                     username="alice" password="secret"; };
            Server { org.apache.zookeeper.server.auth.DigestLoginModule required
                     user_alice="secret" user_bob="pw" debug=true; };
        "#;
        let s = SaslSettings::from_jaas_str(text, "Server")
            .unwrap()
            .unwrap();
        let mut users: Vec<&str> = s.users().collect();
        users.sort_unstable();
        assert_eq!(users, ["alice", "bob"]);
        assert_eq!(
            Users(Arc::clone(&s.users)).password("bob"),
            Some("pw".into())
        );
        assert!(SaslSettings::from_jaas_str(text, "Other")
            .unwrap()
            .is_none());
        assert!(!format!("{s:?}").contains("secret"));
    }

    #[test]
    fn bad_files_name_the_line() {
        assert_eq!(
            SaslSettings::from_jaas_str("Server {\n  x required a=\n};", "Server").unwrap_err(),
            ":3: expected an option value, found Punct('}')"
        );
        let kerberos = "Server {\n com.sun.security.auth.module.Krb5LoginModule required;\n};";
        let err = SaslSettings::from_jaas_str(kerberos, "Server").unwrap_err();
        assert!(err.starts_with(":2: login module com.sun"), "{err}");
    }

    #[test]
    fn a_missing_file_is_named() {
        let err = SaslSettings::from_jaas_file(Path::new("/nonexistent/jaas.conf"), "Server")
            .unwrap_err()
            .to_string();
        assert!(err.contains("/nonexistent/jaas.conf"), "{err}");
    }
}
