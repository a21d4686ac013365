//! The routes page's data: a service's rule, checked as `zkctl routes validate` checks it,
//! what each destination selects now and the split that gives; saving a rule on the
//! version it was loaded at; and routing one request, as `zkctl route` does.
//!
//! Owns the HTTP side only: checks are [`crate::rule_check`]'s, decisions
//! [`crate::explain`]'s, and the instances those see are the live enabled ones the
//! console's discovery caches hold (as a router sees them).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use zk_client::{CreateOptions, Error as ZkError};
use zk_discovery::ServiceInstance;
use zk_router::{RequestContext, Rule};

use super::reply::{parse_body, ApiError};
use super::Shared;
use crate::explain::explain;
use crate::nodes::create_parents;
use crate::routes::{normalized, read_rule, rule_path};
use crate::rule_check::{self, RuleReport};

/// The live, enabled instances of `service` (none when it is not registered: a rule may
/// come before the first instance).
async fn instances(s: &Shared, service: &str) -> Result<Vec<ServiceInstance>, ApiError> {
    zk_discovery::naming::check_name("service name", service)?;
    if let Some(known) = s.services.enabled_instances(service) {
        return Ok(known);
    }
    // Not listed (yet): the discovery cache reads it now, and stays to follow it.
    let cache = s.discovery.cache(service).await?;
    Ok(cache
        .instances()
        .instances()
        .iter()
        .filter(|i| i.enabled)
        .map(|i| i.as_ref().clone())
        .collect())
}

/// The stored rule as the editor shows it: as written when a person laid it out on
/// several lines (pretty-printing would sort their keys), else pretty-printed.
fn shown(data: &[u8]) -> String {
    match std::str::from_utf8(data) {
        Ok(text) if text.trim().contains('\n') => text.to_owned(),
        _ => normalized(data),
    }
}

/// The split a checked rule gives: per route, each destination's share of the draw and
/// the instances it selects (spread evenly by the round-robin default; other policies
/// spread differently within a destination, never across destinations).
fn split(report: &RuleReport) -> Value {
    let mut routes: BTreeMap<u64, Vec<&Value>> = BTreeMap::new();
    for d in &report.destinations {
        routes
            .entry(d["route_index"].as_u64().unwrap_or(0))
            .or_default()
            .push(d);
    }
    let policies = report.rule.as_ref().map(|r| {
        r.routes
            .iter()
            .map(|route| serde_json::to_value(&route.policy).unwrap_or(Value::Null))
            .collect::<Vec<_>>()
    });
    Value::Array(
        routes
            .into_iter()
            .map(|(index, dests)| {
                let total: u64 = dests.iter().map(|d| d["weight"].as_u64().unwrap_or(0)).sum();
                let destinations: Vec<Value> = dests
                    .iter()
                    .map(|d| {
                        let weight = d["weight"].as_u64().unwrap_or(0);
                        let share = if total == 0 { 0.0 } else { 100.0 * weight as f64 / total as f64 };
                        let n = d["instances"].as_array().map_or(0, Vec::len);
                        json!({
                            "destination": d["destination"], "subset": d["subset"], "weight": weight,
                            "share_percent": share, "instances": d["instances"],
                            "per_instance_percent": if n == 0 { Value::Null } else { json!(share / n as f64) },
                        })
                    })
                    .collect();
                json!({
                    "route": dests.first().map_or(Value::Null, |d| d["route"].clone()),
                    "route_index": index,
                    "policy": policies.as_ref().and_then(|p| p.get(index as usize)).cloned().unwrap_or(Value::Null),
                    "destinations": destinations,
                })
            })
            .collect(),
    )
}

fn report_json(report: &RuleReport) -> Value {
    let mut v = report.to_json();
    if let Some(m) = v.as_object_mut() {
        m.insert("split".into(), split(report));
    }
    v
}

/// The `{service}` of a route's URL; one that does not decode (bad percent-encoding, not
/// UTF-8) is a JSON 400 like every other error of the API, not axum's plain-text one.
fn service_name(path: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    path.map(|Path(service)| service).map_err(|rejection| {
        ApiError::bad_request(format!("service name: {}", rejection.body_text()))
    })
}

/// `GET /api/routes/{service}`.
pub async fn show(
    State(s): State<Arc<Shared>>,
    service: Result<Path<String>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let service = service_name(service)?;
    let live = instances(&s, &service).await?;
    let path = rule_path(&service, None);
    let stored = read_rule(&s.client(), &path).await?;
    let body = match stored {
        Some((data, stat)) => {
            let report = rule_check::check(&data, &live);
            json!({
                "service": service, "path": path, "exists": true, "version": stat.version,
                "text": shown(&data), "check": report_json(&report),
                "instances": live.len(),
            })
        }
        None => json!({
            "service": service, "path": path, "exists": false, "version": null,
            "text": "", "check": null, "instances": live.len(),
        }),
    };
    Ok(Json(body))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Draft {
    rule: String,
}

/// `POST /api/routes/{service}/check`: checks a draft, writes nothing.
pub async fn check(
    State(s): State<Arc<Shared>>,
    service: Result<Path<String>, PathRejection>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let service = service_name(service)?;
    let draft: Draft = parse_body(&body)?;
    let live = instances(&s, &service).await?;
    let report = rule_check::check(draft.rule.as_bytes(), &live);
    Ok(Json(report_json(&report)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Save {
    rule: String,
    /// The version it was loaded at; `None`: there was no rule, create it.
    version: Option<i32>,
    /// Save despite warnings (never despite errors).
    #[serde(default)]
    force: bool,
}

/// `PUT /api/routes/{service}`: checks, then writes on the loaded version.
pub async fn save(
    State(s): State<Arc<Shared>>,
    service: Result<Path<String>, PathRejection>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let service = service_name(service)?;
    s.require_writes()?;
    let save: Save = parse_body(&body)?;
    let live = instances(&s, &service).await?;
    let report = rule_check::check(save.rule.as_bytes(), &live);
    if !report.is_valid() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "the rule is not valid; nothing was saved",
        )
        .with(json!({"check": report_json(&report)})));
    }
    if !report.warnings.is_empty() && !save.force {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "the rule has warnings; nothing was saved (save anyway to override)",
        )
        .with(json!({"check": report_json(&report), "needs_force": true})));
    }
    let client = s.client();
    let path = rule_path(&service, None);
    let data = save.rule.as_bytes();
    let stat = match save.version {
        Some(version) => match client.set_data(&path, data, Some(version)).await {
            Ok(stat) => stat,
            Err(ZkError::BadVersion) => {
                let now = client.exists(&path).await?.map(|st| st.version);
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    format!(
                        "someone else changed the rule since you loaded version {version}{}: \
                         reload it and apply your edit again",
                        now.map_or_else(String::new, |v| format!(" (it is now at version {v})"))
                    ),
                )
                .with(json!({"current_version": now})));
            }
            Err(ZkError::NoNode) => {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    format!("the rule was deleted since you loaded version {version}: reload it"),
                ))
            }
            Err(e) => return Err(e.into()),
        },
        None => {
            create_parents(&client, &path).await?;
            match client
                .create(&path, data, &CreateOptions::persistent())
                .await
            {
                Ok((_, stat)) => stat,
                Err(ZkError::NodeExists) => {
                    return Err(ApiError::new(
                        StatusCode::CONFLICT,
                        "someone else created a rule for this service meanwhile: reload it",
                    ))
                }
                Err(e) => return Err(e.into()),
            }
        }
    };
    tracing::info!(%service, %path, version = stat.version, "console saved a rule");
    Ok(Json(json!({
        "path": path, "version": stat.version, "warnings": report.warnings,
    })))
}

/// Headers as `{"name": "value"}` or `[["name", "value"], …]`.
#[derive(Deserialize)]
#[serde(untagged)]
enum Headers {
    Map(BTreeMap<String, String>),
    List(Vec<(String, String)>),
}

impl Default for Headers {
    fn default() -> Self {
        Headers::List(Vec::new())
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct TryRequest {
    method: String,
    path: String,
    headers: Headers,
    caller_tags: Vec<String>,
    caller_id: String,
    /// A draft to route with instead of the stored rule.
    rule: Option<String>,
}

/// `POST /api/routes/{service}/try`: which endpoint a request would go to, and why.
pub async fn try_request(
    State(s): State<Arc<Shared>>,
    service: Result<Path<String>, PathRejection>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let service = service_name(service)?;
    let req: TryRequest = parse_body(&body)?;
    let live = instances(&s, &service).await?;
    let path = rule_path(&service, None);
    let (bytes, source) = match &req.rule {
        Some(draft) => (Some(draft.clone().into_bytes()), json!({"draft": true})),
        None => match read_rule(&s.client(), &path).await? {
            Some((data, stat)) => (Some(data), json!({"path": path, "version": stat.version})),
            None => (None, json!({"path": path, "version": null})),
        },
    };
    let rule = bytes.map(|b| Rule::parse(&b)).transpose().map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("the rule cannot be used: {e}"),
        )
    })?;
    let headers: Vec<(String, String)> = match req.headers {
        Headers::Map(m) => m.into_iter().collect(),
        Headers::List(l) => l,
    };
    let headers: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let tags: Vec<&str> = req.caller_tags.iter().map(String::as_str).collect();
    let ctx = RequestContext {
        method: &req.method,
        path: &req.path,
        headers: &headers,
        caller_tags: &tags,
        caller_id: &req.caller_id,
    };
    let explained = explain(&service, rule, source, &live, &ctx);
    let mut v = explained.json;
    if let Some(m) = v.as_object_mut() {
        m.insert("text".into(), json!(explained.text));
        m.insert("error".into(), json!(explained.error));
    }
    Ok(Json(v))
}
