//! The task that drives one [`Member`]: every input (peer messages, link events, disk
//! completions, client frames, timers) goes into the member in arrival order, and every
//! action it returns goes out — to the [`Transport`], the disk writer ([`Journal`]) or
//! a client connection. The member decides everything; this task only moves bytes.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot, watch};

use super::transport::{LinkHandle, Transport};
use crate::core::Now;
use crate::journal::{Journal, StoreEvent};
use crate::net::{self, Conns, Snapshot};
use crate::zab::member::{Action, Input, LinkId, Member};

/// What reaches a member's task.
#[derive(Debug)]
pub(crate) enum Event {
    /// An input for the member.
    Member(Input),
    /// A quorum link is open (`true`: accepted on our port; `false`: one we dialled).
    LinkOpened(LinkId, LinkHandle, bool),
    /// A client connection, frame or harness request.
    Client(net::Input),
    /// Cut the member off from its peers (or reconnect it).
    Isolate(bool, oneshot::Sender<()>),
}

impl From<net::Input> for Event {
    fn from(input: net::Input) -> Self {
        Event::Client(input)
    }
}

/// Everything the member task owns.
pub(crate) struct Runtime {
    pub member: Member,
    pub transport: Transport,
    pub journal: Journal,
    pub cut: Arc<AtomicBool>,
    pub failure: watch::Sender<Option<String>>,
    pub stop: Arc<watch::Sender<bool>>,
    links: HashMap<LinkId, LinkHandle>,
    conns: Conns,
    /// Inputs produced while executing actions (a link or client dropped for not
    /// reading), fed to the member next.
    later: VecDeque<Input>,
}

impl Runtime {
    pub fn new(
        member: Member,
        transport: Transport,
        journal: Journal,
        cut: Arc<AtomicBool>,
        failure: watch::Sender<Option<String>>,
        stop: Arc<watch::Sender<bool>>,
    ) -> Runtime {
        Runtime {
            member,
            transport,
            journal,
            cut,
            failure,
            stop,
            links: HashMap::new(),
            conns: HashMap::new(),
            later: VecDeque::new(),
        }
    }
}

/// Runs the member until shutdown (or until its disk fails).
pub(crate) async fn run(
    mut rt: Runtime,
    mut events: mpsc::UnboundedReceiver<Event>,
    mut shutdown: watch::Receiver<bool>,
) {
    rt.flush();
    loop {
        let deadline = tokio::time::Instant::from_std(rt.member.next_deadline());
        tokio::select! {
            event = events.recv() => {
                let Some(event) = event else { break };
                rt.event(event);
                // Take everything already queued before acting on it.
                for _ in 0..4096 {
                    match events.try_recv() {
                        Ok(event) => rt.event(event),
                        Err(_) => break,
                    }
                }
            }
            _ = tokio::time::sleep_until(deadline) => rt.input(Input::Tick),
            stored = rt.journal.next_event() => match stored {
                Some(StoreEvent::Stored { seq, .. }) => rt.input(Input::Stored(seq)),
                Some(StoreEvent::Loaded { seq, result }) => rt.input(Input::Loaded(seq, result)),
                Some(StoreEvent::Failed(reason)) => rt.input(Input::StorageFailed(reason)),
                None => rt.input(Input::StorageFailed("the disk writer stopped".into())),
            },
            _ = shutdown.changed() => break,
        }
        rt.flush();
        if rt.member.stopped() {
            break;
        }
    }
    net::close_all(&rt.conns);
    for link in rt.links.values() {
        link.abort();
    }
}

impl Runtime {
    fn input(&mut self, input: Input) {
        self.member.handle(input, Now::system());
    }

    fn event(&mut self, event: Event) {
        let now = Now::system();
        match event {
            Event::Member(input) => self.member.handle(input, now),
            Event::LinkOpened(link, handle, accepted) => {
                if self.cut.load(Ordering::Relaxed) {
                    handle.abort();
                    if !accepted {
                        self.member.handle(Input::LinkDown(link), now);
                    }
                    return;
                }
                self.links.insert(link, handle);
                let input = if accepted {
                    Input::Accepted(link)
                } else {
                    Input::LinkUp(link)
                };
                self.member.handle(input, now);
            }
            Event::Client(input) => self.client(input, now),
            Event::Isolate(cut, reply) => {
                self.cut.store(cut, Ordering::Relaxed);
                if cut {
                    tracing::warn!("isolated from the other members");
                    let links: Vec<LinkId> = self.links.keys().copied().collect();
                    for link in links {
                        if let Some(h) = self.links.remove(&link) {
                            h.abort();
                        }
                        self.member.handle(Input::LinkDown(link), now);
                    }
                } else {
                    tracing::info!("reconnected to the other members");
                }
                let _ = reply.send(());
            }
        }
    }

    fn client(&mut self, input: net::Input, now: Now) {
        match input {
            net::Input::Accept {
                conn,
                remote,
                ids,
                handle,
            } => {
                self.conns.insert(conn, handle);
                self.member
                    .handle(Input::ClientAccept(conn, remote, ids), now);
            }
            net::Input::Frame { conn, frame } => {
                self.member.handle(Input::ClientFrame(conn, frame), now)
            }
            net::Input::Closed { conn } => {
                self.conns.remove(&conn);
                self.member.handle(Input::ClientClosed(conn), now);
            }
            net::Input::FourLetter { word, reply } => {
                let _ = reply.send(self.member.four_letter(&word, now));
            }
            net::Input::ExpireSession { session, reply } => {
                let _ = reply.send(self.member.expire_session(session, now));
            }
            net::Input::DropConnections { reply } => {
                self.member.core_mut().close_all_connections();
                let _ = reply.send(());
            }
            net::Input::Inspect { reply } => {
                let _ = reply.send(Snapshot::of_member(&self.member));
            }
        }
    }

    /// Executes everything the member asked for, in order.
    fn flush(&mut self) {
        loop {
            while let Some(action) = self.member.poll_action() {
                self.act(action);
            }
            match self.later.pop_front() {
                Some(input) => self.input(input),
                None => return,
            }
        }
    }

    fn act(&mut self, action: Action) {
        match action {
            Action::Elect(to, n) => self.transport.elect(to, n),
            Action::Connect(link, to) => self.transport.connect(link, to),
            Action::Send(link, msg) => {
                let sent = self.links.get(&link).is_some_and(|h| h.send(msg));
                if !sent {
                    if let Some(h) = self.links.remove(&link) {
                        h.abort();
                        self.later.push_back(Input::LinkDown(link));
                    }
                }
            }
            Action::Close(link) => {
                if let Some(h) = self.links.remove(&link) {
                    h.close();
                }
            }
            Action::Store(seq, job) => {
                let issued = self.journal.submit(job);
                if issued != seq {
                    // The member and the writer count jobs the same way; if not, no
                    // durability promise can be kept.
                    self.later.push_back(Input::StorageFailed(format!(
                        "disk job {issued} issued as {seq}"
                    )));
                }
            }
            Action::Client(output) => {
                if let Some(conn) = net::deliver(&mut self.conns, output) {
                    self.later.push_back(Input::ClientClosed(conn));
                }
            }
            Action::Stopped(reason) => {
                tracing::error!(%reason, "member stopped");
                self.failure.send_replace(Some(reason));
                self.stop.send_replace(true);
            }
        }
    }
}
