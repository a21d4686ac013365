//! The bounded queue that carries one persistent watch's events from the driver to the
//! application's [`PersistentWatcher`](crate::PersistentWatcher).
//!
//! Owns the bound and what happens at it. The driver must never wait for a slow reader
//! (it serves every request and watch of the client), and an unbounded queue lets a reader
//! that stopped reading grow the client's memory without limit under a busy subtree. So at
//! capacity the queue drops events and leaves one *lag marker* where they would have been,
//! counting them: the reader meets the marker in order, after every event that was queued
//! before the loss and before every event queued after it, and knows its view is stale
//! from that point (it should re-read, as after a reconnect).
//!
//! Bound: at most `capacity` entries, plus one marker, plus the watch's final event (a
//! removal or the session's end), which is never dropped so the reader always learns why
//! the stream ended.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use crate::state::WatchedEvent;
use crate::watcher::Lagged;

/// Default capacity of a persistent watch's queue (see
/// [`ClientBuilder::persistent_watch_capacity`](crate::ClientBuilder::persistent_watch_capacity)).
pub const DEFAULT_CAPACITY: usize = 4096;

/// One entry of the queue.
#[derive(Debug)]
enum Entry {
    Event(WatchedEvent),
    /// This many events were dropped here.
    Lagged(u64),
}

#[derive(Debug)]
struct State {
    entries: VecDeque<Entry>,
    capacity: usize,
    sender_gone: bool,
    receiver_gone: bool,
    waker: Option<Waker>,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // The lock is never held across anything that can panic mid-update; a poisoned
        // lock still holds a consistent queue.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// What became of an event the driver pushed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pushed {
    /// Queued for the reader.
    Queued,
    /// The queue was full: dropped, and counted in the lag marker.
    Dropped,
    /// The reader is gone (the application dropped the watcher).
    ReceiverGone,
}

/// The driver's end.
#[derive(Debug)]
pub(crate) struct QueueSender {
    shared: Arc<Shared>,
}

/// The application's end, inside a [`PersistentWatcher`](crate::PersistentWatcher).
#[derive(Debug)]
pub(crate) struct QueueReceiver {
    shared: Arc<Shared>,
}

/// A queue holding at most `capacity` events (at least one) besides its lag marker and
/// final event.
pub(crate) fn bounded(capacity: usize) -> (QueueSender, QueueReceiver) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            entries: VecDeque::new(),
            capacity: capacity.max(1),
            sender_gone: false,
            receiver_gone: false,
            waker: None,
        }),
    });
    (
        QueueSender {
            shared: shared.clone(),
        },
        QueueReceiver { shared },
    )
}

impl QueueSender {
    /// Queues `event`, or drops it into the lag marker when the queue is full.
    pub(crate) fn push(&self, event: WatchedEvent) -> Pushed {
        let mut state = self.shared.lock();
        if state.receiver_gone {
            return Pushed::ReceiverGone;
        }
        let pushed = if state.entries.len() < state.capacity {
            state.entries.push_back(Entry::Event(event));
            Pushed::Queued
        } else {
            // Consecutive losses share one marker, so a full queue stays full-sized.
            match state.entries.back_mut() {
                Some(Entry::Lagged(missed)) => *missed = missed.saturating_add(1),
                _ => state.entries.push_back(Entry::Lagged(1)),
            }
            Pushed::Dropped
        };
        wake(&mut state);
        pushed
    }

    /// Queues the watch's final event whatever the queue holds; the stream ends after it.
    pub(crate) fn push_last(self, event: WatchedEvent) {
        let mut state = self.shared.lock();
        if !state.receiver_gone {
            state.entries.push_back(Entry::Event(event));
        }
        // Dropping `self` marks the end and wakes the reader.
    }
}

impl Drop for QueueSender {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.sender_gone = true;
        wake(&mut state);
    }
}

impl QueueReceiver {
    /// The next event or lag marker; `None` once the sender is gone and all is read.
    pub(crate) fn poll_next(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<WatchedEvent, Lagged>>> {
        let mut state = self.shared.lock();
        match state.entries.pop_front() {
            Some(Entry::Event(event)) => Poll::Ready(Some(Ok(event))),
            Some(Entry::Lagged(missed)) => Poll::Ready(Some(Err(Lagged { missed }))),
            None if state.sender_gone => Poll::Ready(None),
            None => {
                state.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }

    /// Entries waiting to be read (events and at most one lag marker per loss).
    pub(crate) fn len(&self) -> usize {
        self.shared.lock().entries.len()
    }

    /// The capacity the queue was made with.
    pub(crate) fn capacity(&self) -> usize {
        self.shared.lock().capacity
    }
}

impl Drop for QueueReceiver {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.receiver_gone = true;
        // Free the memory now: the driver only notices at its next push.
        state.entries = VecDeque::new();
    }
}

fn wake(state: &mut State) {
    if let Some(waker) = state.waker.take() {
        waker.wake();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Poll;

    use futures::task::noop_waker_ref;

    use super::*;
    use crate::state::{EventType, SessionState};

    fn event(n: i64) -> WatchedEvent {
        WatchedEvent {
            event_type: EventType::NodeDataChanged,
            state: SessionState::Connected,
            path: "/p".into(),
            zxid: n,
        }
    }

    /// Reads everything queued now, as `Ok(zxid)` or `Err(missed)`.
    fn drain(rx: &mut QueueReceiver) -> Vec<Result<i64, u64>> {
        let mut cx = Context::from_waker(noop_waker_ref());
        let mut out = Vec::new();
        while let Poll::Ready(Some(item)) = rx.poll_next(&mut cx) {
            out.push(item.map(|e| e.zxid).map_err(|l| l.missed));
        }
        out
    }

    #[test]
    fn below_capacity_every_event_arrives_in_order() {
        let (tx, mut rx) = bounded(4);
        for n in 1..=3 {
            assert_eq!(tx.push(event(n)), Pushed::Queued);
        }
        assert_eq!(drain(&mut rx), [Ok(1), Ok(2), Ok(3)]);
    }

    #[test]
    fn a_full_queue_drops_into_one_marker_that_sits_where_the_events_were_lost() {
        let (tx, mut rx) = bounded(2);
        tx.push(event(1));
        tx.push(event(2));
        for n in 3..=1000 {
            assert_eq!(tx.push(event(n)), Pushed::Dropped);
        }
        assert_eq!(
            rx.len(),
            3,
            "two events and one marker, however many were lost"
        );
        assert_eq!(drain(&mut rx), [Ok(1), Ok(2), Err(998)]);
        // Room again: later events queue behind the loss.
        tx.push(event(1001));
        assert_eq!(drain(&mut rx), [Ok(1001)]);
    }

    #[test]
    fn events_after_a_loss_queue_behind_its_marker_and_a_new_loss_gets_a_new_marker() {
        let (tx, mut rx) = bounded(2);
        tx.push(event(1));
        tx.push(event(2));
        tx.push(event(3)); // lost
        let mut cx = Context::from_waker(noop_waker_ref());
        assert!(matches!(rx.poll_next(&mut cx), Poll::Ready(Some(Ok(_)))));
        assert!(matches!(rx.poll_next(&mut cx), Poll::Ready(Some(Ok(_)))));
        tx.push(event(4)); // behind the marker
        tx.push(event(5)); // lost: the queue holds the marker and event 4
        assert_eq!(rx.len(), 3);
        assert_eq!(drain(&mut rx), [Err(1), Ok(4), Err(1)]);
    }

    #[test]
    fn the_final_event_is_never_dropped_and_ends_the_stream() {
        let (tx, mut rx) = bounded(1);
        tx.push(event(1));
        tx.push(event(2));
        tx.push_last(WatchedEvent::session(SessionState::Expired));
        let mut cx = Context::from_waker(noop_waker_ref());
        let mut items = Vec::new();
        while let Poll::Ready(item) = rx.poll_next(&mut cx) {
            let end = item.is_none();
            items.push(item);
            if end {
                break;
            }
        }
        assert_eq!(
            items,
            [
                Some(Ok(event(1))),
                Some(Err(Lagged { missed: 1 })),
                Some(Ok(WatchedEvent::session(SessionState::Expired))),
                None
            ]
        );
    }

    #[test]
    fn a_dropped_receiver_is_reported_and_its_events_freed() {
        let (tx, rx) = bounded(8);
        tx.push(event(1));
        drop(rx);
        assert_eq!(tx.push(event(2)), Pushed::ReceiverGone);
    }

    #[test]
    fn a_waiting_reader_is_woken_by_a_push() {
        let (tx, mut rx) = bounded(8);
        let woken = Arc::new(Woken(AtomicUsize::new(0)));
        let waker = Waker::from(woken.clone());
        let mut cx = Context::from_waker(&waker);
        assert!(rx.poll_next(&mut cx).is_pending());
        tx.push(event(1));
        assert_eq!(woken.0.load(Ordering::SeqCst), 1);
    }

    struct Woken(AtomicUsize);

    impl std::task::Wake for Woken {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
}
