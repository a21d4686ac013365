//! The authentication keys of `zoo.cfg` (SASL and enforcement), apart from the rest of
//! [`crate::config`] so that each stays small.
//!
//! Apache turns every `zoo.cfg` key it does not know into the system property
//! `zookeeper.<key>`, which is where it reads these from; so each key is accepted with
//! and without the `zookeeper.` prefix, and as a `-Dzookeeper.<key>=…` flag of the
//! binary. The JAAS file is the exception: Apache reads it from the JVM property
//! `java.security.auth.login.config` (a `-D` flag of the binary as well), which a
//! `zoo.cfg` line cannot set; zk-server's own key for it is `jaasLoginConfig`.

use std::path::PathBuf;

use crate::sasl::{SaslSettings, DEFAULT_SERVER_SECTION};
use crate::server::{ServerBuilder, ServerError};

/// The SASL and enforcement settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthConfig {
    /// `authProvider.N=…SASLAuthenticationProvider`: `sasl` ACLs are accepted.
    pub sasl_provider: bool,
    /// `authProvider.N=…X509AuthenticationProvider`.
    pub x509_provider: bool,
    /// The JAAS file: zk-server's `jaasLoginConfig`, or the JVM property
    /// `java.security.auth.login.config` given as `-D` flag.
    pub jaas_config: Option<PathBuf>,
    /// `sasl.serverconfig`: the JAAS section (default `Server`).
    pub server_section: Option<String>,
    /// `superUser`: the SASL user that is also `super`.
    pub super_user: Option<String>,
    /// `sessionRequireClientSASLAuth`.
    pub require_sasl: Option<bool>,
    /// `enforce.auth.enabled`.
    pub enforce_enabled: Option<bool>,
    /// `enforce.auth.schemes` (comma-separated).
    pub enforce_schemes: Option<Vec<String>>,
    /// `allowSaslFailedClients`.
    pub allow_failed_clients: Option<bool>,
}

/// The JVM property Apache reads the JAAS file name from.
pub const JAAS_PROPERTY: &str = "java.security.auth.login.config";

impl AuthConfig {
    /// Takes `key` if it is one of these settings; `Ok(false)` if it is not.
    pub(crate) fn set(&mut self, key: &str, value: &str) -> Result<bool, ServerError> {
        let key = key.strip_prefix("zookeeper.").unwrap_or(key);
        let flag = |v: &str| super::flag(key, v);
        match key {
            "jaasLoginConfig" | JAAS_PROPERTY => self.jaas_config = Some(value.trim().into()),
            "sasl.serverconfig" => self.server_section = Some(value.trim().to_owned()),
            "superUser" => self.super_user = Some(value.trim().to_owned()),
            "sessionRequireClientSASLAuth" => self.require_sasl = Some(flag(value)?),
            "enforce.auth.enabled" => self.enforce_enabled = Some(flag(value)?),
            "enforce.auth.schemes" => {
                self.enforce_schemes = Some(
                    value
                        .split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned)
                        .collect(),
                )
            }
            "allowSaslFailedClients" => self.allow_failed_clients = Some(flag(value)?),
            "kerberos.removeHostFromPrincipal" | "kerberos.removeRealmFromPrincipal" => {
                // Kerberos name rules: DIGEST-MD5 user names have no host or realm to remove.
                flag(value)?;
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// The enforced schemes, as Apache's `AuthenticationHelper` decides them:
    /// `sessionRequireClientSASLAuth=true` means `sasl`, else `enforce.auth.schemes` when
    /// `enforce.auth.enabled=true`. Each must have a provider.
    fn enforced(&self, x509_served: bool) -> Result<Vec<String>, ServerError> {
        if self.require_sasl == Some(true) {
            return self.check_schemes(vec!["sasl".into()], x509_served);
        }
        if self.enforce_enabled != Some(true) {
            return Ok(Vec::new());
        }
        let schemes = self.enforce_schemes.clone().unwrap_or_default();
        if schemes.is_empty() {
            return Err(ServerError::Config(
                "enforce.auth.enabled is true: enforce.auth.schemes must be configured".into(),
            ));
        }
        self.check_schemes(schemes, x509_served)
    }

    fn check_schemes(
        &self,
        schemes: Vec<String>,
        x509_served: bool,
    ) -> Result<Vec<String>, ServerError> {
        for scheme in &schemes {
            let available = match scheme.as_str() {
                "digest" | "ip" => true,
                "sasl" => self.sasl_provider,
                "x509" => self.x509_provider || x509_served,
                _ => false,
            };
            if !available {
                return Err(ServerError::Config(format!(
                    "enforce.auth.schemes: authentication scheme {scheme} is not available \
                     (register its authProvider)"
                )));
            }
        }
        Ok(schemes)
    }

    /// Applies these settings; reads the JAAS file.
    pub(crate) fn apply(
        &self,
        mut b: ServerBuilder,
        x509_served: bool,
    ) -> Result<ServerBuilder, ServerError> {
        if let Some(path) = &self.jaas_config {
            let section = self
                .server_section
                .as_deref()
                .unwrap_or(DEFAULT_SERVER_SECTION);
            match SaslSettings::from_jaas_file(path, section)? {
                Some(mut sasl) => {
                    if let Some(user) = &self.super_user {
                        sasl = sasl.super_user(user.clone());
                    }
                    sasl = sasl.allow_failed_clients(self.allow_failed_clients == Some(true));
                    b = b.sasl(sasl);
                }
                // As Apache: a JAAS file without the section means no SASL.
                None => tracing::info!(
                    file = %path.display(),
                    section,
                    "no JAAS section for the server: SASL is off"
                ),
            }
        }
        b = b.sasl_acls(self.sasl_provider);
        Ok(b.enforce_auth(self.enforced(x509_served)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_taken_with_or_without_the_zookeeper_prefix_and_others_are_left() {
        let mut auth = AuthConfig::default();
        assert!(auth.set("zookeeper.superUser", "admin").unwrap());
        assert!(auth.set("sessionRequireClientSASLAuth", "true").unwrap());
        assert!(auth.set(JAAS_PROPERTY, "/etc/zk/jaas.conf").unwrap());
        assert!(auth
            .set("zookeeper.enforce.auth.schemes", "sasl, x509,")
            .unwrap());
        assert!(!auth.set("tickTime", "2000").unwrap());
        assert!(auth.set("allowSaslFailedClients", "maybe").is_err());
        assert_eq!(auth.super_user.as_deref(), Some("admin"));
        assert_eq!(auth.require_sasl, Some(true));
        assert_eq!(auth.jaas_config, Some(PathBuf::from("/etc/zk/jaas.conf")));
        assert_eq!(
            auth.enforce_schemes,
            Some(vec!["sasl".to_owned(), "x509".to_owned()])
        );
    }

    #[test]
    fn enforced_schemes_are_decided_and_checked_as_apache_does() {
        // Nothing enforced by default.
        assert!(AuthConfig::default().enforced(false).unwrap().is_empty());
        // sessionRequireClientSASLAuth means sasl, whose provider must be registered.
        let require = AuthConfig {
            require_sasl: Some(true),
            ..AuthConfig::default()
        };
        assert!(require.enforced(false).is_err());
        let with_provider = AuthConfig {
            sasl_provider: true,
            ..require
        };
        assert_eq!(with_provider.enforced(false).unwrap(), vec!["sasl"]);
        // enforce.auth.enabled needs schemes, each available.
        let mut enforce = AuthConfig {
            enforce_enabled: Some(true),
            ..AuthConfig::default()
        };
        assert!(enforce.enforced(false).is_err());
        enforce.enforce_schemes = Some(vec!["x509".into()]);
        assert!(enforce.enforced(false).is_err());
        assert_eq!(enforce.enforced(true).unwrap(), vec!["x509"]);
        enforce.enforce_schemes = Some(vec!["kerberos".into()]);
        assert!(enforce.enforced(true).is_err());
    }
}
