//! What the application holds for a watch: a future for a one-shot watch, a stream for a
//! persistent one. Both end with a session event if the session ends first.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::Stream;
use tokio::sync::oneshot;

use crate::state::{SessionState, WatchedEvent};
use crate::watch_queue::{self, QueueReceiver, QueueSender};

/// How the driver reaches a watcher.
#[derive(Debug)]
pub(crate) enum Sink {
    Once(oneshot::Sender<WatchedEvent>),
    Stream(QueueSender),
}

/// A one-shot watch: resolves with the first event on the node (or a session event if the
/// session ends first: `Expired` or `Closed`).
#[derive(Debug)]
#[must_use = "a watch does nothing unless awaited"]
pub struct OneshotWatcher {
    rx: oneshot::Receiver<WatchedEvent>,
}

impl OneshotWatcher {
    pub(crate) fn new() -> (Self, Sink) {
        let (tx, rx) = oneshot::channel();
        (Self { rx }, Sink::Once(tx))
    }
}

impl Future for OneshotWatcher {
    type Output = WatchedEvent;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<WatchedEvent> {
        Pin::new(&mut self.rx)
            .poll(cx)
            .map(|r| r.unwrap_or_else(|_| WatchedEvent::session(SessionState::Closed)))
    }
}

/// A persistent (or persistent recursive) watch: a stream of every event it sees.
///
/// Besides node events it yields session events (`EventType::None`) when the connection
/// drops (`Disconnected`) and comes back (`Connected`/`ConnectedReadOnly`): the server
/// does not replay changes made meanwhile to persistent watches, so whoever builds a cache
/// on one must re-read after a reconnect. The stream ends after a removal event or after
/// the session ends (the last item then is an `Expired` or `Closed` session event).
/// Dropping it stops the watch, on the server too once nothing else of this client needs
/// it there.
///
/// # Lagging
/// Events wait in a bounded queue (
/// [`ClientBuilder::persistent_watch_capacity`](crate::ClientBuilder::persistent_watch_capacity),
/// 4096 by default) so that a reader that stops reading cannot grow the client's memory
/// without limit. When the queue is full, further events are dropped and the reader gets
/// one `Err(`[`Lagged`]`)` in their place, in order: everything before it arrived, and
/// what it stands for is lost. Treat it like a reconnect: re-read what the watch covers.
/// A watch's final event (removal, expiry, close) is never dropped.
#[derive(Debug)]
pub struct PersistentWatcher {
    rx: QueueReceiver,
}

impl PersistentWatcher {
    pub(crate) fn new(capacity: usize) -> (Self, Sink) {
        let (tx, rx) = watch_queue::bounded(capacity);
        (Self { rx }, Sink::Stream(tx))
    }

    /// The next event (or `Err(Lagged)` where events were dropped), or `None` once the
    /// watch has ended.
    pub async fn changed(&mut self) -> Option<Result<WatchedEvent, Lagged>> {
        futures::future::poll_fn(|cx| self.rx.poll_next(cx)).await
    }

    /// How many items wait to be read (events, plus a lag marker where events were
    /// dropped). At most [`PersistentWatcher::capacity`] + 2: one marker and the final
    /// event may exceed it.
    pub fn queued(&self) -> usize {
        self.rx.len()
    }

    /// How many events the queue holds before it drops.
    pub fn capacity(&self) -> usize {
        self.rx.capacity()
    }
}

impl Stream for PersistentWatcher {
    type Item = Result<WatchedEvent, Lagged>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.rx.poll_next(cx)
    }
}

/// A [`PersistentWatcher`]'s reader fell behind: its queue was full and `missed` events
/// were dropped where this item stands. What the watch covers must be re-read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("persistent watch lagged: {missed} events dropped")]
pub struct Lagged {
    /// How many events were dropped.
    pub missed: u64,
}
