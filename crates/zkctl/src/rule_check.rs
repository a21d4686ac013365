//! Checking a routing rule before it goes live: against the schema (parsing with
//! `zk_router::Rule::parse`, whose types the published JSON Schema is generated from,
//! plus its semantic validation), then against the service's live instances — a
//! destination whose subset selects nobody is legal but almost always a mistake.

use serde_json::{json, Value};
use zk_discovery::ServiceInstance;
use zk_router::rule::{Fallback, Subset};
use zk_router::{Endpoint, Rule};

/// What a check found.
#[derive(Debug, Default)]
pub struct RuleReport {
    /// The rule, when it parsed and validated.
    pub rule: Option<Rule>,
    /// Why the rule cannot be used (schema or validation); empty when it can.
    pub errors: Vec<String>,
    /// What will probably not do what was meant (subsets that select no instance).
    pub warnings: Vec<String>,
    /// Per destination: the route, its index, the subset and the instances it selects.
    pub destinations: Vec<Value>,
}

impl RuleReport {
    /// Whether the rule can be stored.
    pub fn is_valid(&self) -> bool {
        self.errors.is_empty()
    }

    /// The report as JSON.
    pub fn to_json(&self) -> Value {
        json!({
            "valid": self.is_valid(),
            "errors": self.errors,
            "warnings": self.warnings,
            "destinations": self.destinations,
        })
    }

    /// The report as text.
    pub fn to_text(&self) -> String {
        let mut lines = Vec::new();
        for e in &self.errors {
            lines.push(format!("error: {e}"));
        }
        for w in &self.warnings {
            lines.push(format!("warning: {w}"));
        }
        for d in &self.destinations {
            lines.push(format!(
                "route {}, destination {}: subset {} selects {} instance(s)",
                d["route"].as_str().unwrap_or_default(),
                d["destination"],
                d["subset"],
                d["instances"].as_array().map_or(0, Vec::len)
            ));
        }
        if self.is_valid() {
            lines.push("rule is valid".to_owned());
        }
        lines.join("\n")
    }
}

/// `route.name`, or `routes[i]` as the router names unnamed routes.
pub fn route_name(name: Option<&str>, index: usize) -> String {
    name.map_or_else(|| format!("routes[{index}]"), str::to_owned)
}

/// The subset as JSON with only the fields it sets (`{}` for every instance).
pub fn subset_json(s: &Subset) -> Value {
    let mut m = serde_json::Map::new();
    if let Some(v) = &s.version {
        m.insert("version".into(), json!(v));
    }
    if let Some(z) = &s.zone {
        m.insert("zone".into(), json!(z));
    }
    if !s.tags.is_empty() {
        m.insert("tags".into(), json!(s.tags));
    }
    if !s.metadata.is_empty() {
        m.insert("metadata".into(), json!(s.metadata));
    }
    Value::Object(m)
}

/// Checks `json` as a rule for a service whose instances are `instances`.
pub fn check(json: &[u8], instances: &[ServiceInstance]) -> RuleReport {
    let rule = match Rule::parse(json) {
        Ok(rule) => rule,
        Err(e) => {
            return RuleReport {
                errors: vec![e.to_string()],
                ..RuleReport::default()
            }
        }
    };
    let endpoints: Vec<Endpoint> = instances.iter().map(Endpoint::from_instance).collect();
    let mut report = RuleReport::default();
    if endpoints.is_empty() {
        report
            .warnings
            .push("the service has no instances: every request would fail".to_owned());
    }
    for (r, route) in rule.routes.iter().enumerate() {
        let name = route_name(route.name.as_deref(), r);
        let mut selected_any = false;
        for (d, dest) in route.destinations.iter().enumerate() {
            let ids: Vec<&str> = endpoints
                .iter()
                .filter(|e| e.in_subset(&dest.subset))
                .map(|e| e.id.as_str())
                .collect();
            if ids.is_empty() && !endpoints.is_empty() {
                report.warnings.push(format!(
                    "routes[{r}].destinations[{d}] ({name}): subset {} selects no live instance",
                    subset_json(&dest.subset)
                ));
            }
            selected_any |= !ids.is_empty();
            report.destinations.push(json!({
                "route": name, "route_index": r, "destination": d,
                "subset": subset_json(&dest.subset), "weight": dest.weight,
                "instances": ids,
            }));
        }
        if !selected_any && !endpoints.is_empty() && route.fallback == Fallback::Fail {
            report.warnings.push(format!(
                "routes[{r}] ({name}): no destination has an instance and its fallback is \
                 fail: requests it matches would fail"
            ));
        }
    }
    report.rule = Some(rule);
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instance(id: &str, version: &str) -> ServiceInstance {
        ServiceInstance::new("orders", "10.0.0.1", 80)
            .with_id(id)
            .with_payload(json!({"version": version}))
    }

    #[test]
    fn a_schema_error_names_the_field() {
        let r = check(br#"{"routes": [{"destinations": [{"weight": 0}]}]}"#, &[]);
        assert!(!r.is_valid());
        assert!(
            r.errors[0].contains("routes[0].destinations[0].weight"),
            "{r:?}"
        );
        let unknown = check(br#"{"routes": [], "extra": 1}"#, &[]);
        assert!(unknown.errors[0].contains("extra"), "{unknown:?}");
    }

    #[test]
    fn a_subset_without_live_instances_is_a_warning() {
        let rule = br#"{"routes": [{"destinations": [{"subset": {"version": "9"}}]}]}"#;
        let r = check(rule, &[instance("a", "1")]);
        assert!(r.is_valid());
        assert_eq!(r.warnings.len(), 2, "{r:?}");
        let ok = check(
            br#"{"routes": [{"destinations": [{"subset": {"version": "1"}}]}]}"#,
            &[instance("a", "1")],
        );
        assert!(ok.warnings.is_empty(), "{ok:?}");
        assert_eq!(ok.destinations[0]["instances"], json!(["a"]));
    }
}
