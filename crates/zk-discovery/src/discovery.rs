//! The entry point: register this process's instances, and find others'.

use std::sync::Arc;

use dashmap::DashMap;
use zk_client::{ClientBuilder, Error as ZkError, ManagedClient};

use crate::cache::{CacheOptions, ServiceCache, Snapshot};
use crate::error::{DiscoveryError, Result};
use crate::instance::ServiceInstance;
use crate::naming::{check_name, Naming};
use crate::registration::{Registration, Registry};

/// Service discovery over one ZooKeeper ensemble: registrations that survive session
/// expiry, and watched caches per service.
#[derive(Clone, Debug)]
pub struct ServiceDiscovery {
    registry: Arc<Registry>,
    caches: Arc<DashMap<String, ServiceCache>>,
    cache_options: CacheOptions,
}

/// Configures a [`ServiceDiscovery`].
#[derive(Debug, Clone)]
pub struct DiscoveryBuilder {
    client: ClientBuilder,
    base: String,
    cache_options: CacheOptions,
}

impl Default for DiscoveryBuilder {
    fn default() -> Self {
        Self {
            client: ClientBuilder::default(),
            base: crate::naming::DEFAULT_BASE.to_owned(),
            cache_options: CacheOptions::default(),
        }
    }
}

impl DiscoveryBuilder {
    /// The ZooKeeper client settings (session timeout, auth, chroot, …).
    pub fn client(mut self, builder: ClientBuilder) -> Self {
        self.client = builder;
        self
    }

    /// The base path (default `/services`).
    pub fn base_path(mut self, base: impl Into<String>) -> Self {
        self.base = base.into();
        self
    }

    /// Options of the caches [`ServiceDiscovery::cache`] creates.
    pub fn cache_options(mut self, options: CacheOptions) -> Self {
        self.cache_options = options;
        self
    }

    /// Connects.
    pub async fn connect(self, connect_string: &str) -> Result<ServiceDiscovery> {
        let naming = Naming::new(&self.base)?;
        let client = ManagedClient::connect(self.client, connect_string).await?;
        Ok(ServiceDiscovery {
            registry: Registry::new(client, naming),
            caches: Arc::new(DashMap::new()),
            cache_options: self.cache_options,
        })
    }
}

impl ServiceDiscovery {
    /// A builder.
    pub fn builder() -> DiscoveryBuilder {
        DiscoveryBuilder::default()
    }

    /// Connects with default settings.
    pub async fn connect(connect_string: &str) -> Result<ServiceDiscovery> {
        DiscoveryBuilder::default().connect(connect_string).await
    }

    /// The managed client underneath (its session changes after an expiry).
    pub fn client(&self) -> &ManagedClient {
        &self.registry.client
    }

    /// How caches behave, including their watch mode (which the router's rule watches
    /// follow too).
    pub fn cache_options(&self) -> &CacheOptions {
        &self.cache_options
    }

    /// The path layout.
    pub fn naming(&self) -> &Naming {
        &self.registry.naming
    }

    /// Registers `instance` (parents created as needed) and keeps it registered across
    /// session expiries until unregistered.
    pub async fn register(&self, instance: ServiceInstance) -> Result<Registration> {
        self.registry.register(instance).await
    }

    /// The watched cache of service `name`, created on first use and shared after.
    pub async fn cache(&self, name: &str) -> Result<ServiceCache> {
        check_name("service name", name)?;
        let cache = self
            .caches
            .entry(name.to_owned())
            .or_insert_with(|| {
                ServiceCache::start(
                    self.registry.client.clone(),
                    self.registry.naming.service(name),
                    name.to_owned(),
                    self.cache_options.clone(),
                )
            })
            .clone();
        cache.ready().await;
        Ok(cache)
    }

    /// The instances of `name` from its cache, without a round trip; `None` if no cache
    /// was created for it yet (see [`ServiceDiscovery::cache`]).
    pub fn resolve(&self, name: &str) -> Option<Arc<Snapshot>> {
        self.caches
            .get(name)
            .map(|c| c.shared().snapshot.load_full())
    }

    /// Reads the instances of `name` from ZooKeeper now (no cache), skipping nodes that
    /// are not instances. Like Curator's `queryForInstances`.
    pub async fn query_for_instances(&self, name: &str) -> Result<Vec<ServiceInstance>> {
        check_name("service name", name)?;
        let client = self.registry.client.client();
        let path = self.registry.naming.service(name);
        let children = match client.get_children(&path).await {
            Ok(c) => c,
            Err(ZkError::NoNode) => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        let mut out = Vec::new();
        for child in children {
            match client.get_data(&format!("{path}/{child}")).await {
                Ok((data, _)) => match ServiceInstance::from_json(&data) {
                    Ok(i) => out.push(i),
                    Err(e) => {
                        tracing::warn!(%path, %child, error = %e, "skipping a node that is not a service instance")
                    }
                },
                Err(ZkError::NoNode) => {}
                Err(e) => return Err(e.into()),
            }
        }
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    /// The names of every registered service (Curator's `queryForNames`).
    pub async fn query_for_names(&self) -> Result<Vec<String>> {
        match self
            .registry
            .client
            .client()
            .get_children(self.registry.naming.base())
            .await
        {
            Ok(mut names) => {
                names.sort();
                Ok(names)
            }
            Err(ZkError::NoNode) => Ok(Vec::new()),
            Err(e) => Err(e.into()),
        }
    }

    /// Unregisters every instance registered through this discovery service and closes
    /// its session (graceful shutdown).
    pub async fn close(&self) -> Result<()> {
        self.registry.unregister_all().await;
        self.caches.clear();
        self.registry
            .client
            .close()
            .await
            .map_err(DiscoveryError::from)
    }

    /// Re-registration attempts made after reconnects and new sessions.
    pub fn reregistrations(&self) -> u64 {
        self.registry
            .reregistrations
            .load(std::sync::atomic::Ordering::Relaxed)
    }
}
