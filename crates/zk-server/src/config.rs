//! Configuration from Apache's `zoo.cfg` format and from command-line flags.
//!
//! Owns parsing and validation of the keys the bundled server understands; it turns them
//! into a [`ServerBuilder`]. Unknown keys are reported, not fatal (Apache ignores keys it
//! does not use, too).

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use crate::server::{ServerBuilder, ServerError};

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
    /// Keys that were not understood.
    pub unknown_keys: Vec<String>,
}

fn bad(key: &str, value: &str) -> ServerError {
    ServerError::Config(format!("{key}={value:?} is not valid"))
}

fn num<T: std::str::FromStr>(key: &str, value: &str) -> Result<T, ServerError> {
    value.trim().parse().map_err(|_| bad(key, value))
}

impl ServerConfig {
    /// Parses `zoo.cfg` text: `key=value` lines, `#` comments, blank lines.
    pub fn parse_cfg(text: &str) -> Result<Self, ServerError> {
        let mut cfg = ServerConfig::default();
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
            // Keys Apache uses that mean nothing for a standalone bundled server.
            "snapCount" => self.snap_count = Some(num(key, value)?),
            "maxClientCnxns" => self.max_client_connections = Some(num(key, value)?),
            "initLimit"
            | "syncLimit"
            | "dataLogDir"
            | "admin.enableServer"
            | "standaloneEnabled"
            | "reconfigEnabled"
            | "autopurge.snapRetainCount"
            | "autopurge.purgeInterval"
            | "preAllocSize" => {}
            other => self.unknown_keys.push(other.to_owned()),
        }
        Ok(())
    }

    /// Parses command-line flags (`--port 2181 --data-dir d --config zoo.cfg …`); a
    /// `--config` file is read first and flags override it.
    pub fn from_args(args: &[String]) -> Result<Self, ServerError> {
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
        Ok(b)
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
