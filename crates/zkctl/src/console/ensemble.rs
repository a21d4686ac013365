//! The ensemble page's data: each member of the connect string asked with `srvr`
//! ([`crate::ensemble::survey`]), a member that does not answer shown with why.
//!
//! The page asks again every second or so; each ask is one short plain TCP connection per
//! member, no session.

use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use super::Shared;
use crate::ensemble::{member_json, survey};

/// `GET /api/ensemble`.
pub async fn show(State(s): State<Arc<Shared>>) -> Json<Value> {
    let members = survey(&s.conn).await;
    let leader = members
        .iter()
        .find(|m| matches!(m.mode.as_deref(), Some("leader" | "standalone")))
        .map(|m| m.host.clone());
    Json(json!({
        "members": members.iter().map(member_json).collect::<Vec<_>>(),
        "leader": leader,
    }))
}
