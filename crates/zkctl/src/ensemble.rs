//! `ensemble`: each member's mode, zxid, connections and lag, asked with the `srvr`
//! four-letter word (allowed by default on Apache servers and the bundled one) over a
//! plain TCP connection to every host of the connect string — no session, so a member
//! that cannot serve sessions (electing, cut off) still reports.
//!
//! Lag is the transactions a member has yet to apply to reach the leader's zxid ([`lag`]:
//! the difference within an epoch, the new epoch's count across one).

use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::connect::Connection;
use crate::error::{CtlError, Result};
use crate::output::Output;
use crate::table;

/// What one member said, or why it said nothing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Member {
    /// `host:port` from the connect string.
    pub host: String,
    /// `leader`, `follower`, `observer`, `standalone`, … (Apache's `Mode:`).
    pub mode: Option<String>,
    /// The last zxid it applied.
    pub zxid: Option<i64>,
    /// Client connections it holds.
    pub connections: Option<u64>,
    /// Nodes in its tree.
    pub nodes: Option<u64>,
    /// Requests it has received and not yet answered.
    pub outstanding: Option<u64>,
    /// Request latency in ms since its counters were last reset: min, average, max.
    pub latency: Option<(f64, f64, f64)>,
    /// The leader's zxid minus this one's.
    pub lag: Option<i64>,
    /// Why it could not be asked.
    pub error: Option<String>,
}

/// The hosts of a connect string (`h1:2181,h2:2181/chroot`), the chroot dropped and a
/// missing port defaulted to 2181.
pub fn hosts(connect: &str) -> Vec<String> {
    let hosts = connect.split_once('/').map_or(connect, |(h, _)| h);
    hosts
        .split(',')
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .map(|h| {
            // `[v6]:port` or `host:port`; a bare IPv6 address needs its brackets.
            let has_port = if h.starts_with('[') {
                h.contains("]:")
            } else {
                h.contains(':')
            };
            if has_port {
                h.to_owned()
            } else {
                format!("{h}:2181")
            }
        })
        .collect()
}

/// Parses a `srvr` reply into `member`.
pub fn parse_srvr(text: &str, member: &mut Member) -> std::result::Result<(), String> {
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match key.trim() {
            "Mode" => member.mode = Some(value.to_owned()),
            "Zxid" => {
                let hex = value.trim_start_matches("0x");
                member.zxid =
                    Some(i64::from_str_radix(hex, 16).map_err(|_| format!("bad Zxid {value:?}"))?);
            }
            "Connections" => member.connections = value.parse().ok(),
            "Node count" => member.nodes = value.parse().ok(),
            "Outstanding" => member.outstanding = value.parse().ok(),
            "Latency min/avg/max" => {
                let parts: Vec<f64> = value
                    .split('/')
                    .filter_map(|p| p.trim().parse().ok())
                    .collect();
                if let [min, avg, max] = parts[..] {
                    member.latency = Some((min, avg, max));
                }
            }
            _ => {}
        }
    }
    if member.mode.is_none() {
        let first = text.lines().next().unwrap_or("empty reply").trim();
        return Err(format!("srvr not answered: {first}"));
    }
    Ok(())
}

/// Sends a four-letter word and reads the reply to the end (the server closes).
async fn four_letter(
    host: &str,
    word: &str,
    timeout: Duration,
) -> std::result::Result<String, String> {
    let ask = async {
        let mut stream = tokio::net::TcpStream::connect(host)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        stream
            .write_all(word.as_bytes())
            .await
            .map_err(|e| format!("send {word}: {e}"))?;
        let mut reply = Vec::new();
        stream
            .read_to_end(&mut reply)
            .await
            .map_err(|e| format!("read {word}: {e}"))?;
        Ok(String::from_utf8_lossy(&reply).into_owned())
    };
    tokio::time::timeout(timeout, ask)
        .await
        .unwrap_or_else(|_| Err(format!("no answer to {word} within {timeout:?}")))
}

/// Transactions a member at zxid `member` has yet to apply to reach the leader's
/// `leader`. Within an epoch that is the difference of the counters (a zxid's low 32
/// bits); a member still showing an older epoch's zxid has at least the new epoch's
/// transactions to apply (a new leader's first zxid has counter 0, so a member that
/// synchronised and has seen nothing since shows 0, not 2^32).
pub fn lag(leader: i64, member: i64) -> i64 {
    let (leader_epoch, member_epoch) = (leader >> 32, member >> 32);
    if member_epoch == leader_epoch {
        leader - member
    } else if member_epoch < leader_epoch {
        leader & 0xffff_ffff
    } else {
        0
    }
}

/// Asks every member and works out the lag from the leader's (or standalone server's)
/// zxid.
pub async fn survey(conn: &Connection) -> Vec<Member> {
    let asks = hosts(&conn.server).into_iter().map(|host| async move {
        let mut m = Member {
            host: host.clone(),
            ..Member::default()
        };
        match four_letter(&host, "srvr", conn.timeout()).await {
            Ok(text) => {
                if let Err(e) = parse_srvr(&text, &mut m) {
                    m.error = Some(e);
                }
            }
            Err(e) => m.error = Some(e),
        }
        m
    });
    let mut members = futures::future::join_all(asks).await;
    let reference = members
        .iter()
        .find(|m| matches!(m.mode.as_deref(), Some("leader" | "standalone")))
        .and_then(|m| m.zxid);
    if let Some(top) = reference {
        for m in &mut members {
            m.lag = m.zxid.map(|z| lag(top, z));
        }
    }
    members
}

/// A member as JSON.
pub fn member_json(m: &Member) -> Value {
    json!({
        "host": m.host, "mode": m.mode,
        "zxid": m.zxid, "zxid_hex": m.zxid.map(|z| format!("0x{z:x}")),
        "connections": m.connections, "nodes": m.nodes, "lag": m.lag, "error": m.error,
        "outstanding": m.outstanding,
        "latency": m.latency.map(|(min, avg, max)| json!({"min": min, "avg": avg, "max": max})),
    })
}

/// Runs `ensemble`: a table of every member; exit code 5 if any could not be asked.
pub async fn run(conn: &Connection, out: Output) -> Result<()> {
    let members = survey(conn).await;
    let opt = |v: Option<String>| v.unwrap_or_else(|| "-".to_owned());
    out.emit(
        || {
            let rows: Vec<Vec<String>> = members
                .iter()
                .map(|m| {
                    vec![
                        m.host.clone(),
                        m.mode.clone().unwrap_or_else(|| "unreachable".to_owned()),
                        opt(m.zxid.map(|z| format!("0x{z:x}"))),
                        opt(m.connections.map(|c| c.to_string())),
                        opt(m.lag.map(|l| l.to_string())),
                        m.error.clone().unwrap_or_default(),
                    ]
                })
                .collect();
            table::render(
                &["MEMBER", "MODE", "ZXID", "CONNECTIONS", "LAG", "ERROR"],
                &rows,
            )
        },
        || json!({"members": members.iter().map(member_json).collect::<Vec<_>>()}),
    );
    let failed: Vec<&str> = members
        .iter()
        .filter(|m| m.error.is_some())
        .map(|m| m.host.as_str())
        .collect();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(CtlError::Unreachable(format!(
            "no status from {}",
            failed.join(", ")
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_drop_the_chroot_and_default_the_port() {
        assert_eq!(
            hosts("a:1, b ,[::1]:3,[::2]/app/x"),
            ["a:1", "b:2181", "[::1]:3", "[::2]:2181"]
        );
    }

    #[test]
    fn lag_counts_transactions_across_an_epoch_change() {
        assert_eq!(lag(0x1_0000_0010, 0x1_0000_000a), 6);
        assert_eq!(lag(0x2_0000_0000, 0x1_0000_0001), 0);
        assert_eq!(lag(0x2_0000_0003, 0x1_0000_0001), 3);
        assert_eq!(lag(0x1_0000_0003, 0x2_0000_0001), 0);
    }

    #[test]
    fn srvr_replies_parse_and_refusals_are_errors() {
        let mut m = Member::default();
        parse_srvr(
            "Zookeeper version: 3.8.0\nConnections: 3\nZxid: 0x10000002a\nMode: follower\nNode count: 7\n",
            &mut m,
        )
        .expect("parses");
        assert_eq!(m.mode.as_deref(), Some("follower"));
        assert_eq!(m.zxid, Some(0x1_0000_002a));
        assert_eq!((m.connections, m.nodes), (Some(3), Some(7)));
        parse_srvr(
            "Latency min/avg/max: 0/0.5/12\nOutstanding: 4\nMode: leader\n",
            &mut m,
        )
        .expect("parses");
        assert_eq!(
            (m.latency, m.outstanding),
            (Some((0.0, 0.5, 12.0)), Some(4))
        );
        let refused = parse_srvr(
            "srvr is not executed because it is not in the whitelist.\n",
            &mut Member::default(),
        );
        assert!(refused.is_err());
    }
}
