//! `SharedCount`: Curator's shared integer. The node holds the count as 4 big-endian
//! bytes; every participant keeps a watched copy, and changes it either unconditionally
//! or only if nobody changed it since the version they saw.

use tokio::sync::watch;
use zk_client::{Client, CreateOptions, Error as ZkError};

use crate::error::{RecipeError, Result};
use crate::paths::{check_base, ensure_containers, is_node_exists};
use crate::session::{next_session, retry_policy, Session};

/// A count and the node version it was read at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VersionedValue {
    /// The node's data version.
    pub version: i32,
    /// The count.
    pub value: i32,
}

/// A shared count at a path, kept current by a watch. Dropping it stops the watch.
pub struct SharedCount {
    session: Session,
    path: String,
    current: watch::Receiver<VersionedValue>,
    worker: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for SharedCount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedCount")
            .field("path", &self.path)
            .field("current", &*self.current.borrow())
            .finish()
    }
}

impl Drop for SharedCount {
    fn drop(&mut self) {
        self.worker.abort();
    }
}

/// `value` as stored.
pub(crate) fn encode(value: i32) -> [u8; 4] {
    value.to_be_bytes()
}

fn decode(path: &str, data: &[u8]) -> Result<i32> {
    let bytes: [u8; 4] = data.try_into().map_err(|_| RecipeError::BadData {
        path: path.to_owned(),
        len: data.len(),
        what: "a 4-byte big-endian count",
    })?;
    Ok(i32::from_be_bytes(bytes))
}

async fn read(client: &Client, path: &str) -> Result<(VersionedValue, zk_client::OneshotWatcher)> {
    let policy = retry_policy();
    let (data, stat, watcher) = client
        .retry(&policy)
        .idempotent(|c| async move { c.get_and_watch_data(path).await })
        .await?;
    Ok((
        VersionedValue {
            version: stat.version,
            value: decode(path, &data)?,
        },
        watcher,
    ))
}

impl SharedCount {
    /// The count at `path`, created with `seed` if it does not exist.
    pub async fn start(session: impl Into<Session>, path: &str, seed: i32) -> Result<SharedCount> {
        check_base(path)?;
        let session = session.into();
        let client = session.client();
        if let Some((parent, _)) = path.rsplit_once('/') {
            if !parent.is_empty() {
                ensure_containers(&client, parent).await?;
            }
        }
        let policy = retry_policy();
        match client
            .retry(&policy)
            .create(path, &encode(seed), &CreateOptions::persistent())
            .await
        {
            Ok(_) => {}
            Err(e) if is_node_exists(&e) => {}
            Err(e) => return Err(e.into()),
        }
        let (first, watcher) = read(&client, path).await?;
        let (tx, current) = watch::channel(first);
        let worker = tokio::spawn(follow(session.clone(), path.to_owned(), tx, watcher));
        Ok(SharedCount {
            session,
            path: path.to_owned(),
            current,
            worker,
        })
    }

    /// The count, as last seen.
    pub fn count(&self) -> i32 {
        self.current.borrow().value
    }

    /// The count with its version, for [`SharedCount::try_set_count`].
    pub fn versioned_value(&self) -> VersionedValue {
        *self.current.borrow()
    }

    /// Changes, as they are seen.
    pub fn watch(&self) -> watch::Receiver<VersionedValue> {
        self.current.clone()
    }

    /// Sets the count, whatever it is now (Curator's `setCount`).
    pub async fn set_count(&self, value: i32) -> Result<()> {
        let client = self.session.client();
        let policy = retry_policy();
        let path = &self.path;
        client
            .retry(&policy)
            .idempotent(|c| async move { c.set_data(path, &encode(value), None).await })
            .await?;
        Ok(())
    }

    /// Sets the count to `value` only if it is still at `previous`'s version; `false` if
    /// someone changed it since. A change whose outcome a connection loss hid is reported
    /// as `zk_client::Error::MaybeApplied`, never as `false`.
    pub async fn try_set_count(&self, previous: VersionedValue, value: i32) -> Result<bool> {
        let client = self.session.client();
        let policy = retry_policy();
        match client
            .retry(&policy)
            .set_data(&self.path, &encode(value), previous.version)
            .await
        {
            Ok(_) => Ok(true),
            Err(ZkError::BadVersion) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }
}

/// Re-reads on every change, and after every reconnect (a change made while disconnected
/// fires the restored watch, so following the watch suffices).
async fn follow(
    session: Session,
    path: String,
    tx: watch::Sender<VersionedValue>,
    mut watcher: zk_client::OneshotWatcher,
) {
    let mut sessions = session.managed().map(|m| m.events());
    loop {
        let event = watcher.await;
        // The session ended: with a managed client, follow on in its next one.
        if event.state.is_terminal() && !next_session(&mut sessions).await {
            return;
        }
        loop {
            match read(&session.client(), &path).await {
                Ok((value, next)) => {
                    // Only newer versions replace what is known (reads may race), as in
                    // Curator.
                    tx.send_if_modified(|v| {
                        let newer = value.version > v.version;
                        if newer {
                            *v = value;
                        }
                        newer
                    });
                    watcher = next;
                    break;
                }
                Err(e) => {
                    tracing::debug!(error = %e, %path, "shared count: re-reading later");
                    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                }
            }
        }
    }
}
