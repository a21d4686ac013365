//! `route SERVICE --method M --header k=v …`: which endpoint a request would go to, and
//! why — the route that matched, the destination (subset) it drew and the policy.
//!
//! The pick itself is the router's: a [`zk_router::Router`] fed the stored (or a local)
//! rule and the live instances routes the request. The router does not say why it
//! picked what it picked, so the reasons are re-derived here from the same public pieces
//! the route table uses ([`Matcher`], [`Endpoint::in_subset`], the fallbacks), in the
//! same order; the picked endpoint is then placed in the destination that holds it.

use std::sync::Arc;

use serde_json::{json, Value};
use zk_discovery::{ServiceDiscovery, ServiceInstance};
use zk_router::matcher::Matcher;
use zk_router::rule::{Fallback, Policy, Route};
use zk_router::{Endpoint, RequestContext, Router, Rule};

use crate::cli::RouteArgs;
use crate::error::{CtlError, Result};
use crate::output::Output;
use crate::routes::{read_file, read_rule, rule_path};
use crate::rule_check::{route_name, subset_json};
use crate::services::instances_of;

/// What decided where a request goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Route `index` matched and has instances in its destinations.
    Route(usize),
    /// Route `index` matched without instances; its fallback sends to any instance.
    AnyInstance(usize),
    /// Route `index` matched without instances; its fallback fails the request.
    Fail(usize),
    /// No route took the request (or there is no rule): every instance, round robin.
    Default,
}

/// Walks the routes as the route table does, noting why each was taken or passed over.
pub fn decide(
    rule: Option<&Rule>,
    endpoints: &[Arc<Endpoint>],
    ctx: &RequestContext,
) -> (Decision, Vec<String>) {
    let mut trace = Vec::new();
    let Some(rule) = rule else {
        trace.push("no rule: default routing (every instance, round robin)".to_owned());
        return (Decision::Default, trace);
    };
    for (i, route) in rule.routes.iter().enumerate() {
        let name = route_name(route.name.as_deref(), i);
        let Some(matcher) = Matcher::compile(&route.matches) else {
            trace.push(format!("{name}: skipped, its conditions do not compile"));
            continue;
        };
        if !matcher.matches(ctx) {
            trace.push(format!("{name}: does not match"));
            continue;
        }
        let has_instances = route
            .destinations
            .iter()
            .any(|d| endpoints.iter().any(|e| e.in_subset(&d.subset)));
        if has_instances {
            trace.push(format!("{name}: matches"));
            return (Decision::Route(i), trace);
        }
        match route.fallback {
            Fallback::NextRoute => {
                trace.push(format!(
                    "{name}: matches, but no destination has an instance; fallback next_route"
                ));
            }
            Fallback::AnyInstance => {
                trace.push(format!(
                    "{name}: matches, but no destination has an instance; fallback any_instance (every instance, round robin)"
                ));
                return (Decision::AnyInstance(i), trace);
            }
            Fallback::Fail => {
                trace.push(format!(
                    "{name}: matches, but no destination has an instance; fallback fail"
                ));
                return (Decision::Fail(i), trace);
            }
        }
    }
    trace.push("no route matches: default routing (every instance, round robin)".to_owned());
    (Decision::Default, trace)
}

fn endpoint_json(e: &Endpoint) -> Value {
    json!({
        "id": e.id, "address": e.address, "port": e.port, "authority": e.authority(),
        "weight": e.weight, "version": e.version, "zone": e.zone, "tags": e.tags,
        "metadata": e.metadata,
    })
}

/// `type` of a policy plus its options, e.g. `consistent_hash {"header":"x-user"}`.
fn policy_text(policy: &Value) -> String {
    let kind = policy["type"].as_str().unwrap_or("?").to_owned();
    let mut options = policy.as_object().cloned().unwrap_or_default();
    options.remove("type");
    options.retain(|_, v| !v.is_null());
    if options.is_empty() {
        kind
    } else {
        format!("{kind} {}", Value::Object(options))
    }
}

/// Where, within the deciding route, the picked endpoint came from.
fn destination_of(route: &Route, endpoints: &[Arc<Endpoint>], picked: &Endpoint) -> Value {
    let live: Vec<(usize, &zk_router::rule::Destination)> = route
        .destinations
        .iter()
        .enumerate()
        .filter(|(_, d)| endpoints.iter().any(|e| e.in_subset(&d.subset)))
        .collect();
    // Destinations without instances hand their share to the others, as the table does.
    let total: u64 = live.iter().map(|(_, d)| u64::from(d.weight)).sum();
    match live.iter().find(|(_, d)| picked.in_subset(&d.subset)) {
        Some((i, d)) => json!({
            "index": i, "subset": subset_json(&d.subset), "weight": d.weight,
            "share": format!("{}/{}", d.weight, total),
            "candidates": endpoints.iter().filter(|e| e.in_subset(&d.subset)).map(|e| e.id.clone()).collect::<Vec<_>>(),
        }),
        None => Value::Null,
    }
}

/// Runs `route`.
pub async fn run(discovery: &ServiceDiscovery, out: Output, args: RouteArgs) -> Result<()> {
    let instances: Vec<ServiceInstance> = instances_of(discovery, &args.service).await?;
    let path = rule_path(&args.service, args.rule_path.as_deref());
    let (rule_bytes, source) = match &args.rule_file {
        Some(file) => (
            Some(read_file(file)?),
            json!({"file": file.display().to_string()}),
        ),
        None => match read_rule(&discovery.client().client(), &path).await? {
            Some((data, stat)) => (Some(data), json!({"path": path, "version": stat.version})),
            None => (None, json!({"path": path, "version": null})),
        },
    };
    let rule = rule_bytes
        .map(|b| Rule::parse(&b))
        .transpose()
        .map_err(|e| CtlError::Other(format!("the rule cannot be used: {e}")))?;

    let headers: Vec<(&str, &str)> = args
        .headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let tags: Vec<&str> = args.caller_tags.iter().map(String::as_str).collect();
    let ctx = RequestContext {
        method: &args.method,
        path: &args.path,
        headers: &headers,
        caller_tags: &tags,
        caller_id: &args.caller_id,
    };

    let router = Router::new(&args.service);
    router.set_rule(rule.clone());
    router.set_instances(instances.iter());
    let endpoints: Vec<Arc<Endpoint>> = router.table().endpoints().to_vec();
    let (decision, trace) = decide(rule.as_ref(), &endpoints, &ctx);
    let picked = router.route(&ctx);

    let deciding_route = match decision {
        Decision::Route(i) | Decision::AnyInstance(i) | Decision::Fail(i) => rule
            .as_ref()
            .and_then(|r| r.routes.get(i).map(|route| (i, route))),
        Decision::Default => None,
    };
    let (policy, destination) = match (decision, deciding_route, &picked) {
        (Decision::Route(_), Some((_, route)), Ok(p)) => (
            serde_json::to_value(&route.policy).unwrap_or(Value::Null),
            destination_of(route, &endpoints, p.endpoint()),
        ),
        _ => (
            serde_json::to_value(Policy::RoundRobin).unwrap_or(Value::Null),
            Value::Null,
        ),
    };
    let decided_by = match decision {
        Decision::Route(_) => "route",
        Decision::AnyInstance(_) => "fallback_any_instance",
        Decision::Fail(_) => "fallback_fail",
        Decision::Default => "default",
    };
    let route_json =
        deciding_route.map(|(i, r)| json!({"index": i, "name": route_name(r.name.as_deref(), i)}));
    let picked_json = picked.as_ref().ok().map(|p| endpoint_json(p.endpoint()));

    out.emit(
        || {
            let mut lines = Vec::new();
            match &picked {
                Ok(p) => lines.push(format!("endpoint    {} {}", p.id, p.authority())),
                Err(e) => lines.push(format!("endpoint    none: {e}")),
            }
            if let Some((i, r)) = deciding_route {
                lines.push(format!(
                    "route       {} (routes[{i}], {decided_by})",
                    route_name(r.name.as_deref(), i)
                ));
            } else {
                lines.push("route       none (default routing)".to_owned());
            }
            if !destination.is_null() {
                lines.push(format!(
                    "subset      {} (destination {}, share {})",
                    destination["subset"],
                    destination["index"],
                    destination["share"].as_str().unwrap_or("?")
                ));
                lines.push(format!(
                    "candidates  {}",
                    destination["candidates"]
                        .as_array()
                        .map(|c| c
                            .iter()
                            .filter_map(Value::as_str)
                            .collect::<Vec<_>>()
                            .join(", "))
                        .unwrap_or_default()
                ));
            }
            lines.push(format!("policy      {}", policy_text(&policy)));
            lines.push("why:".to_owned());
            lines.extend(trace.iter().map(|t| format!("  {t}")));
            lines.join("\n")
        },
        || {
            json!({
                "service": args.service, "rule": source, "picked": picked_json,
                "decided_by": decided_by, "route": route_json, "destination": destination,
                "policy": policy, "trace": trace,
            })
        },
    );
    match picked {
        Ok(_) => Ok(()),
        Err(e) => Err(CtlError::Other(format!("no endpoint: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_text_shows_the_options_set() {
        assert_eq!(policy_text(&json!({"type": "round_robin"})), "round_robin");
        assert_eq!(
            policy_text(
                &json!({"type": "consistent_hash", "header": "x-user", "bounded_load": null})
            ),
            r#"consistent_hash {"header":"x-user"}"#
        );
    }
}
