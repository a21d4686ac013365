//! `services list|show NAME`: what is registered under Curator's `/services` layout.

use serde_json::{json, Value};
use zk_discovery::{ServiceDiscovery, ServiceInstance};

use crate::cli::ServicesCommand;
use crate::error::{CtlError, Result};
use crate::output::Output;
use crate::table;
use crate::timestamp::utc;

/// `address:port` (the TLS port when it is the only one), or the address alone.
pub fn authority(i: &ServiceInstance) -> String {
    match (i.port, i.ssl_port) {
        (Some(p), _) | (None, Some(p)) => format!("{}:{p}", i.address),
        (None, None) => i.address.clone(),
    }
}

/// An instance as JSON, in Curator's field names, plus its URI and registration time.
pub fn instance_json(i: &ServiceInstance) -> Value {
    json!({
        "id": i.id,
        "address": i.address,
        "port": i.port,
        "sslPort": i.ssl_port,
        "payload": i.payload,
        "registrationTimeUTC": i.registration_time_utc,
        "registered": utc(i.registration_time_utc),
        "serviceType": i.service_type,
        "enabled": i.enabled,
        "uri": i.uri(),
    })
}

/// The instances of `name`, or not-found when the service has no node at all (a service
/// whose node exists without instances is shown as empty: it was registered once).
pub async fn instances_of(
    discovery: &ServiceDiscovery,
    name: &str,
) -> Result<Vec<ServiceInstance>> {
    let instances = discovery
        .query_for_instances(name)
        .await
        .map_err(CtlError::discovery(format!("services show {name}")))?;
    if instances.is_empty() {
        let path = discovery.naming().service(name);
        let exists = discovery
            .client()
            .client()
            .exists(&path)
            .await
            .map_err(CtlError::zk(format!("stat {path}")))?;
        if exists.is_none() {
            return Err(CtlError::NotFound(format!(
                "no service {name:?} (nothing at {path})"
            )));
        }
    }
    Ok(instances)
}

/// Runs `services list|show`.
pub async fn run(discovery: &ServiceDiscovery, out: Output, cmd: ServicesCommand) -> Result<()> {
    match cmd {
        ServicesCommand::List => {
            let names = discovery
                .query_for_names()
                .await
                .map_err(CtlError::discovery("services list"))?;
            let mut rows = Vec::new();
            for name in &names {
                let n = discovery
                    .query_for_instances(name)
                    .await
                    .map_err(CtlError::discovery(format!("services list {name}")))?
                    .len();
                rows.push((name.clone(), n));
            }
            out.emit(
                || {
                    let cells: Vec<Vec<String>> = rows
                        .iter()
                        .map(|(n, c)| vec![n.clone(), c.to_string()])
                        .collect();
                    table::render(&["SERVICE", "INSTANCES"], &cells)
                },
                || {
                    Value::Array(
                        rows.iter()
                            .map(|(n, c)| json!({"name": n, "instances": c}))
                            .collect(),
                    )
                },
            );
        }
        ServicesCommand::Show(args) => {
            let instances = instances_of(discovery, &args.name).await?;
            out.emit(
                || {
                    let cells: Vec<Vec<String>> = instances
                        .iter()
                        .map(|i| {
                            vec![
                                i.id.clone(),
                                authority(i),
                                utc(i.registration_time_utc),
                                if i.enabled { "yes" } else { "no" }.to_owned(),
                                i.payload
                                    .as_ref()
                                    .map_or_else(String::new, Value::to_string),
                            ]
                        })
                        .collect();
                    table::render(
                        &["ID", "ADDRESS", "REGISTERED", "ENABLED", "PAYLOAD"],
                        &cells,
                    )
                },
                || {
                    json!({
                        "name": args.name,
                        "instances": instances.iter().map(instance_json).collect::<Vec<_>>(),
                    })
                },
            );
        }
    }
    Ok(())
}
