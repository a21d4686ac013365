//! Configuration from Apache's `zoo.cfg` format and from command-line flags.
//!
//! Owns parsing and validation of the keys the bundled server understands; it turns them
//! into a [`ServerBuilder`]: standalone, or one member of an ensemble when the file lists
//! servers (`server.N=host:quorumPort:electionPort[;[clientHost:]clientPort]`, the member's
//! id in `dataDir/myid`), decided as Apache's `QuorumPeerMain` decides. Unknown keys are
//! reported, not fatal (Apache ignores keys it does not use, too); keys naming features
//! the bundled server does not have (observers, reconfiguration, local sessions, quorum
//! SASL, SASL mechanisms other than DIGEST-MD5, key stores other than PEM) are refused
//! with a message saying so, rather than silently ignored. The `ssl.*` keys may also
//! carry Apache's `zookeeper.` prefix (the system-property spelling).

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use crate::ensemble::{EnsembleSpec, PeerSpec};
use crate::server::{ServerBuilder, ServerError};
use crate::tls::{ClientAuth, QuorumTls, StoreType, TlsSettings, TlsVersions};
use crate::zab::message::Sid;

#[path = "config_auth.rs"]
mod auth;
pub use auth::{AuthConfig, JAAS_PROPERTY};

/// Everything the binary can be told.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerConfig {
    /// `clientPort`.
    pub port: Option<u16>,
    /// `clientPortAddress`.
    pub address: Option<IpAddr>,
    /// `dataDir`: makes the server durable.
    pub data_dir: Option<PathBuf>,
    /// `tickTime` in ms.
    pub tick_time_ms: Option<u64>,
    /// `minSessionTimeout` in ms (-1 = default).
    pub min_session_timeout_ms: Option<i64>,
    /// `maxSessionTimeout` in ms (-1 = default).
    pub max_session_timeout_ms: Option<i64>,
    /// `jute.maxbuffer`.
    pub max_frame: Option<usize>,
    /// `4lw.commands.whitelist`.
    pub four_letter_words: Option<Vec<String>>,
    /// `zookeeper.extendedTypesEnabled`.
    pub extended_types: Option<bool>,
    /// `znode.container.checkIntervalMs`.
    pub container_check_interval_ms: Option<u64>,
    /// `zookeeper.DigestAuthenticationProvider.superDigest`.
    pub super_digest: Option<String>,
    /// `snapCount`.
    pub snap_count: Option<u64>,
    /// `maxClientCnxns`.
    pub max_client_connections: Option<usize>,
    /// `dataLogDir`: where the transaction log goes (default: `dataDir`).
    pub data_log_dir: Option<PathBuf>,
    /// `initLimit` (ticks).
    pub init_limit: Option<u32>,
    /// `syncLimit` (ticks).
    pub sync_limit: Option<u32>,
    /// `server.N` lines.
    pub servers: Vec<PeerSpec>,
    /// `standaloneEnabled` (default true): one listed server runs standalone.
    pub standalone_enabled: Option<bool>,
    /// `quorumListenOnAllIPs`: bind the quorum and election ports on every address.
    pub quorum_listen_on_all_ips: Option<bool>,
    /// `cnxTimeout` (ms): how long dialling a peer may take.
    pub connect_timeout_ms: Option<u64>,
    /// `forceSync` (default yes): `no` skips fsync (unsafe, as in Apache).
    pub force_sync: Option<bool>,
    /// TLS on the client port (`secureClientPort`, `ssl.*`).
    pub tls: TlsConfig,
    /// SASL and authentication enforcement (`authProvider.*`, the JAAS file, …).
    pub auth: AuthConfig,
    /// Keys that were not understood.
    pub unknown_keys: Vec<String>,
    /// Keys understood and deliberately ignored, with why (logged at start).
    pub ignored_keys: Vec<(String, &'static str)>,
}

/// The TLS keys of `zoo.cfg`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsConfig {
    /// `secureClientPort`.
    pub port: Option<u16>,
    /// `secureClientPortAddress`.
    pub address: Option<IpAddr>,
    /// `ssl.keyStore.location`: the key and certificate chain (PEM, PKCS#12 or JKS).
    pub key_store: Option<PathBuf>,
    /// `ssl.keyStore.type`; without it the file extension decides, as in Java.
    pub key_store_type: Option<StoreType>,
    /// `ssl.keyStore.password` (a Java store's, or an encrypted PEM key's).
    pub key_store_password: Option<Password>,
    /// `ssl.trustStore.location`: the CA certificates client certificates must chain to.
    pub trust_store: Option<PathBuf>,
    /// `ssl.trustStore.type`.
    pub trust_store_type: Option<StoreType>,
    /// `ssl.trustStore.password` (a Java store's).
    pub trust_store_password: Option<Password>,
    /// `ssl.clientAuth` (default `need`).
    pub client_auth: Option<ClientAuth>,
    /// `ssl.enabledProtocols`, or else `ssl.protocol`.
    pub versions: Option<TlsVersions>,
    /// `ssl.protocol`, used when `ssl.enabledProtocols` is not set.
    pub protocol: Option<TlsVersions>,
    /// `X509AuthenticationProvider.superUser`.
    pub super_user: Option<String>,
    /// `sslQuorum`: TLS between ensemble members.
    pub quorum: bool,
    /// `ssl.quorum.keyStore.location`.
    pub quorum_key_store: Option<PathBuf>,
    /// `ssl.quorum.keyStore.type`.
    pub quorum_key_store_type: Option<StoreType>,
    /// `ssl.quorum.keyStore.password`.
    pub quorum_key_store_password: Option<Password>,
    /// `ssl.quorum.trustStore.location`.
    pub quorum_trust_store: Option<PathBuf>,
    /// `ssl.quorum.trustStore.type`.
    pub quorum_trust_store_type: Option<StoreType>,
    /// `ssl.quorum.trustStore.password`.
    pub quorum_trust_store_password: Option<Password>,
    /// `ssl.quorum.enabledProtocols`, or else `ssl.quorum.protocol`.
    pub quorum_versions: Option<TlsVersions>,
    /// `ssl.quorum.hostnameVerification` (default true): member certificates must name
    /// the member, on both ends of a quorum connection.
    pub quorum_hostname_verification: Option<bool>,
}

/// A key store or trust store type: PEM, PKCS12 or JKS (Apache 3.8 also reads BCFKS,
/// Bouncy Castle's; converting one is a `keytool` command). A blank value is no type, as
/// in Apache (the file extension then decides).
fn store_type(key: &str, value: &str) -> Result<Option<StoreType>, ServerError> {
    if value.trim().is_empty() {
        return Ok(None);
    }
    StoreType::from_name(value)
        .map(Some)
        .map_err(|e| unsupported(key, value, &e.to_string()))
}

/// A store password as `zoo.cfg` gives it.
fn password(value: &str) -> Option<Password> {
    Some(Password(value.to_owned()))
}

/// The password to open a store with: empty when none was given.
fn secret(password: &Option<Password>) -> String {
    password.as_ref().map(|p| p.0.clone()).unwrap_or_default()
}

/// A key or trust store's password: kept, compared, never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(pub String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(..)")
    }
}

fn bad(key: &str, value: &str) -> ServerError {
    ServerError::Config(format!("{key}={value:?} is not valid"))
}

fn num<T: std::str::FromStr>(key: &str, value: &str) -> Result<T, ServerError> {
    value.trim().parse().map_err(|_| bad(key, value))
}

/// Apache's booleans: `true`/`false`, and `yes`/`no` for the keys that use them.
fn flag(key: &str, value: &str) -> Result<bool, ServerError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" => Ok(true),
        "false" | "no" => Ok(false),
        _ => Err(bad(key, value)),
    }
}

fn unsupported(key: &str, value: &str, why: &str) -> ServerError {
    ServerError::Config(format!("{key}={value}: {why}"))
}

/// A port number (1–65535).
fn port(key: &str, value: &str) -> Result<u16, ServerError> {
    match value.trim().parse::<u16>() {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(bad(key, value)),
    }
}

/// `host:port` with an IPv6 host in brackets; returns (host, port).
fn split_host_port<'a>(key: &str, s: &'a str) -> Result<(&'a str, &'a str), ServerError> {
    let s = s.trim();
    if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or_else(|| bad(key, s))?;
        let port = after.strip_prefix(':').ok_or_else(|| bad(key, s))?;
        return Ok((host, port));
    }
    s.rsplit_once(':').ok_or_else(|| bad(key, s))
}

/// Parses `server.N=host:quorumPort:electionPort[:participant|:observer][;[clientHost:]clientPort]`.
fn parse_server(key: &str, value: &str) -> Result<PeerSpec, ServerError> {
    let sid: Sid = key
        .strip_prefix("server.")
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| bad(key, value))?;
    if value.contains('|') {
        return Err(unsupported(
            key,
            value,
            "several addresses per server (ZOOKEEPER-3188) are not supported; list one",
        ));
    }
    let (addresses, client) = match value.split_once(';') {
        Some((a, c)) => (a.trim(), Some(c.trim())),
        None => (value.trim(), None),
    };
    // host:qp:ep[:role], the host possibly a bracketed IPv6 address.
    let (host, rest) = if let Some(r) = addresses.strip_prefix('[') {
        let (h, after) = r.split_once(']').ok_or_else(|| bad(key, value))?;
        (h, after.strip_prefix(':').ok_or_else(|| bad(key, value))?)
    } else {
        addresses.split_once(':').ok_or_else(|| bad(key, value))?
    };
    let parts: Vec<&str> = rest.split(':').collect();
    let (quorum, election, role) = match parts.as_slice() {
        [q, e] => (*q, *e, "participant"),
        [q, e, r] => (*q, *e, *r),
        [_] => {
            return Err(ServerError::Config(format!(
                "{key}={value}: missing election port (Apache: \"Missing election port\")"
            )))
        }
        _ => return Err(bad(key, value)),
    };
    match role {
        "participant" => {}
        "observer" => {
            return Err(unsupported(
                key,
                value,
                "observers are not supported by zk-server",
            ))
        }
        _ => return Err(bad(key, value)),
    }
    let client = match client {
        None | Some("") => None,
        Some(c) => Some(match c.rsplit_once(':') {
            Some(_) => {
                let (h, p) = split_host_port(key, c)?;
                let ip: IpAddr = h.parse().map_err(|_| bad(key, value))?;
                SocketAddr::new(ip, port(key, p)?)
            }
            None => SocketAddr::new(IpAddr::from([0, 0, 0, 0]), port(key, c)?),
        }),
    };
    Ok(PeerSpec {
        sid,
        host: host.to_owned(),
        quorum_port: port(key, quorum)?,
        election_port: port(key, election)?,
        client,
    })
}

impl ServerConfig {
    /// Parses `zoo.cfg` text: `key=value` lines, `#` comments, blank lines. As in
    /// Apache, `tickTime` defaults to 3000 ms when the file does not set it.
    pub fn parse_cfg(text: &str) -> Result<Self, ServerError> {
        let mut cfg = ServerConfig {
            tick_time_ms: Some(3000),
            ..ServerConfig::default()
        };
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((key, value)) = line.split_once('=') else {
                return Err(ServerError::Config(format!(
                    "line {}: expected key=value, got {line:?}",
                    n + 1
                )));
            };
            cfg.set(key.trim(), value.trim())?;
        }
        Ok(cfg)
    }

    /// Sets one key (zoo.cfg names; flags map onto them).
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), ServerError> {
        let key = match key.strip_prefix("zookeeper.") {
            Some(rest) if rest.starts_with("ssl.") || rest.starts_with("X509") => rest,
            _ => key,
        };
        match key {
            "clientPort" => self.port = Some(num(key, value)?),
            "clientPortAddress" => self.address = Some(num(key, value)?),
            "dataDir" => self.data_dir = Some(PathBuf::from(value)),
            "tickTime" => self.tick_time_ms = Some(num(key, value)?),
            "minSessionTimeout" => self.min_session_timeout_ms = Some(num(key, value)?),
            "maxSessionTimeout" => self.max_session_timeout_ms = Some(num(key, value)?),
            "jute.maxbuffer" => self.max_frame = Some(num(key, value)?),
            "4lw.commands.whitelist" => {
                self.four_letter_words = Some(
                    value
                        .split(',')
                        .map(|w| w.trim().to_owned())
                        .filter(|w| !w.is_empty())
                        .collect(),
                )
            }
            "zookeeper.extendedTypesEnabled" | "extendedTypesEnabled" => {
                self.extended_types = Some(num(key, value)?)
            }
            "znode.container.checkIntervalMs" => {
                self.container_check_interval_ms = Some(num(key, value)?)
            }
            "zookeeper.DigestAuthenticationProvider.superDigest" | "superDigest" => {
                self.super_digest = Some(value.to_owned())
            }
            "snapCount" => self.snap_count = Some(num(key, value)?),
            "maxClientCnxns" => self.max_client_connections = Some(num(key, value)?),
            "initLimit" => self.init_limit = Some(num(key, value)?),
            "syncLimit" => self.sync_limit = Some(num(key, value)?),
            "dataLogDir" => self.data_log_dir = Some(PathBuf::from(value)),
            "standaloneEnabled" => self.standalone_enabled = Some(flag(key, value)?),
            "quorumListenOnAllIPs" => self.quorum_listen_on_all_ips = Some(flag(key, value)?),
            "cnxTimeout" => self.connect_timeout_ms = Some(num(key, value)?),
            "forceSync" => self.force_sync = Some(flag(key, value)?),
            "electionAlg" => {
                if value.trim() != "3" {
                    return Err(unsupported(
                        key,
                        value,
                        "only fast leader election (3) exists, as in Apache 3.6+",
                    ));
                }
            }
            "peerType" => match value.trim() {
                "participant" => {}
                _ => {
                    return Err(unsupported(
                        key,
                        value,
                        "observers are not supported by zk-server",
                    ))
                }
            },
            "reconfigEnabled" => {
                if flag(key, value)? {
                    return Err(unsupported(
                        key,
                        value,
                        "dynamic reconfiguration is not supported; membership is static",
                    ));
                }
            }
            "dynamicConfigFile" => {
                return Err(unsupported(
                    key,
                    value,
                    "dynamic reconfiguration is not supported; list server.N in this file",
                ))
            }
            "localSessionsEnabled" | "localSessionsUpgradingEnabled" => {
                if flag(key, value)? {
                    return Err(unsupported(
                        key,
                        value,
                        "local sessions are not supported; every session is global",
                    ));
                }
            }
            "secureClientPort" => self.tls.port = Some(port(key, value)?),
            "secureClientPortAddress" => self.tls.address = Some(num(key, value)?),
            "ssl.keyStore.location" => self.tls.key_store = Some(PathBuf::from(value)),
            "ssl.trustStore.location" => self.tls.trust_store = Some(PathBuf::from(value)),
            "ssl.keyStore.type" => self.tls.key_store_type = store_type(key, value)?,
            "ssl.trustStore.type" => self.tls.trust_store_type = store_type(key, value)?,
            // Opens Java stores, and an encrypted key in a PEM key store.
            "ssl.keyStore.password" => self.tls.key_store_password = password(value),
            "ssl.trustStore.password" => self.tls.trust_store_password = password(value),
            "ssl.clientAuth" => {
                self.tls.client_auth =
                    Some(ClientAuth::parse(value).ok_or_else(|| bad(key, value))?)
            }
            "ssl.enabledProtocols" => {
                self.tls.versions =
                    Some(TlsVersions::parse(value).map_err(|why| unsupported(key, value, &why))?)
            }
            "ssl.protocol" => {
                self.tls.protocol =
                    Some(TlsVersions::parse(value).map_err(|why| unsupported(key, value, &why))?)
            }
            "X509AuthenticationProvider.superUser" => {
                self.tls.super_user = Some(value.trim().to_owned())
            }
            "ssl.authProvider" => {
                if value.trim() != "x509" {
                    return Err(unsupported(
                        key,
                        value,
                        "only the x509 provider identifies TLS clients in zk-server",
                    ));
                }
            }
            "ssl.ciphersuites" => self.ignored_keys.push((
                key.to_owned(),
                "rustls offers its own set of modern cipher suites",
            )),
            "ssl.hostnameVerification"
            | "ssl.clientHostnameVerification"
            | "ssl.handshakeDetectionTimeoutMillis"
            | "ssl.context.supplier.class" => self.ignored_keys.push((
                key.to_owned(),
                "zk-server checks client certificates against the trust store only",
            )),
            "ssl.crl" | "ssl.ocsp" => {
                if flag(key, value)? {
                    return Err(unsupported(
                        key,
                        value,
                        "certificate revocation checks are not supported by zk-server",
                    ));
                }
            }
            "sslQuorum" => self.tls.quorum = flag(key, value)?,
            "ssl.quorum.keyStore.location" => {
                self.tls.quorum_key_store = Some(PathBuf::from(value))
            }
            "ssl.quorum.trustStore.location" => {
                self.tls.quorum_trust_store = Some(PathBuf::from(value))
            }
            "ssl.quorum.keyStore.type" => self.tls.quorum_key_store_type = store_type(key, value)?,
            "ssl.quorum.trustStore.type" => {
                self.tls.quorum_trust_store_type = store_type(key, value)?
            }
            "ssl.quorum.keyStore.password" => self.tls.quorum_key_store_password = password(value),
            "ssl.quorum.trustStore.password" => {
                self.tls.quorum_trust_store_password = password(value)
            }
            "ssl.quorum.hostnameVerification" => {
                self.tls.quorum_hostname_verification = Some(flag(key, value)?)
            }
            "ssl.quorum.enabledProtocols" | "ssl.quorum.protocol" => {
                let v = TlsVersions::parse(value).map_err(|why| unsupported(key, value, &why))?;
                if key.ends_with("enabledProtocols") || self.tls.quorum_versions.is_none() {
                    self.tls.quorum_versions = Some(v);
                }
            }
            "ssl.quorum.ciphersuites" => self.ignored_keys.push((
                key.to_owned(),
                "rustls offers its own set of modern cipher suites",
            )),
            "ssl.quorum.clientAuth" | "sslQuorumReloadCertFiles" => self.ignored_keys.push((
                key.to_owned(),
                "members always require each other's certificates; files are read at start",
            )),
            "portUnification" | "client.portUnification" => {
                if flag(key, value)? {
                    return Err(unsupported(
                        key,
                        value,
                        "one port for TLS and plaintext is not supported; use clientPort and \
                         secureClientPort",
                    ));
                }
            }
            k if k.starts_with("authProvider.") => match value.trim() {
                "org.apache.zookeeper.server.auth.SASLAuthenticationProvider" => {
                    self.auth.sasl_provider = true
                }
                "org.apache.zookeeper.server.auth.X509AuthenticationProvider" => {
                    self.auth.x509_provider = true
                }
                "org.apache.zookeeper.server.auth.DigestAuthenticationProvider"
                | "org.apache.zookeeper.server.auth.IPAuthenticationProvider" => {}
                _ => {
                    return Err(unsupported(
                        key,
                        value,
                        "zk-server has the digest, ip, sasl and x509 providers built in and \
                         loads no others",
                    ))
                }
            },
            "quorum.auth.enableSasl"
            | "quorum.auth.learnerRequireSasl"
            | "quorum.auth.serverRequireSasl" => {
                if flag(key, value)? {
                    return Err(unsupported(
                        key,
                        value,
                        "quorum SASL is not supported by this zk-server yet",
                    ));
                }
            }
            "admin.enableServer"
            | "admin.serverPort"
            | "admin.serverAddress"
            | "admin.commandURL" => self
                .ignored_keys
                .push((key.to_owned(), "zk-server has no AdminServer")),
            "autopurge.snapRetainCount" | "autopurge.purgeInterval" => self.ignored_keys.push((
                key.to_owned(),
                "zk-server keeps its three newest snapshots and the log they need",
            )),
            "preAllocSize"
            | "snapSizeLimitInKb"
            | "txnLogSizeLimitInKb"
            | "commitLogCount"
            | "snapshotSizeFactor"
            | "syncEnabled"
            | "globalOutstandingLimit"
            | "clientPortListenBacklog"
            | "electionPortBindRetry"
            | "tcpKeepAlive"
            | "fsync.warningthresholdms"
            | "serverCnxnFactory"
            | "leaderServes"
            | "connectToLearnerMasterLimit"
            | "maxResponseCacheSize"
            | "maxGetChildrenResponseCacheSize"
            | "multiAddress.enabled"
            | "multiAddress.reachabilityCheckEnabled" => self.ignored_keys.push((
                key.to_owned(),
                "a tuning knob of Apache's that zk-server does not need",
            )),
            k if k.starts_with("metricsProvider.") => self.ignored_keys.push((
                key.to_owned(),
                "zk-server reports metrics by four-letter words",
            )),
            k if k.starts_with("ssl.") => {
                return Err(unsupported(key, value, "not a TLS setting zk-server knows"))
            }
            k if k.starts_with("server.") => {
                let spec = parse_server(key, value)?;
                if self.servers.iter().any(|s| s.sid == spec.sid) {
                    return Err(ServerError::Config(format!("{key} is listed twice")));
                }
                self.servers.push(spec);
            }
            k if k.starts_with("group.") || k.starts_with("weight.") => {
                return Err(unsupported(
                    key,
                    value,
                    "hierarchical quorums are not supported",
                ))
            }
            k if self.auth.set(k, value)? => {}
            other => self.unknown_keys.push(other.to_owned()),
        }
        Ok(())
    }

    /// Parses command-line flags (`--port 2181 --data-dir d --config zoo.cfg …`); a
    /// `--config` file is read first and flags override it.
    ///
    /// `-Dkey=value` arguments anywhere are the JVM system properties an Apache server
    /// would be given: `-Dzookeeper.<key>=…` sets `zoo.cfg` key `<key>` and
    /// `-Djava.security.auth.login.config=…` names the JAAS file; they apply after the
    /// file, other properties are reported as unknown.
    pub fn from_args(args: &[String]) -> Result<Self, ServerError> {
        let (properties, args): (Vec<&String>, Vec<&String>) =
            args.iter().partition(|a| a.starts_with("-D"));
        let args: Vec<String> = args.into_iter().cloned().collect();
        let mut cfg = Self::from_plain_args(&args)?;
        for property in properties {
            let Some((key, value)) = property["-D".len()..].split_once('=') else {
                return Err(ServerError::Config(format!(
                    "{property}: expected -Dkey=value"
                )));
            };
            if key == JAAS_PROPERTY {
                cfg.auth.set(key, value)?;
            } else if let Some(key) = key.strip_prefix("zookeeper.") {
                cfg.set(key, value)?;
            } else {
                cfg.unknown_keys.push(format!("-D{key}"));
            }
        }
        Ok(cfg)
    }

    fn from_plain_args(args: &[String]) -> Result<Self, ServerError> {
        // `zk-server zoo.cfg`: the one argument Apache's QuorumPeerMain takes.
        if let [path] = args {
            if !path.starts_with("--") {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| ServerError::Config(format!("cannot read {path}: {e}")))?;
                return ServerConfig::parse_cfg(&text);
            }
        }
        let mut cfg = ServerConfig::default();
        let mut pairs = Vec::new();
        let mut i = 0;
        while i < args.len() {
            let flag = args[i].as_str();
            let value = args
                .get(i + 1)
                .ok_or_else(|| ServerError::Config(format!("{flag} needs a value")))?;
            i += 2;
            match flag {
                "--config" => {
                    let text = std::fs::read_to_string(value)
                        .map_err(|e| ServerError::Config(format!("cannot read {value}: {e}")))?;
                    cfg = ServerConfig::parse_cfg(&text)?;
                }
                "--port" => pairs.push(("clientPort", value)),
                "--address" => pairs.push(("clientPortAddress", value)),
                "--data-dir" => pairs.push(("dataDir", value)),
                "--tick-time" => pairs.push(("tickTime", value)),
                "--min-session-timeout" => pairs.push(("minSessionTimeout", value)),
                "--max-session-timeout" => pairs.push(("maxSessionTimeout", value)),
                "--max-frame" => pairs.push(("jute.maxbuffer", value)),
                "--snap-count" => pairs.push(("snapCount", value)),
                "--4lw" => pairs.push(("4lw.commands.whitelist", value)),
                other => return Err(ServerError::Config(format!("unknown flag {other}"))),
            }
        }
        for (key, value) in pairs {
            cfg.set(key, value)?;
        }
        Ok(cfg)
    }

    /// The builder these settings describe.
    pub fn builder(&self) -> Result<ServerBuilder, ServerError> {
        let mut b = ServerBuilder::default();
        let ip = self.address.unwrap_or(IpAddr::from([0, 0, 0, 0]));
        b = b.bind(SocketAddr::new(ip, self.port.unwrap_or(2181)));
        if let Some(t) = self.tick_time_ms {
            if t == 0 {
                return Err(bad("tickTime", "0"));
            }
            b = b.tick_time(Duration::from_millis(t));
        }
        let tick = b.core_config().tick_time;
        match self.min_session_timeout_ms {
            Some(ms) if ms >= 0 => b = b.min_session_timeout(Duration::from_millis(ms as u64)),
            _ => b = b.min_session_timeout(tick * 2),
        }
        match self.max_session_timeout_ms {
            Some(ms) if ms >= 0 => b = b.max_session_timeout(Duration::from_millis(ms as u64)),
            _ => b = b.max_session_timeout(tick * 20),
        }
        if let Some(m) = self.max_frame {
            b = b.max_frame(m);
        }
        if let Some(w) = &self.four_letter_words {
            b = b.four_letter_words(w.clone());
        }
        if let Some(e) = self.extended_types {
            b = b.extended_types(e);
        }
        if let Some(ms) = self.container_check_interval_ms {
            b = b.container_check_interval(Duration::from_millis(ms.max(1)));
        }
        if let Some(d) = &self.super_digest {
            b = b.super_digest(d.clone());
        }
        if let Some(dir) = &self.data_dir {
            b = b.data_dir(dir.clone());
        }
        if let Some(n) = self.snap_count {
            b = b.snap_count(n);
        }
        if let Some(n) = self.max_client_connections {
            b = b.max_client_connections(n);
        }
        if let Some(dir) = &self.data_log_dir {
            b = b.data_log_dir(dir.clone());
        }
        if let Some(force) = self.force_sync {
            b = b.force_sync(force);
        }
        b = self.secure(b)?;
        b = self.auth.apply(b, self.tls.port.is_some())?;
        self.ensemble(b)
    }

    /// TLS on `secureClientPort`; with it and no `clientPort`, TLS only (as Apache).
    fn secure(&self, mut b: ServerBuilder) -> Result<ServerBuilder, ServerError> {
        let Some(port) = self.tls.port else {
            if self.tls.key_store.is_some() {
                tracing::warn!(
                    "ssl.keyStore.location is set but secureClientPort is not: no TLS port"
                );
            }
            return Ok(b);
        };
        let key_store = self.tls.key_store.clone().ok_or_else(|| {
            ServerError::Config("secureClientPort needs ssl.keyStore.location".into())
        })?;
        let mut tls = TlsSettings::new(key_store)
            .key_store_type(
                self.tls.key_store_type,
                secret(&self.tls.key_store_password),
            )
            .client_auth(self.tls.client_auth.unwrap_or_default());
        if let Some(path) = &self.tls.trust_store {
            tls = tls.trust_store(path.clone()).trust_store_type(
                self.tls.trust_store_type,
                secret(&self.tls.trust_store_password),
            );
        }
        if let Some(v) = self.tls.versions.or(self.tls.protocol) {
            tls = tls.versions(v);
        }
        let ip = self.tls.address.unwrap_or(IpAddr::from([0, 0, 0, 0]));
        b = b.secure(SocketAddr::new(ip, port), tls);
        if let Some(user) = &self.tls.super_user {
            b = b.x509_super_user(user.clone());
        }
        if self.port.is_none() && self.servers.iter().all(|s| s.client.is_none()) {
            b = b.plaintext(false);
        }
        Ok(b)
    }

    /// Standalone or a member, as Apache's `QuorumPeerMain` decides: a member needs at
    /// least two listed servers, or one with `standaloneEnabled=false`.
    fn ensemble(&self, mut b: ServerBuilder) -> Result<ServerBuilder, ServerError> {
        let listed = self.servers.len();
        let quorum_mode = listed >= 2 || (listed == 1 && self.standalone_enabled == Some(false));
        if !quorum_mode {
            if listed == 1 {
                tracing::info!("Invalid configuration, only one server specified (ignoring)");
            }
            return Ok(b);
        }
        let data_dir = self
            .data_dir
            .as_ref()
            .ok_or_else(|| ServerError::Config("dataDir is not set".into()))?;
        let myid_path = data_dir.join("myid");
        let text = std::fs::read_to_string(&myid_path).map_err(|e| {
            ServerError::Config(format!(
                "myid file is missing ({}: {e})",
                myid_path.display()
            ))
        })?;
        let sid: Sid = text.trim().parse().map_err(|_| {
            ServerError::Config(format!(
                "{} holds {:?}, not a server id",
                myid_path.display(),
                text.trim()
            ))
        })?;
        let me = self.servers.iter().find(|s| s.sid == sid).ok_or_else(|| {
            ServerError::Config(format!("myid {sid} is not among the server.N lines"))
        })?;
        if sid == 0 || sid > 255 {
            // Session ids carry the id in their top byte (Apache asks for 1..255).
            return Err(ServerError::Config(format!(
                "myid {sid}: server ids must be 1..255"
            )));
        }
        if let Some(bad_id) = self.servers.iter().find(|s| s.sid == 0 || s.sid > 255) {
            return Err(ServerError::Config(format!(
                "server.{}: server ids must be 1..255",
                bad_id.sid
            )));
        }
        let init_limit = self
            .init_limit
            .ok_or_else(|| ServerError::Config("initLimit is not set".into()))?;
        let sync_limit = self
            .sync_limit
            .ok_or_else(|| ServerError::Config("syncLimit is not set".into()))?;
        if init_limit == 0 || sync_limit == 0 {
            return Err(ServerError::Config(
                "initLimit and syncLimit must be at least 1".into(),
            ));
        }
        let client = match (self.port, me.client) {
            (Some(p), Some(c)) if p != c.port() => {
                return Err(ServerError::Config(format!(
                    "clientPort={p} and server.{sid}'s client port {} disagree",
                    c.port()
                )))
            }
            (Some(p), c) => SocketAddr::new(
                self.address
                    .or(c.map(|c| c.ip()))
                    .unwrap_or(IpAddr::from([0, 0, 0, 0])),
                p,
            ),
            (None, Some(c)) => SocketAddr::new(self.address.unwrap_or(c.ip()), c.port()),
            // TLS only: `secure` turned the plain port off.
            (None, None) if self.tls.port.is_some() => SocketAddr::from(([0, 0, 0, 0], 0)),
            (None, None) => return Err(ServerError::Config("clientPort is not set".into())),
        };
        if listed == 2 {
            tracing::warn!("two voters tolerate no failure: use 3 or 5");
        } else if listed % 2 == 0 {
            tracing::warn!(
                voters = listed,
                "an even number of voters tolerates no more failures than one fewer"
            );
        }
        b = b.bind(client);
        let mut spec = EnsembleSpec::new(sid, self.servers.clone(), init_limit, sync_limit);
        spec.listen_on_all_ips = self.quorum_listen_on_all_ips.unwrap_or(false);
        if let Some(ms) = self.connect_timeout_ms {
            spec.connect_timeout = Duration::from_millis(ms.max(1));
        }
        spec.quorum_tls = self.quorum_tls()?;
        Ok(b.ensemble(spec))
    }

    /// TLS between members when `sslQuorum=true`: both stores are required.
    fn quorum_tls(&self) -> Result<Option<QuorumTls>, ServerError> {
        if !self.tls.quorum {
            return Ok(None);
        }
        let (Some(key_store), Some(trust_store)) =
            (&self.tls.quorum_key_store, &self.tls.quorum_trust_store)
        else {
            return Err(ServerError::Config(
                "sslQuorum=true needs ssl.quorum.keyStore.location and \
                 ssl.quorum.trustStore.location"
                    .into(),
            ));
        };
        let t = &self.tls;
        let mut settings = TlsSettings::new(key_store.clone())
            .key_store_type(
                t.quorum_key_store_type,
                secret(&t.quorum_key_store_password),
            )
            .trust_store(trust_store.clone())
            .trust_store_type(
                t.quorum_trust_store_type,
                secret(&t.quorum_trust_store_password),
            );
        if let Some(v) = self.tls.quorum_versions {
            settings = settings.versions(v);
        }
        Ok(Some(QuorumTls {
            settings,
            verify_host_names: self.tls.quorum_hostname_verification.unwrap_or(true),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_apache_zoo_cfg() {
        let cfg = ServerConfig::parse_cfg(
            "# comment\ntickTime=500\nclientPort=2999\ndataDir=/tmp/zk\ninitLimit=10\n\
             4lw.commands.whitelist=ruok, srvr\nminSessionTimeout=-1\nfoo=bar\n",
        )
        .unwrap();
        assert_eq!(cfg.tick_time_ms, Some(500));
        assert_eq!(cfg.port, Some(2999));
        assert_eq!(
            cfg.four_letter_words,
            Some(vec!["ruok".into(), "srvr".into()])
        );
        assert_eq!(cfg.unknown_keys, vec!["foo".to_string()]);
        let snap = ServerConfig::from_args(&["--snap-count".into(), "5".into()]).unwrap();
        assert_eq!(snap.snap_count, Some(5));
        let b = cfg.builder().unwrap();
        assert_eq!(
            b.core_config().min_session_timeout,
            Duration::from_millis(1000)
        );
        assert_eq!(
            b.core_config().max_session_timeout,
            Duration::from_millis(10000)
        );
    }

    fn member_dir(name: &str, myid: Option<&str>) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("zkmesh-cfg-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        if let Some(id) = myid {
            std::fs::write(dir.join("myid"), id).unwrap();
        }
        dir
    }

    fn ensemble_cfg(dir: &std::path::Path, extra: &str) -> String {
        format!(
            "tickTime=200\ninitLimit=10\nsyncLimit=5\ndataDir={}\nclientPort=2181\n\
             server.1=127.0.0.1:2888:3888\nserver.2=localhost:2889:3889;2182\n\
             server.3=[::1]:2890:3890:participant\n{extra}",
            dir.display()
        )
    }

    #[test]
    fn an_apache_ensemble_cfg_makes_a_member() {
        let dir = member_dir("member", Some("2\n"));
        let cfg = ServerConfig::parse_cfg(&ensemble_cfg(&dir, "clientPort=2182\n")).unwrap();
        assert_eq!(cfg.servers.len(), 3);
        assert_eq!(cfg.servers[1].host, "localhost");
        assert_eq!(cfg.servers[2].host, "::1");
        assert_eq!(cfg.servers[1].client.map(|c| c.port()), Some(2182));
        let b = cfg.builder().unwrap();
        assert!(format!("{b:?}").contains("sid: 2"));
    }

    #[test]
    fn one_listed_server_is_standalone_unless_standalone_is_disabled() {
        let dir = member_dir("one", Some("1"));
        let one = format!(
            "initLimit=5\nsyncLimit=2\ndataDir={}\nclientPort=2181\nserver.1=127.0.0.1:2888:3888\n",
            dir.display()
        );
        let b = ServerConfig::parse_cfg(&one).unwrap().builder().unwrap();
        assert!(format!("{b:?}").contains("ensemble: None"));
        let quorum_of_one = format!("{one}standaloneEnabled=false\n");
        let b = ServerConfig::parse_cfg(&quorum_of_one)
            .unwrap()
            .builder()
            .unwrap();
        assert!(format!("{b:?}").contains("ensemble: Some"));
    }

    #[test]
    fn what_a_member_needs_and_what_zk_server_lacks_are_refused_by_name() {
        let refused = |extra: &str, myid: Option<&str>, needle: &str| {
            let dir = member_dir("refused", myid);
            let err = ServerConfig::parse_cfg(&ensemble_cfg(&dir, extra))
                .and_then(|c| c.builder())
                .map(|_| ())
                .expect_err(extra);
            assert!(err.to_string().contains(needle), "{extra}: {err}");
        };
        refused("", None, "myid file is missing");
        refused("", Some("seven"), "not a server id");
        refused("", Some("9"), "not among the server.N lines");
        refused("clientPort=2999\n", Some("2"), "disagree");
        refused("reconfigEnabled=true\n", Some("1"), "reconfiguration");
        refused("dynamicConfigFile=zoo.dyn\n", Some("1"), "reconfiguration");
        refused("electionAlg=0\n", Some("1"), "fast leader election");
        refused("peerType=observer\n", Some("1"), "observers");
        refused(
            "server.4=127.0.0.1:2891:3891:observer\n",
            Some("1"),
            "observers",
        );
        refused(
            "server.4=127.0.0.1:2891\n",
            Some("1"),
            "missing election port",
        );
        refused("server.1=127.0.0.1:1:2\n", Some("1"), "listed twice");
        refused("localSessionsEnabled=true\n", Some("1"), "local sessions");
        refused(
            "secureClientPort=2281\n",
            Some("1"),
            "needs ssl.keyStore.location",
        );
        refused(
            "sslQuorum=true\n",
            Some("1"),
            "needs ssl.quorum.keyStore.location",
        );
        refused(
            "ssl.keyStore.type=BCFKS\n",
            Some("1"),
            "only PEM, PKCS12 and JKS",
        );
        refused("ssl.clientAuth=maybe\n", Some("1"), "not valid");
        refused(
            "ssl.enabledProtocols=TLSv1\n",
            Some("1"),
            "TLSv1 is not offered",
        );
        refused("ssl.crl=true\n", Some("1"), "revocation");
        refused("portUnification=true\n", Some("1"), "one port");
        refused(
            "authProvider.1=com.example.Custom\n",
            Some("1"),
            "loads no others",
        );
        refused("quorum.auth.enableSasl=true\n", Some("1"), "SASL");
        refused("server.4=a:1:2|b:3:4\n", Some("1"), "several addresses");
        let dir = member_dir("nolimits", Some("1"));
        let no_limits = format!(
            "dataDir={}\nclientPort=2181\nserver.1=h:1:2\nserver.2=h:3:4\n",
            dir.display()
        );
        let err = ServerConfig::parse_cfg(&no_limits)
            .unwrap()
            .builder()
            .unwrap_err();
        assert!(err.to_string().contains("initLimit"), "{err}");
        // Keys Apache has and zk-server does not need are accepted and reported.
        let ignored =
            ServerConfig::parse_cfg("admin.enableServer=false\nautopurge.purgeInterval=1\n")
                .unwrap();
        assert_eq!(ignored.ignored_keys.len(), 2);
    }

    #[test]
    fn tls_settings_read_as_apache_writes_them() {
        let cfg = ServerConfig::parse_cfg(
            "secureClientPort=2281\nsecureClientPortAddress=127.0.0.1\n\
             serverCnxnFactory=org.apache.zookeeper.server.NettyServerCnxnFactory\n\
             authProvider.x509=org.apache.zookeeper.server.auth.X509AuthenticationProvider\n\
             ssl.keyStore.location=/etc/zk/server.pem\nssl.keyStore.type=PEM\n\
             zookeeper.ssl.trustStore.location=/etc/zk/ca.pem\nssl.trustStore.type=pem\n\
             ssl.clientAuth=want\nssl.protocol=TLSv1.2\n\
             zookeeper.X509AuthenticationProvider.superUser=CN=admin\n",
        )
        .unwrap();
        assert_eq!(
            cfg.tls,
            TlsConfig {
                port: Some(2281),
                address: Some(IpAddr::from([127, 0, 0, 1])),
                key_store: Some("/etc/zk/server.pem".into()),
                key_store_type: Some(StoreType::Pem),
                trust_store: Some("/etc/zk/ca.pem".into()),
                trust_store_type: Some(StoreType::Pem),
                client_auth: Some(ClientAuth::Want),
                versions: None,
                protocol: Some(TlsVersions::Tls12),
                super_user: Some("CN=admin".into()),
                ..TlsConfig::default()
            }
        );
        assert!(cfg.unknown_keys.is_empty(), "{:?}", cfg.unknown_keys);
    }

    #[test]
    fn pkcs12_stores_keep_their_types_and_passwords_and_never_print_them() {
        let cfg = ServerConfig::parse_cfg(
            "secureClientPort=2281\nssl.keyStore.location=/etc/zk/server.p12\n\
             ssl.keyStore.type=PKCS12\nssl.keyStore.password=s3cret\n\
             ssl.trustStore.location=/etc/zk/trust.p12\nssl.trustStore.password=tru5t\n\
             ssl.trustStore.type=\n\
             sslQuorum=true\nssl.quorum.keyStore.location=/etc/zk/member.p12\n\
             ssl.quorum.keyStore.type=pkcs12\nssl.quorum.keyStore.password=m3mber\n\
             ssl.quorum.trustStore.location=/etc/zk/ca.pem\n",
        )
        .unwrap();
        let tls = &cfg.tls;
        assert_eq!(tls.key_store_type, Some(StoreType::Pkcs12));
        assert_eq!(tls.key_store_password, Some(Password("s3cret".into())));
        assert_eq!(
            tls.trust_store_type, None,
            "blank: left to the extension, as in Java"
        );
        assert_eq!(tls.trust_store_password, Some(Password("tru5t".into())));
        assert_eq!(tls.quorum_key_store_type, Some(StoreType::Pkcs12));
        assert_eq!(
            tls.quorum_key_store_password,
            Some(Password("m3mber".into()))
        );
        assert!(cfg.ignored_keys.is_empty(), "{:?}", cfg.ignored_keys);
        let printed = format!("{cfg:?}");
        for secret in ["s3cret", "tru5t", "m3mber"] {
            assert!(!printed.contains(secret), "{printed}");
        }
    }

    #[test]
    fn bad_values_are_clear_errors() {
        assert!(ServerConfig::parse_cfg("tickTime=abc").is_err());
        assert!(ServerConfig::parse_cfg("noequals").is_err());
        assert!(ServerConfig::from_args(&["--port".into()]).is_err());
        assert!(ServerConfig::from_args(&["--bogus".into(), "1".into()]).is_err());
        let flags = ServerConfig::from_args(&[
            "--port".into(),
            "0".into(),
            "--tick-time".into(),
            "100".into(),
        ])
        .unwrap();
        assert_eq!((flags.port, flags.tick_time_ms), (Some(0), Some(100)));
    }
}
