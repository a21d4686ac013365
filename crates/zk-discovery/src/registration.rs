//! Registering instances: ephemeral (or persistent) nodes written from each
//! registration's *current* state, and restored whenever the session that held them is
//! replaced.
//!
//! Owns the registration handles and the rules that keep them right where Curator and
//! Dubbo went wrong:
//! - re-registration after a new session writes the instance as it is *now*, not as it
//!   was first registered (CURATOR-181);
//! - on "node exists" the node's ephemeral owner decides: our own session's node is
//!   updated in place, another session's node (a stale one from before an expiry, or a
//!   duplicate) is replaced, never the other way round (Dubbo #5125);
//! - an unregister marks the handle inactive before deleting, so a re-registration
//!   racing with it cannot resurrect the node (CURATOR-164);
//! - while the connection flaps, re-registration attempts back off exponentially instead
//!   of looping (CURATOR-320);
//! - registering the same instance path again supersedes the older handle, whose
//!   unregister then leaves the node alone;
//! - an unregister deletes only a node this client owns (its session's ephemeral node,
//!   or a persistent one), never another process's node that took over the path.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use zk_client::{Client, CreateMode, CreateOptions, Error as ZkError, ManagedClient, SessionEvent};

use crate::error::{DiscoveryError, Result};
use crate::instance::{ServiceInstance, ServiceType};
use crate::naming::{check_name, Naming};

/// One registered instance's state.
#[derive(Debug)]
pub(crate) struct RegState {
    /// The instance as it should be in ZooKeeper now.
    instance: Mutex<ServiceInstance>,
    /// The node's path (sequential registrations learn it at creation).
    path: Mutex<String>,
    /// The data version we last wrote, so an update is one conditional setData.
    version: Mutex<Option<i32>>,
    /// False once unregistered.
    active: AtomicBool,
    /// Set when a newer registration took over the same path: unregistering this one
    /// must not delete the newer one's node.
    superseded: AtomicBool,
    /// Serialises writes of this registration (register, update, re-register, delete).
    write: tokio::sync::Mutex<()>,
}

/// The registrar side of service discovery.
#[derive(Debug)]
pub(crate) struct Registry {
    pub client: ManagedClient,
    pub naming: Naming,
    regs: Mutex<HashMap<usize, Arc<RegState>>>,
    /// Unregistered while the server could not be reached: deleted on reconnect, so no
    /// phantom instance outlives its unregister (CURATOR-164).
    tombstones: Mutex<Vec<Arc<RegState>>>,
    next: std::sync::atomic::AtomicUsize,
    /// Re-registration attempts made (for tests and metrics).
    pub reregistrations: std::sync::atomic::AtomicU64,
}

/// A live registration. Keep it to update or unregister the instance; dropping it does
/// not unregister (the node lives as long as the session, or for good if persistent).
#[derive(Debug, Clone)]
pub struct Registration {
    key: usize,
    state: Arc<RegState>,
    registry: Arc<Registry>,
}

fn mode_for(t: ServiceType) -> CreateMode {
    match t {
        ServiceType::Dynamic => CreateMode::Ephemeral,
        ServiceType::DynamicSequential => CreateMode::EphemeralSequential,
        ServiceType::Static | ServiceType::Permanent => CreateMode::Persistent,
    }
}

impl Registry {
    pub(crate) fn new(client: ManagedClient, naming: Naming) -> Arc<Registry> {
        let registry = Arc::new(Registry {
            client,
            naming,
            regs: Mutex::new(HashMap::new()),
            tombstones: Mutex::new(Vec::new()),
            next: Default::default(),
            reregistrations: Default::default(),
        });
        tokio::spawn(restore_on_new_session(Arc::downgrade(&registry)));
        registry
    }

    fn active(&self) -> Vec<Arc<RegState>> {
        self.regs
            .lock()
            .map(|r| r.values().cloned().collect())
            .unwrap_or_default()
    }

    pub(crate) async fn register(
        self: &Arc<Self>,
        instance: ServiceInstance,
    ) -> Result<Registration> {
        check_name("service name", &instance.name)?;
        check_name("instance id", &instance.id)?;
        let path = self.naming.instance(&instance.name, &instance.id);
        let state = Arc::new(RegState {
            instance: Mutex::new(instance),
            path: Mutex::new(path),
            version: Mutex::new(None),
            active: AtomicBool::new(true),
            superseded: AtomicBool::new(false),
            write: tokio::sync::Mutex::new(()),
        });
        let fixed_path = instance_mode_is_fixed_path(&state).then(|| lock(&state.path).clone());
        if let Some(path) = &fixed_path {
            // A pending delete of this path (an unregister made while disconnected) must
            // not remove the node we are about to write.
            if let Ok(mut t) = self.tombstones.lock() {
                t.retain(|st| *lock(&st.path) != *path);
            }
        }
        {
            let _guard = state.write.lock().await;
            self.first_write(&state).await?;
        }
        let key = self.next.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut regs) = self.regs.lock() {
            // Only once written: a failed registration leaves the older one in charge.
            if let Some(path) = &fixed_path {
                supersede(&mut regs, path);
            }
            regs.insert(key, state.clone());
        }
        Ok(Registration {
            key,
            state,
            registry: self.clone(),
        })
    }

    /// The first write of a registration. A connection loss leaves its outcome unknown
    /// (the node may exist with the reply lost), so it is retried once the session is
    /// back, adopting a node this session already created rather than leaving it as an
    /// orphan next to a second one. If it still fails, a fixed-path node is queued for
    /// deletion on reconnect, so a registration reported as failed leaves no instance.
    async fn first_write(&self, state: &Arc<RegState>) -> Result<()> {
        let first = write_node(&self.client.client(), &self.naming, state).await;
        let Err(e) = first else { return Ok(()) };
        if !is_connection_loss(&e) {
            return Err(e);
        }
        let wait = self
            .client
            .client()
            .negotiated_timeout()
            .max(Duration::from_secs(1));
        let retried = match tokio::time::timeout(wait, self.connected()).await {
            Ok(()) => {
                let client = self.client.client();
                match adopt_sequential(&client, &self.naming, state).await {
                    Ok(true) => Ok(()),
                    Ok(false) => write_node(&client, &self.naming, state).await,
                    Err(e) => Err(e),
                }
            }
            _ => Err(e),
        };
        if let Err(e) = &retried {
            if is_connection_loss(e) && instance_mode_is_fixed_path(state) {
                state.active.store(false, Ordering::SeqCst);
                if let Ok(mut t) = self.tombstones.lock() {
                    t.push(state.clone());
                }
            }
        }
        retried
    }

    /// Waits until the managed client is connected, following it to a new session if the
    /// current one ends meanwhile.
    async fn connected(&self) {
        loop {
            let client = self.client.client();
            let mut state = client.state_watcher();
            let connected = state
                .wait_for(|s| s.is_connected() || s.is_terminal())
                .await
                .is_ok_and(|s| s.is_connected());
            if connected {
                return;
            }
            // The session ended: the managed client is opening a new one.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Unregisters everything (graceful shutdown).
    pub(crate) async fn unregister_all(&self) {
        let all: Vec<(usize, Arc<RegState>)> = self
            .regs
            .lock()
            .map(|mut r| r.drain().collect())
            .unwrap_or_default();
        for (_, state) in all {
            let _ = unregister_state(&self.client.client(), &state).await;
        }
    }
}

impl Registration {
    /// The instance as currently registered.
    pub fn instance(&self) -> ServiceInstance {
        lock(&self.state.instance).clone()
    }

    /// The node's path.
    pub fn path(&self) -> String {
        lock(&self.state.path).clone()
    }

    /// Whether the registration is still active.
    pub fn is_active(&self) -> bool {
        self.state.active.load(Ordering::SeqCst)
    }

    /// Replaces the instance (same name and id) and writes it; later re-registrations use
    /// this state.
    pub async fn update(&self, instance: ServiceInstance) -> Result<()> {
        let current = self.instance();
        if instance.name != current.name || instance.id != current.id {
            return Err(DiscoveryError::InvalidName {
                what: "instance id",
                value: format!("{}/{}", instance.name, instance.id),
                reason: "update must keep the registered name and id",
            });
        }
        // The node's create mode (ephemeral or not, sequential or not) is fixed at creation.
        if instance.service_type != current.service_type {
            return Err(DiscoveryError::InvalidName {
                what: "service type",
                value: format!("{:?}", instance.service_type),
                reason:
                    "update must keep the registered service type; unregister and register again",
            });
        }
        let _guard = self.state.write.lock().await;
        if !self.is_active() {
            return Err(DiscoveryError::Unregistered(self.path()));
        }
        *lock(&self.state.instance) = instance;
        write_node(
            &self.registry.client.client(),
            &self.registry.naming,
            &self.state,
        )
        .await
    }

    /// Removes the instance. Idempotent. If the server cannot be reached right now, the
    /// registration is inactive at once and its node is deleted as soon as the session is
    /// connected again (an ephemeral one also goes if the session expires meanwhile).
    pub async fn unregister(&self) -> Result<()> {
        if let Ok(mut regs) = self.registry.regs.lock() {
            regs.remove(&self.key);
        }
        match unregister_state(&self.registry.client.client(), &self.state).await {
            Err(e) if is_connection_loss(&e) => {
                if let Ok(mut t) = self.registry.tombstones.lock() {
                    t.push(self.state.clone());
                }
                Ok(())
            }
            other => other,
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Retires every registration of `path` in `regs`: a newer registration owns the node
/// from now on, and the older handles' unregister leaves it alone.
fn supersede(regs: &mut HashMap<usize, Arc<RegState>>, path: &str) {
    regs.retain(|_, st| {
        if *lock(&st.path) != path {
            return true;
        }
        tracing::info!(%path, "a newer registration of the same instance supersedes the older one");
        st.superseded.store(true, Ordering::SeqCst);
        st.active.store(false, Ordering::SeqCst);
        false
    });
}

/// Whether the registration's path is known before creation (not sequential), so two
/// registrations can name the same node.
fn instance_mode_is_fixed_path(state: &RegState) -> bool {
    lock(&state.instance).service_type != ServiceType::DynamicSequential
}

async fn unregister_state(client: &Client, state: &RegState) -> Result<()> {
    // Inactive first: a re-registration waiting for the write lock will see it and stop.
    state.active.store(false, Ordering::SeqCst);
    let _guard = state.write.lock().await;
    if state.superseded.load(Ordering::SeqCst) {
        return Ok(()); // the node belongs to the newer registration
    }
    let path = lock(&state.path).clone();
    let ephemeral = mode_for(lock(&state.instance).service_type).is_ephemeral();
    // Delete only our own node: our session's ephemeral one, or a persistent one. A node
    // another session created at this path (a duplicate id, or our ephemeral gone with an
    // expired session and the path reused) is not ours to remove.
    let Some(stat) = client.exists(&path).await? else {
        return Ok(());
    };
    let ours = if ephemeral {
        stat.ephemeral_owner == client.session_id()
    } else {
        stat.ephemeral_owner == 0
    };
    if !ours {
        tracing::info!(%path, owner = format_args!("{:#x}", stat.ephemeral_owner), "unregister leaves a node owned by another session");
        return Ok(());
    }
    // Conditional on the version we looked at: a node rewritten meanwhile (BadVersion) is
    // looked at again next time round.
    match client.delete(&path, Some(stat.version)).await {
        Ok(()) | Err(ZkError::NoNode) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

fn is_connection_loss(e: &DiscoveryError) -> bool {
    matches!(
        e,
        DiscoveryError::ZooKeeper(ZkError::ConnectionLoss | ZkError::RequestTimeout)
    )
}

/// After a lost reply to a sequential create: finds a node of this instance that our
/// session created (name = id + 10-digit sequence, our ephemeral owner, our data) and
/// makes it the registration's node. Returns whether one was adopted.
async fn adopt_sequential(client: &Client, naming: &Naming, state: &RegState) -> Result<bool> {
    let instance = lock(&state.instance).clone();
    if instance.service_type != ServiceType::DynamicSequential {
        return Ok(false);
    }
    let dir = naming.service(&instance.name);
    let children = match client.get_children(&dir).await {
        Ok(c) => c,
        Err(ZkError::NoNode) => return Ok(false),
        Err(e) => return Err(e.into()),
    };
    let data = instance.to_json()?;
    for child in children {
        let Some(seq) = child.strip_prefix(instance.id.as_str()) else {
            continue;
        };
        if seq.len() != 10 || !seq.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let path = format!("{dir}/{child}");
        match client.get_data(&path).await {
            Ok((d, stat)) if stat.ephemeral_owner == client.session_id() && d == data => {
                tracing::info!(%path, "adopting the node of a create whose reply was lost");
                *lock(&state.path) = path;
                *lock(&state.version) = Some(stat.version);
                return Ok(true);
            }
            Ok(_) | Err(ZkError::NoNode) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(false)
}

/// Whether retrying a failed registration write can help: connection trouble can pass;
/// a refused ACL or a bad name will not.
fn retryable(e: &DiscoveryError) -> bool {
    matches!(
        e,
        DiscoveryError::ZooKeeper(
            ZkError::ConnectionLoss
                | ZkError::RequestTimeout
                | ZkError::OperationTimeout
                | ZkError::SessionExpired
                | ZkError::SessionMoved
                | ZkError::Closed
                | ZkError::NodeExists
                | ZkError::BadVersion
        )
    )
}

/// Writes a registration's node from its current state: create (parents as containers
/// when missing); on "exists", update our own node in place or replace another
/// session's. The caller holds the registration's write lock.
async fn write_node(client: &Client, naming: &Naming, state: &RegState) -> Result<()> {
    let instance = lock(&state.instance).clone();
    let data = instance.to_json()?;
    let mode = mode_for(instance.service_type);
    let sequential = instance.service_type == ServiceType::DynamicSequential;
    let path = lock(&state.path).clone();
    if sequential
        && client
            .exists(&path)
            .await?
            .is_some_and(|s| s.ephemeral_owner == client.session_id())
    {
        client.set_data(&path, &data, None).await?;
        return Ok(());
    }
    let create_path = if sequential {
        naming.instance(&instance.name, &instance.id)
    } else {
        path.clone()
    };
    for _ in 0..8 {
        match client
            .create(&create_path, &data, &CreateOptions::new(mode))
            .await
        {
            Ok((created, stat)) => {
                *lock(&state.path) = created;
                *lock(&state.version) = Some(stat.version);
                return Ok(());
            }
            Err(ZkError::NoNode) => ensure_parents(client, &create_path).await?,
            Err(ZkError::NodeExists) => {
                let Some(stat) = client.exists(&path).await? else {
                    continue; // gone meanwhile: create again
                };
                let ours = stat.ephemeral_owner == client.session_id();
                if ours || (stat.ephemeral_owner == 0 && !mode.is_ephemeral()) {
                    let stat = client.set_data(&path, &data, None).await?;
                    *lock(&state.version) = Some(stat.version);
                    return Ok(());
                }
                // Another session's node (or a persistent one where we need an ephemeral):
                // replace it, but only the version we looked at.
                tracing::info!(%path, owner = format_args!("{:#x}", stat.ephemeral_owner), "replacing a node left by another session");
                match client.delete(&path, Some(stat.version)).await {
                    Ok(()) | Err(ZkError::NoNode) | Err(ZkError::BadVersion) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(DiscoveryError::ZooKeeper(ZkError::NodeExists))
}

/// Creates the missing ancestors of `path` as containers (as Curator's
/// `creatingParentContainersIfNeeded`), falling back to persistent nodes on servers
/// without containers.
pub(crate) async fn ensure_parents(client: &Client, path: &str) -> Result<()> {
    let mut prefix = String::new();
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    for part in &parts[..parts.len().saturating_sub(1)] {
        prefix.push('/');
        prefix.push_str(part);
        match client
            .create(&prefix, b"", &CreateOptions::new(CreateMode::Container))
            .await
        {
            Ok(_) | Err(ZkError::NodeExists) => {}
            Err(ZkError::Unimplemented) => {
                match client
                    .create(&prefix, b"", &CreateOptions::persistent())
                    .await
                {
                    Ok(_) | Err(ZkError::NodeExists) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Re-registers every active instance whenever the managed client gets a new session (or
/// reconnects, in case a node vanished meanwhile), backing off while attempts fail.
async fn restore_on_new_session(registry: std::sync::Weak<Registry>) {
    let mut events = match registry.upgrade() {
        Some(r) => r.client.events(),
        None => return,
    };
    loop {
        let event = match events.recv().await {
            Ok(e) => e,
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => SessionEvent::Reconnected,
            Err(_) => return,
        };
        match event {
            SessionEvent::NewSession { .. } | SessionEvent::Reconnected => {}
            SessionEvent::Closed => return,
            _ => continue,
        }
        let mut delay = Duration::from_millis(50);
        loop {
            let Some(reg) = registry.upgrade() else {
                return;
            };
            let client = reg.client.client();
            let mut failed = false;
            let tombstones: Vec<Arc<RegState>> = reg
                .tombstones
                .lock()
                .map(|mut t| std::mem::take(&mut *t))
                .unwrap_or_default();
            for state in tombstones {
                match unregister_state(&client, &state).await {
                    Err(e) if retryable(&e) => {
                        if let Ok(mut t) = reg.tombstones.lock() {
                            t.push(state);
                        }
                        failed = true;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, path = %lock(&state.path), "pending unregister failed for good")
                    }
                    Ok(()) => {}
                }
            }
            for state in reg.active() {
                let _guard = state.write.lock().await;
                if !state.active.load(Ordering::SeqCst) {
                    continue;
                }
                reg.reregistrations.fetch_add(1, Ordering::Relaxed);
                // One failure must not hold back the other registrations.
                match write_node(&client, &reg.naming, &state).await {
                    Ok(()) => {}
                    Err(e) if retryable(&e) => {
                        tracing::info!(error = %e, path = %lock(&state.path), "re-registration failed; will retry");
                        failed = true;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, path = %lock(&state.path), "re-registration refused; not retrying until the next session event");
                    }
                }
            }
            drop(reg);
            if !failed {
                break;
            }
            // Flapping connection: wait (longer each time), and start over on any newer
            // session event that arrives meanwhile.
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                e = events.recv() => {
                    if matches!(e, Ok(SessionEvent::Closed) | Err(tokio::sync::broadcast::error::RecvError::Closed)) {
                        return;
                    }
                }
            }
            delay = (delay * 2).min(Duration::from_secs(30));
        }
    }
}
