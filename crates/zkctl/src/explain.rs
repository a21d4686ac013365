//! `route SERVICE --method M --header k=v …`: which endpoint a request would go to, and
//! why — the route that matched, the destination (subset) it drew and the policy.
//!
//! The pick and its reasons are the router's own ([`Router::explain`]): a router fed the
//! stored (or a local) rule and the live instances routes the request and reports each
//! route it passed over or took, so what this prints cannot drift from what routing does.
//! This module only puts the rule's names, subsets and policies to the steps.

use std::sync::Arc;

use serde_json::{json, Value};
use zk_discovery::{ServiceDiscovery, ServiceInstance};
use zk_router::rule::{Fallback, Policy, Route};
use zk_router::{Endpoint, RequestContext, Router, Rule, Step};

use crate::cli::RouteArgs;
use crate::error::{CtlError, Result};
use crate::output::Output;
use crate::routes::{read_file, read_rule, rule_path};
use crate::rule_check::{route_name, subset_json};
use crate::services::instances_of;

/// The steps as lines for people, with the rule's route names.
fn trace(rule: Option<&Rule>, steps: &[Step]) -> Vec<String> {
    let name = |i: usize| {
        let given = rule
            .and_then(|r| r.routes.get(i))
            .and_then(|r| r.name.as_deref());
        route_name(given, i)
    };
    steps
        .iter()
        .map(|step| match *step {
            Step::NoMatch { route } => format!("{}: does not match", name(route)),
            Step::Drew {
                route,
                destination,
                weight,
                of,
            } => format!(
                "{}: matches; drew destination {destination} (weight {weight} of {of})",
                name(route)
            ),
            Step::Empty { route, fallback } => format!(
                "{}: matches, but no destination has an instance; fallback {}",
                name(route),
                match fallback {
                    Fallback::NextRoute => "next_route",
                    Fallback::AnyInstance => "any_instance (every instance, round robin)",
                    Fallback::Fail => "fail",
                }
            ),
            Step::Default if rule.is_none() => {
                "no rule: default routing (every instance, round robin)".to_owned()
            }
            Step::Default => {
                "no route took it: default routing (every instance, round robin)".to_owned()
            }
            _ => format!("{step:?}"),
        })
        .collect()
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

/// The destination a route drew: its subset, its share of the draw, its instances.
fn destination_json(
    route: &Route,
    index: usize,
    weight: u64,
    of: u64,
    members: &[Arc<Endpoint>],
) -> Value {
    match route.destinations.get(index) {
        Some(d) => json!({
            "index": index, "subset": subset_json(&d.subset), "weight": weight,
            "share": format!("{weight}/{of}"),
            "candidates": members.iter().map(|e| e.id.clone()).collect::<Vec<_>>(),
        }),
        None => Value::Null,
    }
}

/// What [`explain`] found: the decision as JSON and as lines for people, and why no
/// endpoint was picked, if none was.
#[derive(Debug, Clone)]
pub struct Explained {
    /// The decision: picked endpoint, route, destination, policy, trace.
    pub json: Value,
    /// The same for people, one fact per line.
    pub text: String,
    /// Why no endpoint was picked (`None` when one was).
    pub error: Option<String>,
}

/// Routes one request through a router holding `rule` (default routing without one) and
/// `instances`, and says what it picked and why. `source` says where the rule came from
/// (it is copied into the JSON).
pub fn explain(
    service: &str,
    rule: Option<Rule>,
    source: Value,
    instances: &[ServiceInstance],
    ctx: &RequestContext,
) -> Explained {
    let router = Router::new(service);
    router.set_rule(rule.clone());
    router.set_instances(instances.iter());
    let explanation = router.explain(ctx);
    let trace = trace(rule.as_ref(), &explanation.steps);
    let picked = explanation.picked;
    let table = router.table();

    // The last step decided: a draw, a fallback, or default routing.
    let decision = explanation.steps.last().copied().unwrap_or(Step::Default);
    let (decided_by, deciding) = match decision {
        Step::Drew { route, .. } => ("route", Some(route)),
        Step::Empty {
            route,
            fallback: Fallback::AnyInstance,
        } => ("fallback_any_instance", Some(route)),
        Step::Empty { route, .. } => ("fallback_fail", Some(route)),
        _ => ("default", None),
    };
    let deciding_route =
        deciding.and_then(|i| rule.as_ref().and_then(|r| r.routes.get(i)).map(|r| (i, r)));
    let (policy, destination) = match (decision, deciding_route) {
        (
            Step::Drew {
                destination,
                weight,
                of,
                ..
            },
            Some((i, route)),
        ) => (
            serde_json::to_value(&route.policy).unwrap_or(Value::Null),
            destination_json(
                route,
                destination,
                weight,
                of,
                table.destination_endpoints(i, destination).unwrap_or(&[]),
            ),
        ),
        _ => (
            serde_json::to_value(Policy::RoundRobin).unwrap_or(Value::Null),
            Value::Null,
        ),
    };
    let route_json =
        deciding_route.map(|(i, r)| json!({"index": i, "name": route_name(r.name.as_deref(), i)}));
    let picked_json = picked.as_ref().ok().map(|p| endpoint_json(p.endpoint()));

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

    Explained {
        json: json!({
            "service": service, "rule": source, "picked": picked_json,
            "decided_by": decided_by, "route": route_json, "destination": destination,
            "policy": policy, "trace": trace,
        }),
        text: lines.join("\n"),
        error: picked.err().map(|e| e.to_string()),
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
    let explained = explain(&args.service, rule, source, &instances, &ctx);
    out.emit(|| explained.text.clone(), || explained.json.clone());
    match explained.error {
        None => Ok(()),
        Some(e) => Err(CtlError::Other(format!("no endpoint: {e}"))),
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
