//! The routing rule format: what operators store in ZooKeeper (JSON, at `/routes/{service}`
//! by default), and its validation.
//!
//! Owns the serde model (the JSON Schema in `schema/route-rule.schema.json` is generated
//! from these types and a test keeps them equal) and [`Rule::validate`], whose errors name
//! the offending field (`routes[2].destinations[0].weight must be > 0`). It does not match
//! or pick anything; see [`crate::matcher`] and [`crate::policy`].
//!
//! # Example
//! ```json
//! {"routes": [
//!   {"name": "beta users get the canary",
//!    "match": {"headers": [{"name": "x-user-group", "exact": "beta"}]},
//!    "destinations": [{"subset": {"version": "2.0"}, "weight": 100}],
//!    "fallback": "next_route"},
//!   {"name": "everyone else: 90/10 canary",
//!    "destinations": [{"subset": {"version": "1.0"}, "weight": 90},
//!                     {"subset": {"version": "2.0"}, "weight": 10}],
//!    "policy": {"type": "least_request"}}
//! ]}
//! ```
//! Routes are tried in order; the first whose `match` holds decides. A request that no
//! route takes goes to every instance (as a service without a rule does).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A routing rule for one service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Routes, tried in order.
    pub routes: Vec<Route>,
}

/// One route: when it applies, and where it sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// A name for logs and errors.
    #[serde(default)]
    pub name: Option<String>,
    /// Conditions on the request; absent means every request.
    #[serde(default, rename = "match")]
    pub matches: RequestMatch,
    /// Where matching requests go: subsets with weights (a split).
    pub destinations: Vec<Destination>,
    /// What to do when the chosen destination has no instance.
    #[serde(default)]
    pub fallback: Fallback,
    /// How to pick an instance within the destination.
    #[serde(default)]
    pub policy: Policy,
}

/// Conditions on a request; every one given must hold.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestMatch {
    /// The method (e.g. a gRPC method name).
    #[serde(default)]
    pub method: Option<StringMatch>,
    /// The path (e.g. an HTTP path or `/package.Service/Method`).
    #[serde(default)]
    pub path: Option<StringMatch>,
    /// Header or metadata conditions.
    #[serde(default)]
    pub headers: Vec<HeaderMatch>,
    /// Tags the caller must all have.
    #[serde(default)]
    pub caller_tags: Vec<String>,
}

/// How a string is compared: exactly one of `exact`, `prefix`, `regex` or `present`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StringMatch {
    /// Equal to this.
    #[serde(default)]
    pub exact: Option<String>,
    /// Starts with this.
    #[serde(default)]
    pub prefix: Option<String>,
    /// Matches this regular expression (Rust `regex` syntax, unanchored).
    #[serde(default)]
    pub regex: Option<String>,
    /// Is present (true) or absent (false), whatever its value.
    #[serde(default)]
    pub present: Option<bool>,
    /// Negates the result.
    #[serde(default)]
    pub invert: bool,
}

/// A condition on one header (or metadata entry).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HeaderMatch {
    /// Header name (compared case-insensitively).
    pub name: String,
    /// The comparison.
    #[serde(flatten)]
    pub matcher: StringMatch,
}

/// A weighted share of a route's traffic, sent to a subset of instances.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Destination {
    /// Which instances (all when empty).
    #[serde(default)]
    pub subset: Subset,
    /// Relative share (default 1).
    #[serde(default = "one")]
    pub weight: u32,
}

fn one() -> u32 {
    1
}

/// Instances selected by their metadata (see `zk_discovery::instance` for where these
/// come from); every field given must match.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Subset {
    /// Instance version.
    #[serde(default)]
    pub version: Option<String>,
    /// Instance zone.
    #[serde(default)]
    pub zone: Option<String>,
    /// Tags the instance must all carry.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Metadata entries the instance must carry.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
}

/// What happens when the chosen destination has no instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Fallback {
    /// Try the route's other destinations, then fail the request.
    #[default]
    Fail,
    /// Try the next route.
    NextRoute,
    /// Use any instance of the service.
    AnyInstance,
}

/// How a route picks an instance among those of its destination.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Policy {
    /// In turn.
    #[default]
    RoundRobin,
    /// Uniformly at random.
    Random,
    /// At random, in proportion to instance weights.
    WeightedRandom,
    /// In turn, in proportion to instance weights, spread evenly (smooth weighted round
    /// robin, as nginx and Dubbo).
    WeightedRoundRobin,
    /// The less loaded of two instances drawn at random (power of two choices over
    /// outstanding requests).
    LeastRequest,
    /// Like least request, weighing each instance's outstanding requests by its peak
    /// EWMA latency (Finagle's and tower's peak EWMA), so slow instances get less.
    PeakEwma,
    /// Consistent hashing on a request key, so a key keeps its instance while the set
    /// changes little (a ring with virtual nodes).
    ConsistentHash {
        /// The header whose value is hashed; without it, the caller id.
        #[serde(default)]
        header: Option<String>,
        /// Bound on an instance's load relative to the average (e.g. 1.25): an instance
        /// above it passes the key on along the ring (consistent hashing with bounded
        /// loads, Mirrokni et al. 2018). Unbounded when absent.
        #[serde(default)]
        bounded_load: Option<f64>,
    },
    /// Every request to the same instance until it goes away or is ejected (Curator's
    /// sticky strategy), then the next one.
    Sticky,
}

/// A rule that cannot be used, with the field at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} {problem}")]
pub struct RuleError {
    /// Path of the field, e.g. `routes[2].destinations[0].weight`.
    pub field: String,
    /// What is wrong.
    pub problem: String,
}

/// Refuses keys other than `type` on policies that take no options.
fn check_policy_keys(raw: &serde_json::Value) -> Result<(), RuleError> {
    let routes = raw.get("routes").and_then(|r| r.as_array());
    for (i, route) in routes.into_iter().flatten().enumerate() {
        let Some(policy) = route.get("policy").and_then(|p| p.as_object()) else {
            continue;
        };
        let Some(kind) = policy.get("type").and_then(|t| t.as_str()) else {
            continue;
        };
        if kind == "consistent_hash" {
            continue; // a struct variant: serde already refuses unknown keys
        }
        if let Some(extra) = policy.keys().find(|k| k.as_str() != "type") {
            return Err(RuleError {
                field: format!("routes[{i}].policy.{extra}"),
                problem: format!("is not an option of policy {kind}"),
            });
        }
    }
    Ok(())
}

impl Rule {
    /// Parses and validates rule JSON.
    pub fn parse(json: &[u8]) -> Result<Rule, RuleError> {
        let rule: Rule = serde_json::from_slice(json).map_err(|e| RuleError {
            field: format!("rule (line {}, column {})", e.line(), e.column()),
            problem: e.to_string(),
        })?;
        // Serde ignores extra keys next to the tag of an option-less (unit) variant, so a
        // typo there would pass silently: check those keys on the raw JSON.
        if let Ok(raw) = serde_json::from_slice::<serde_json::Value>(json) {
            check_policy_keys(&raw)?;
        }
        rule.validate()?;
        Ok(rule)
    }

    /// Checks everything serde cannot: every route has a destination, weights are
    /// positive, string matches say exactly one thing and regexes compile.
    pub fn validate(&self) -> Result<(), RuleError> {
        let err = |field: String, problem: &str| RuleError {
            field,
            problem: problem.to_owned(),
        };
        for (r, route) in self.routes.iter().enumerate() {
            let at = format!("routes[{r}]");
            if route.destinations.is_empty() {
                return Err(err(format!("{at}.destinations"), "must not be empty"));
            }
            for (d, dest) in route.destinations.iter().enumerate() {
                if dest.weight == 0 {
                    return Err(err(format!("{at}.destinations[{d}].weight"), "must be > 0"));
                }
                if dest.subset.tags.iter().any(String::is_empty) {
                    return Err(err(
                        format!("{at}.destinations[{d}].subset.tags"),
                        "must not contain empty tags",
                    ));
                }
            }
            let m = &route.matches;
            if let Some(s) = &m.method {
                check_string_match(s, &format!("{at}.match.method"))?;
            }
            if let Some(s) = &m.path {
                check_string_match(s, &format!("{at}.match.path"))?;
            }
            for (h, header) in m.headers.iter().enumerate() {
                let field = format!("{at}.match.headers[{h}]");
                if header.name.trim().is_empty() {
                    return Err(err(format!("{field}.name"), "must not be empty"));
                }
                check_string_match(&header.matcher, &field)?;
            }
            if let Policy::ConsistentHash {
                header,
                bounded_load,
            } = &route.policy
            {
                if header.as_ref().is_some_and(|h| h.trim().is_empty()) {
                    return Err(err(format!("{at}.policy.header"), "must not be empty"));
                }
                if bounded_load.is_some_and(|c| !(c >= 1.0 && c.is_finite())) {
                    return Err(err(
                        format!("{at}.policy.bounded_load"),
                        "must be a number >= 1",
                    ));
                }
            }
        }
        Ok(())
    }
}

fn check_string_match(m: &StringMatch, field: &str) -> Result<(), RuleError> {
    let given = [
        m.exact.is_some(),
        m.prefix.is_some(),
        m.regex.is_some(),
        m.present.is_some(),
    ]
    .iter()
    .filter(|x| **x)
    .count();
    if given != 1 {
        return Err(RuleError {
            field: field.to_owned(),
            problem: "must give exactly one of exact, prefix, regex, present".to_owned(),
        });
    }
    if let Some(re) = &m.regex {
        if let Err(e) = regex::Regex::new(re) {
            return Err(RuleError {
                field: format!("{field}.regex"),
                problem: format!("is not a valid regular expression: {e}"),
            });
        }
    }
    Ok(())
}

/// The JSON Schema of [`Rule`], as checked into `schema/route-rule.schema.json`.
pub fn json_schema() -> String {
    let schema = schemars::schema_for!(Rule);
    let mut s = serde_json::to_string_pretty(&schema).unwrap_or_default();
    s.push('\n');
    s
}
