//! A service instance exactly as Apache Curator's `ServiceInstance` serializes it (Jackson
//! JSON), so Java applications using Curator's service discovery and Rust ones see each
//! other, plus the small convention for what routing needs inside the free-form payload.
//!
//! # Format
//! ```json
//! {"name":"orders","id":"1f7c…","address":"10.0.0.5","port":8080,"sslPort":null,
//!  "payload":{"weight":100,"zone":"eu-1a","version":"2.3.0","tags":["canary"],
//!             "metadata":{"team":"checkout"}},
//!  "registrationTimeUTC":1700000000000,"serviceType":"DYNAMIC","uriSpec":null,
//!  "enabled":true}
//! ```
//! Reading tolerates unknown fields, a missing `enabled` (true), a payload of any JSON
//! shape (Spring Cloud's, with `@class`, included) and nulls where Java allows them.
//!
//! # Routing convention inside `payload`
//! When the payload is a JSON object, these keys are read by [`ServiceInstance::routing`]
//! (all optional): `weight` (non-negative number, default 100), `zone` (string),
//! `version` (string), `tags` (array of strings), `metadata` (object of string values —
//! the same key Spring Cloud Zookeeper's `ZookeeperInstance` uses).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{DiscoveryError, Result};

/// How the instance's node lives (Curator's `ServiceType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ServiceType {
    /// An ephemeral node: gone with the registrar's session.
    #[default]
    Dynamic,
    /// A persistent node.
    Static,
    /// A persistent node, never cleaned up.
    Permanent,
    /// An ephemeral sequential node (the id gets a sequence suffix).
    DynamicSequential,
}

impl ServiceType {
    /// Whether the node is tied to the registrar's session.
    pub fn is_ephemeral(self) -> bool {
        matches!(self, Self::Dynamic | Self::DynamicSequential)
    }
}

/// One part of a [`UriSpec`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UriPart {
    /// Literal text, or the name of a variable.
    pub value: String,
    /// Whether `value` names a variable.
    pub variable: bool,
}

/// Curator's URI template, e.g. `{scheme}://{address}:{port}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct UriSpec {
    /// The parts, in order.
    pub parts: Vec<UriPart>,
}

impl UriSpec {
    /// Parses Curator's template syntax: `{name}` is a variable, anything else literal.
    pub fn parse(template: &str) -> UriSpec {
        let mut parts = Vec::new();
        let mut rest = template;
        while !rest.is_empty() {
            match rest.find('{') {
                Some(0) => match rest.find('}') {
                    Some(end) => {
                        parts.push(UriPart {
                            value: rest[1..end].to_owned(),
                            variable: true,
                        });
                        rest = &rest[end + 1..];
                    }
                    None => {
                        parts.push(UriPart {
                            value: rest.to_owned(),
                            variable: false,
                        });
                        rest = "";
                    }
                },
                Some(i) => {
                    parts.push(UriPart {
                        value: rest[..i].to_owned(),
                        variable: false,
                    });
                    rest = &rest[i..];
                }
                None => {
                    parts.push(UriPart {
                        value: rest.to_owned(),
                        variable: false,
                    });
                    rest = "";
                }
            }
        }
        UriSpec { parts }
    }

    /// Builds the URI for `instance`, as Curator's `UriSpec.build`: `scheme` is `https`
    /// when an ssl port is set, variables unknown to the instance become empty.
    pub fn build(&self, instance: &ServiceInstance) -> String {
        let mut out = String::new();
        for part in &self.parts {
            if !part.variable {
                out.push_str(&part.value);
                continue;
            }
            match part.value.as_str() {
                "scheme" => out.push_str(if instance.ssl_port.is_some() {
                    "https"
                } else {
                    "http"
                }),
                "name" => out.push_str(&instance.name),
                "id" => out.push_str(&instance.id),
                "address" => out.push_str(&instance.address),
                "port" => {
                    if let Some(p) = instance.port {
                        out.push_str(&p.to_string());
                    }
                }
                "ssl-port" => {
                    if let Some(p) = instance.ssl_port {
                        out.push_str(&p.to_string());
                    }
                }
                _ => {}
            }
        }
        out
    }
}

fn default_true() -> bool {
    true
}

/// A registered service instance (Curator's `ServiceInstance`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceInstance {
    /// The service name.
    pub name: String,
    /// The instance id (the znode's name, unless sequential).
    pub id: String,
    /// Host or IP clients connect to.
    pub address: String,
    /// Plain port.
    #[serde(default)]
    pub port: Option<u16>,
    /// TLS port.
    #[serde(rename = "sslPort", default)]
    pub ssl_port: Option<u16>,
    /// Free-form JSON (see the module docs for the routing convention).
    #[serde(default)]
    pub payload: Option<Value>,
    /// Registration time, ms since the epoch.
    #[serde(rename = "registrationTimeUTC", default)]
    pub registration_time_utc: i64,
    /// Node kind.
    #[serde(rename = "serviceType", default)]
    pub service_type: ServiceType,
    /// URI template.
    #[serde(rename = "uriSpec", default)]
    pub uri_spec: Option<UriSpec>,
    /// Whether clients should use the instance (missing means true).
    #[serde(default = "default_true")]
    pub enabled: bool,
}

/// What routing reads from an instance's payload.
#[derive(Debug, Clone, PartialEq)]
pub struct RoutingMeta {
    /// Relative weight (default 100).
    pub weight: f64,
    /// Availability zone.
    pub zone: Option<String>,
    /// Version.
    pub version: Option<String>,
    /// Tags.
    pub tags: Vec<String>,
    /// Free string metadata.
    pub metadata: BTreeMap<String, String>,
}

/// Default weight of an instance (Dubbo's default).
pub const DEFAULT_WEIGHT: f64 = 100.0;

impl ServiceInstance {
    /// A DYNAMIC instance of `name` at `address:port` with a fresh random id and the
    /// current time.
    pub fn new(name: impl Into<String>, address: impl Into<String>, port: u16) -> Self {
        ServiceInstance {
            name: name.into(),
            id: random_id(),
            address: address.into(),
            port: Some(port),
            ssl_port: None,
            payload: None,
            registration_time_utc: now_ms(),
            service_type: ServiceType::Dynamic,
            uri_spec: None,
            enabled: true,
        }
    }

    /// Sets the id.
    pub fn with_id(mut self, id: impl Into<String>) -> Self {
        self.id = id.into();
        self
    }

    /// Sets the payload.
    pub fn with_payload(mut self, payload: Value) -> Self {
        self.payload = Some(payload);
        self
    }

    /// Sets the service type.
    pub fn with_service_type(mut self, t: ServiceType) -> Self {
        self.service_type = t;
        self
    }

    /// Sets the URI template.
    pub fn with_uri_spec(mut self, template: &str) -> Self {
        self.uri_spec = Some(UriSpec::parse(template));
        self
    }

    /// The URI from the template, if there is one.
    pub fn uri(&self) -> Option<String> {
        self.uri_spec.as_ref().map(|s| s.build(self))
    }

    /// The routing fields of the payload (defaults when absent or of the wrong type).
    pub fn routing(&self) -> RoutingMeta {
        let obj = self.payload.as_ref().and_then(Value::as_object);
        let get = |k: &str| obj.and_then(|o| o.get(k));
        RoutingMeta {
            weight: get("weight")
                .and_then(Value::as_f64)
                .filter(|w| w.is_finite() && *w >= 0.0)
                .unwrap_or(DEFAULT_WEIGHT),
            zone: get("zone").and_then(Value::as_str).map(str::to_owned),
            version: get("version").and_then(Value::as_str).map(str::to_owned),
            tags: get("tags")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
            metadata: get("metadata")
                .and_then(Value::as_object)
                .map(|m| {
                    m.iter()
                        .filter_map(|(k, v)| match v {
                            Value::String(s) => Some((k.clone(), s.clone())),
                            Value::Number(n) => Some((k.clone(), n.to_string())),
                            Value::Bool(b) => Some((k.clone(), b.to_string())),
                            _ => None,
                        })
                        .collect()
                })
                .unwrap_or_default(),
        }
    }

    /// The node data.
    pub fn to_json(&self) -> Result<Vec<u8>> {
        serde_json::to_vec(self).map_err(|e| DiscoveryError::Json(e.to_string()))
    }

    /// Parses node data (Curator's or ours).
    pub fn from_json(bytes: &[u8]) -> Result<Self> {
        if bytes.is_empty() {
            return Err(DiscoveryError::Json("empty node".into()));
        }
        serde_json::from_slice(bytes).map_err(|e| DiscoveryError::Json(e.to_string()))
    }
}

/// A random id in UUID v4 form, as Curator's default.
pub fn random_id() -> String {
    let b: [u8; 16] = rand::random();
    let h = |r: std::ops::Range<usize>| b[r].iter().map(|x| format!("{x:02x}")).collect::<String>();
    // Version 4, variant 10xx.
    let v = format!("{:x}{}", 4, &h(6..8)[1..]);
    let var = format!("{:x}{}", 8 | (b[8] >> 4 & 0x3), &h(8..10)[1..]);
    format!("{}-{}-{}-{}-{}", h(0..4), h(4..6), v, var, h(10..16))
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_curators_spring_cloud_layout() {
        let json = br#"{"name":"cloud-provider-payment","id":"ece4ce6c-a457-4874-8b3c-09f465e57939",
 "address":"192.168.101.9","port":8004,"sslPort":null,
 "payload":{"@class":"org.springframework.cloud.zookeeper.discovery.ZookeeperInstance",
            "id":"cloud-provider-payment","name":"cloud-provider-payment",
            "metadata":{"instance_status":"UP"}},
 "registrationTimeUTC":1658569595889,"serviceType":"DYNAMIC",
 "uriSpec":{"parts":[{"value":"scheme","variable":true},{"value":"://","variable":false},
   {"value":"address","variable":true},{"value":":","variable":false},{"value":"port","variable":true}]},
 "somethingNew":42}"#;
        let i = ServiceInstance::from_json(json).unwrap();
        assert_eq!(i.name, "cloud-provider-payment");
        assert_eq!(i.port, Some(8004));
        assert!(i.enabled, "a missing enabled means true");
        assert_eq!(i.uri().unwrap(), "http://192.168.101.9:8004");
        let r = i.routing();
        assert_eq!(
            r.metadata.get("instance_status").map(String::as_str),
            Some("UP")
        );
        assert_eq!(r.weight, DEFAULT_WEIGHT);
    }

    #[test]
    fn writes_curators_field_names() {
        let i = ServiceInstance::new("orders", "10.0.0.5", 8080)
            .with_id("abc")
            .with_payload(serde_json::json!({"weight": 5, "zone": "z1", "tags": ["canary"]}));
        let v: Value = serde_json::from_slice(&i.to_json().unwrap()).unwrap();
        for key in [
            "name",
            "id",
            "address",
            "port",
            "sslPort",
            "payload",
            "registrationTimeUTC",
            "serviceType",
            "uriSpec",
            "enabled",
        ] {
            assert!(v.get(key).is_some(), "{key} missing in {v}");
        }
        assert_eq!(v["serviceType"], "DYNAMIC");
        let r = i.routing();
        assert_eq!(
            (r.weight, r.zone.as_deref(), r.tags.clone()),
            (5.0, Some("z1"), vec!["canary".to_string()])
        );
    }

    #[test]
    fn corrupt_or_empty_data_is_an_error_not_a_panic() {
        assert!(ServiceInstance::from_json(b"").is_err());
        assert!(ServiceInstance::from_json(b"{not json").is_err());
        assert!(ServiceInstance::from_json(b"[1,2]").is_err());
        assert!(ServiceInstance::from_json(br#"{"name":"x"}"#).is_err());
    }

    #[test]
    fn ids_look_like_uuids() {
        let id = random_id();
        assert_eq!(id.len(), 36);
        assert_eq!(id.as_bytes()[14], b'4');
        assert_ne!(id, random_id());
    }
}
