//! What the application holds for a watch: a future for a one-shot watch, a stream for a
//! persistent one. Both end with a session event if the session ends first.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::Stream;
use tokio::sync::{mpsc, oneshot};

use crate::state::{SessionState, WatchedEvent};

/// How the driver reaches a watcher.
#[derive(Debug)]
pub(crate) enum Sink {
    Once(oneshot::Sender<WatchedEvent>),
    Stream(mpsc::UnboundedSender<WatchedEvent>),
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
#[derive(Debug)]
pub struct PersistentWatcher {
    rx: mpsc::UnboundedReceiver<WatchedEvent>,
}

impl PersistentWatcher {
    pub(crate) fn new() -> (Self, Sink) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Self { rx }, Sink::Stream(tx))
    }

    /// The next event, or `None` once the watch has ended.
    pub async fn changed(&mut self) -> Option<WatchedEvent> {
        self.rx.recv().await
    }
}

impl Stream for PersistentWatcher {
    type Item = WatchedEvent;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<WatchedEvent>> {
        self.rx.poll_recv(cx)
    }
}
