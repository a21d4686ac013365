//! `routes get|validate|put|diff`: the routing rule of a service, stored at
//! `/routes/{service}` (or `--rule-path`).
//!
//! `put` checks the file first ([`crate::rule_check`]) and then writes conditionally on
//! the version it read — or on `--version`, the one a person saw with `routes get` before
//! editing — so a rule changed meanwhile by someone else is never overwritten silently
//! (exit code 4 instead).

use std::io::Read;

use serde_json::{json, Value};
use zk_client::{Client, CreateOptions, Error as ZkError, Stat};
use zk_discovery::ServiceDiscovery;

use crate::cli::{RoutesCommand, RulePutArgs};
use crate::diff;
use crate::error::{CtlError, Result};
use crate::nodes::create_parents;
use crate::output::Output;
use crate::rule_check::{self, RuleReport};
use crate::services::instances_of;

/// The rule node of `service`.
pub fn rule_path(service: &str, given: Option<&str>) -> String {
    given.map_or_else(|| zk_router::default_rule_path(service), str::to_owned)
}

/// Reads a rule file (`-`: stdin).
pub fn read_file(path: &std::path::Path) -> Result<Vec<u8>> {
    let io = |source| CtlError::Io {
        path: path.display().to_string(),
        source,
    };
    if path.as_os_str() == "-" {
        let mut buf = Vec::new();
        std::io::stdin().read_to_end(&mut buf).map_err(io)?;
        Ok(buf)
    } else {
        std::fs::read(path).map_err(io)
    }
}

/// The stored rule and its Stat, or `None` when there is none.
pub async fn read_rule(client: &Client, path: &str) -> Result<Option<(Vec<u8>, Stat)>> {
    match client.get_data(path).await {
        Ok((data, stat)) => Ok(Some((data.to_vec(), stat))),
        Err(ZkError::NoNode) => Ok(None),
        Err(e) => Err(CtlError::zk(format!("get {path}"))(e)),
    }
}

/// JSON text pretty-printed with sorted keys, so that formatting and key order do not
/// show up as differences; text that is not JSON is returned as it is.
pub fn normalized(bytes: &[u8]) -> String {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(v) => serde_json::to_string_pretty(&v).unwrap_or_default(),
        Err(_) => String::from_utf8_lossy(bytes).into_owned(),
    }
}

/// The live instances of a service: none (not an error) when it is not registered,
/// since a rule may well be written before the first instance starts.
async fn live_instances(
    discovery: &ServiceDiscovery,
    service: &str,
) -> Result<Vec<zk_discovery::ServiceInstance>> {
    match instances_of(discovery, service).await {
        Err(CtlError::NotFound(_)) => Ok(Vec::new()),
        other => other,
    }
}

async fn validate(discovery: &ServiceDiscovery, service: &str, rule: &[u8]) -> Result<RuleReport> {
    let instances = live_instances(discovery, service).await?;
    Ok(rule_check::check(rule, &instances))
}

/// Runs `routes get|validate|put|diff`.
pub async fn run(discovery: &ServiceDiscovery, out: Output, cmd: RoutesCommand) -> Result<()> {
    let client = discovery.client().client();
    match cmd {
        RoutesCommand::Get(args) => {
            let path = rule_path(&args.service, args.rule_path.as_deref());
            let (data, stat) = read_rule(&client, &path).await?.ok_or_else(|| {
                CtlError::NotFound(format!("no rule for {} at {path}", args.service))
            })?;
            let parsed = serde_json::from_slice::<Value>(&data).ok();
            out.note(&format!("# {path} version {}", stat.version));
            out.emit(
                || normalized(&data),
                || {
                    json!({
                        "service": args.service, "path": path, "version": stat.version,
                        "rule": parsed,
                        "raw": if parsed.is_none() { Some(String::from_utf8_lossy(&data)) } else { None },
                    })
                },
            );
            Ok(())
        }
        RoutesCommand::Validate(args) => {
            let report = validate(discovery, &args.service, &read_file(&args.file)?).await?;
            out.emit(|| report.to_text(), || report.to_json());
            if report.is_valid() {
                Ok(())
            } else {
                Err(CtlError::Other(format!(
                    "{} is not a valid rule",
                    args.file.display()
                )))
            }
        }
        RoutesCommand::Put(args) => put(discovery, &client, out, args).await,
        RoutesCommand::Diff(args) => {
            let path = rule_path(&args.service, args.rule_path.as_deref());
            let local = read_file(&args.file)?;
            let live = read_rule(&client, &path).await?;
            let old = live
                .as_ref()
                .map_or_else(String::new, |(d, _)| normalized(d));
            let new = normalized(&local);
            let lines = diff::diff(&old, &new);
            let identical = lines.iter().all(|l| matches!(l, diff::Line::Same(_)));
            let version = live.as_ref().map(|(_, s)| s.version);
            out.emit(
                || {
                    let head = match version {
                        Some(v) => format!("--- {path} (version {v})"),
                        None => format!("--- {path} (no rule)"),
                    };
                    if identical {
                        format!("{head}\n+++ {}\nno differences", args.file.display())
                    } else {
                        format!(
                            "{head}\n+++ {}\n{}",
                            args.file.display(),
                            diff::render(&lines)
                        )
                    }
                },
                || {
                    json!({
                        "path": path, "version": version, "identical": identical,
                        "diff": diff::render(&lines),
                    })
                },
            );
            Ok(())
        }
    }
}

async fn put(
    discovery: &ServiceDiscovery,
    client: &Client,
    out: Output,
    args: RulePutArgs,
) -> Result<()> {
    let target = &args.target;
    let path = rule_path(&target.service, target.rule_path.as_deref());
    // Read the version first: a check that passes against instances seen after the read
    // is still a check of the rule that will replace what was read.
    let current = read_rule(client, &path).await?;
    // Read once: what is checked is exactly what is written (stdin cannot be re-read).
    let data = read_file(&target.file)?;
    let report = validate(discovery, &target.service, &data).await?;
    if !report.is_valid() {
        out.emit(|| report.to_text(), || report.to_json());
        return Err(CtlError::Other(format!(
            "{} is not a valid rule; nothing written",
            target.file.display()
        )));
    }
    if !report.warnings.is_empty() && !args.force {
        out.emit(|| report.to_text(), || report.to_json());
        return Err(CtlError::Other(
            "the rule has warnings; nothing written (--force writes it anyway)".into(),
        ));
    }
    let (stat, created) = match (&current, args.version) {
        (Some((_, stat)), expected) => {
            let expected = expected.unwrap_or(stat.version);
            let stat = client
                .set_data(&path, &data, Some(expected))
                .await
                .map_err(|e| match e {
                    ZkError::BadVersion => CtlError::Conflict(format!(
                        "{path} is no longer at version {expected} (now {}): re-read it \
                         with `routes get` and retry",
                        stat.version
                    )),
                    e => CtlError::zk(format!("set {path}"))(e),
                })?;
            (stat, false)
        }
        (None, Some(v)) => {
            return Err(CtlError::Conflict(format!(
                "{path} does not exist, so it is not at version {v}"
            )))
        }
        (None, None) => {
            create_parents(client, &path).await?;
            let (_, stat) = client
                .create(&path, &data, &CreateOptions::persistent())
                .await
                .map_err(|e| match e {
                    ZkError::NodeExists => CtlError::Conflict(format!(
                        "{path} was created by someone else meanwhile: re-read it and retry"
                    )),
                    e => CtlError::zk(format!("create {path}"))(e),
                })?;
            (stat, true)
        }
    };
    out.emit(
        || {
            let mut lines: Vec<String> = report
                .warnings
                .iter()
                .map(|w| format!("warning: {w}"))
                .collect();
            lines.push(format!(
                "{} {path} version {}",
                if created { "created" } else { "updated" },
                stat.version
            ));
            lines.join("\n")
        },
        || {
            json!({
                "service": target.service, "path": path, "version": stat.version,
                "created": created, "warnings": report.warnings,
            })
        },
    );
    Ok(())
}
