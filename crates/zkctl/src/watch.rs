//! `watch`: a persistent (or persistent recursive) watch whose events are printed one per
//! line as they come, until Ctrl-C or the end of the session.

use futures::StreamExt;
use serde_json::json;
use zk_client::{AddWatchMode, Client, EventType, SessionState};

use crate::cli::WatchArgs;
use crate::error::{CtlError, Result};
use crate::output::Output;

/// Runs `watch`. Returns on Ctrl-C (success) or when the session ends (a connection
/// failure: the events since cannot be known).
pub async fn run(client: &Client, out: Output, args: WatchArgs) -> Result<()> {
    let mode = if args.recursive {
        AddWatchMode::PersistentRecursive
    } else {
        AddWatchMode::Persistent
    };
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    // The handler is installed on the first poll: poll now, so that a Ctrl-C from the
    // moment we say we are watching ends zkctl through the handler (exit code 0) rather
    // than by the signal's default action.
    if futures::poll!(&mut ctrl_c).is_ready() {
        return Ok(());
    }
    let mut watcher = client
        .add_watch(&args.path, mode)
        .await
        .map_err(CtlError::zk(format!("watch {}", args.path)))?;
    // Said only once the watch is in place, so whoever waits for it (a person, a script,
    // a test) knows that changes from now on will be printed; on stderr even under
    // --json, where stdout carries only events.
    eprintln!(
        "watching {} in session 0x{:x} (Ctrl-C to stop)",
        args.path,
        client.session_id()
    );
    loop {
        tokio::select! {
            _ = &mut ctrl_c => return Ok(()),
            event = watcher.next() => match event {
                Some(Ok(e)) if e.event_type == EventType::None => {
                    out.emit(
                        || format!("session {:?}", e.state),
                        || json!({"session": format!("{:?}", e.state)}),
                    );
                    if e.state.is_terminal() {
                        return Err(CtlError::zk(format!("watch {}", args.path))(
                            terminal_error(e.state),
                        ));
                    }
                }
                Some(Ok(e)) => out.emit(
                    || format!("{:?} {}", e.event_type, e.path),
                    || json!({"event": format!("{:?}", e.event_type), "path": e.path, "zxid": e.zxid}),
                ),
                Some(Err(lagged)) => out.emit(
                    || format!("lagged: {} events dropped", lagged.missed),
                    || json!({"lagged": lagged.missed}),
                ),
                None => {
                    return Err(CtlError::zk(format!("watch {}", args.path))(
                        zk_client::Error::Closed,
                    ))
                }
            }
        }
    }
}

fn terminal_error(state: SessionState) -> zk_client::Error {
    match state {
        SessionState::Expired => zk_client::Error::SessionExpired,
        SessionState::AuthFailed => zk_client::Error::AuthFailed,
        _ => zk_client::Error::Closed,
    }
}
