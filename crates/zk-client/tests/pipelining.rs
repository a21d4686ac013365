//! Pipelined requests on one connection: replies reach their callers in the order the
//! server sent them, a watch event never overtakes a reply sent before it, and a caller
//! that drops its request or stops polling it holds up nobody else. Against a real Apache
//! ZooKeeper 3.8; and callers woken together write their next requests together (against
//! the bundled server, whose batched replies make that deterministic).
//!
//! Each test sends its requests by polling their futures once, then waits on what it
//! specifies; the futures it leaves unpolled are exactly the "woken but never polled"
//! callers (a `select!` loser, a future kept aside) that must not stall the others.

mod common;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Wake, Waker};

use bytes::Bytes;
use common::*;
use futures::FutureExt;
use tokio::sync::Notify;
use zk_client::{Client, CreateOptions, Stat};

/// How many requests each test pipelines.
const IN_FLIGHT: usize = 16;

type Get = Pin<Box<dyn Future<Output = zk_client::Result<(Bytes, Stat)>> + Send>>;

/// A request to read `/x`, not yet sent.
fn get(client: &Client) -> Get {
    let client = client.clone();
    Box::pin(async move { client.get_data("/x").await })
}

/// Polls `request` once, which sends it; it must still be waiting for its reply.
fn send(request: &mut Get, waker: &Waker) {
    let polled = request.as_mut().poll(&mut Context::from_waker(waker));
    assert!(polled.is_pending(), "a reply before the request was sent");
}

/// A waker that only records that it was woken.
struct Flag(Notify);

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.notify_one();
    }
}

/// A connected client and a node `/x` to read.
async fn setup(zk: &ApacheZk) -> Client {
    let c = client(zk.connect_string()).await;
    c.create("/x", b"x", &CreateOptions::persistent())
        .await
        .unwrap();
    c
}

/// `IN_FLIGHT` reads, each sent (polled once with `waker`) in order.
fn send_reads(c: &Client, waker: &Waker) -> Vec<Get> {
    (0..IN_FLIGHT)
        .map(|_| {
            let mut request = get(c);
            send(&mut request, waker);
            request
        })
        .collect()
}

#[tokio::test]
async fn once_a_reply_is_ready_every_earlier_reply_is_ready_too() {
    let zk = apache().await;
    let c = setup(&zk).await;
    for _ in 0..20 {
        let mut requests = send_reads(&c, Waker::noop());
        let last = requests.pop().expect("requests");
        within("the last reply", last).await.unwrap();
        // Latest first: taking a reply may hand the next one over, which must not be what
        // makes it ready here.
        for (i, request) in requests.into_iter().enumerate().rev() {
            let reply = request.now_or_never();
            assert!(
                matches!(reply, Some(Ok(_))),
                "request {i} sent before the last: not ready when the last was ({reply:?})"
            );
        }
    }
}

#[tokio::test]
async fn a_request_dropped_with_its_reply_unread_holds_up_no_later_reply() {
    let zk = apache().await;
    let c = setup(&zk).await;
    for _ in 0..20 {
        let flag = Arc::new(Flag(Notify::new()));
        let mut first = get(&c);
        send(&mut first, &Waker::from(flag.clone()));
        let rest = send_reads(&c, Waker::noop());
        // The first caller is woken with its reply, and gives up on it unread (its task
        // was cancelled, say).
        within("the first reply", flag.0.notified()).await;
        drop(first);
        for request in rest {
            within("a later reply", request).await.unwrap();
        }
    }
}

#[tokio::test]
async fn a_request_dropped_before_its_reply_holds_up_no_later_reply() {
    let zk = apache().await;
    let c = setup(&zk).await;
    for _ in 0..20 {
        let mut requests = send_reads(&c, Waker::noop());
        // Every other caller gives up while its request is on the wire.
        let kept: Vec<Get> = requests.drain(..).step_by(2).collect();
        for request in kept {
            within("a reply", request).await.unwrap();
        }
    }
}

#[tokio::test]
async fn a_request_woken_but_never_polled_holds_up_no_later_reply() {
    let zk = apache().await;
    let c = setup(&zk).await;
    let flag = Arc::new(Flag(Notify::new()));
    let mut first = get(&c);
    send(&mut first, &Waker::from(flag.clone()));
    let rest = send_reads(&c, Waker::noop());
    within("the first reply", flag.0.notified()).await;
    // The first caller is not polled again until every later reply has been taken.
    for request in rest {
        within("a later reply", request).await.unwrap();
    }
    assert!(matches!(first.now_or_never(), Some(Ok(_))));
    // The client goes on working normally.
    within("another read", c.get_data("/x")).await.unwrap();
}

/// Pipelines reads, then a write that fires a watch of the same client, and checks that
/// every read's reply is ready by the time the event is.
async fn check_watch_event_after_earlier_replies(c: &Client) {
    c.create("/w", b"0", &CreateOptions::persistent())
        .await
        .unwrap();
    for round in 0..50u32 {
        let (_, _, watch) = c.get_and_watch_data("/w").await.unwrap();
        // The server sends the reads' replies before the event (and the event before the
        // write's reply). The first read's caller is never polled again, so its turn in
        // the client would hold up the replies behind it if nothing cut it short.
        let reads = send_reads(c, Waker::noop());
        let value = round.to_string();
        let mut write = Box::pin(c.set_data("/w", value.as_bytes(), None));
        assert!(write.as_mut().now_or_never().is_none());
        within("the watch event", watch).await;
        // Latest first: taking a reply may hand the next one over, which must not be what
        // makes it ready here.
        for (i, read) in reads.into_iter().enumerate().rev() {
            let reply = read.now_or_never();
            assert!(
                matches!(reply, Some(Ok(_))),
                "round {round}: read {i} not ready when the later event was ({reply:?})"
            );
        }
        within("the write", write).await.unwrap();
    }
}

#[tokio::test]
async fn a_watch_event_never_overtakes_a_reply_sent_before_it() {
    let zk = apache().await;
    let c = setup(&zk).await;
    check_watch_event_after_earlier_replies(&c).await;
}

/// The same against the bundled server in memory, which answers a pipelined burst with
/// one write: the replies and the event arrive in the same read.
#[tokio::test]
async fn a_watch_event_never_overtakes_a_reply_read_with_it() {
    let (_server, c) = bundled_setup().await;
    check_watch_event_after_earlier_replies(&c).await;
}

/// The bundled server in memory, and a connected client with a node `/x` to read.
async fn bundled_setup() -> (zk_server::ServerHandle, Client) {
    let server = zk_server::ServerHandle::builder()
        .port(0)
        .start()
        .await
        .expect("start zk-server");
    let c = client(&server.connect_string()).await;
    c.create("/x", b"x", &CreateOptions::persistent())
        .await
        .expect("create /x");
    (server, c)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn callers_woken_by_one_batch_of_replies_send_their_next_requests_in_one_write() {
    // A multi-threaded runtime runs a task woken by the running one next, so the first
    // caller's next request would wake the driver ahead of the other callers woken with it.
    // The bundled server (in-process) answers the requests of one read in one write, so
    // batches of replies arrive whatever the machine's load; Apache's pacing varies.
    let (_server, c) = bundled_setup().await;
    let before = c.metrics();
    let callers: Vec<_> = (0..IN_FLIGHT)
        .map(|_| {
            let c = c.clone();
            tokio::spawn(async move {
                for _ in 0..200 {
                    c.get_data("/x").await.expect("get");
                }
            })
        })
        .collect();
    for caller in callers {
        within("the callers", caller).await.expect("caller");
    }
    let after = c.metrics();
    let requests = after.requests - before.requests;
    let writes = after.writes - before.writes;
    // One write per request without the gathering; about four per write with it (the
    // first request of each batch of callers leaves at once, the rest together).
    assert!(
        requests >= 3 * writes,
        "{requests} requests took {writes} writes"
    );
}
