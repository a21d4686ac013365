//! The tree page's data: one node at a time (its data as text, JSON and hex, its Stat, its
//! ACL) and one page of its children, so a node with a million children costs the page
//! one page of names; and setting a node's data on the version that was shown.
//!
//! Owns reading and paging only; the node is read from ZooKeeper on every request. The
//! sorted child list of the node being paged through is kept while its Stat says it has
//! not changed (same `czxid` and `cversion`), so paging through a million children lists
//! them once, not once per page.

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use zk_client::Error as ZkError;

use super::reply::{parse_body, ApiError};
use super::Shared;
use crate::acl::acl_json;
use crate::nodes::stat_json;

/// The sorted children of one node, and the Stat fields that say they are still right.
#[derive(Default)]
pub struct ChildrenCache(Mutex<Option<Listed>>);

struct Listed {
    path: String,
    czxid: i64,
    cversion: i32,
    names: Arc<Vec<String>>,
}

impl ChildrenCache {
    fn get(&self, path: &str, stat: &zk_client::Stat) -> Option<Arc<Vec<String>>> {
        let held = self.0.lock().unwrap_or_else(|p| p.into_inner());
        held.as_ref()
            .filter(|l| l.path == path && l.czxid == stat.czxid && l.cversion == stat.cversion)
            .map(|l| l.names.clone())
    }

    fn put(&self, path: &str, czxid: i64, cversion: i32, names: Arc<Vec<String>>) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(Listed {
            path: path.to_owned(),
            czxid,
            cversion,
            names,
        });
    }
}

/// The most children listed per page, and the most data bytes shown as hex.
const MAX_PAGE: usize = 1000;
const HEX_BYTES: usize = 4096;

/// Query of `GET /api/tree`.
#[derive(Deserialize)]
pub struct At {
    #[serde(default = "root")]
    path: String,
    #[serde(default)]
    offset: usize,
    #[serde(default = "page")]
    limit: usize,
}

fn root() -> String {
    "/".to_owned()
}

fn page() -> usize {
    200
}

/// The data as the page offers it: text when it is UTF-8, pretty JSON when it parses,
/// and hex of the first bytes always.
fn data_json(data: &[u8]) -> Value {
    let text = std::str::from_utf8(data).ok();
    let pretty = text
        .and_then(|t| serde_json::from_str::<Value>(t).ok())
        .and_then(|v| serde_json::to_string_pretty(&v).ok());
    let hex: String = data
        .iter()
        .take(HEX_BYTES)
        .map(|b| format!("{b:02x}"))
        .collect();
    json!({
        "size": data.len(), "text": text, "json": pretty,
        "hex": hex, "hex_truncated": data.len() > HEX_BYTES,
    })
}

/// `GET /api/tree?path=/a&offset=0&limit=200`.
pub async fn show(
    State(s): State<Arc<Shared>>,
    query: Result<Query<At>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(at) = query.map_err(|e| ApiError::bad_request(format!("bad query: {e}")))?;
    let limit = at.limit.clamp(1, MAX_PAGE);
    let client = s.client();
    let (data, stat) = client.get_data(&at.path).await?;
    let (acl, _) = client.get_acl(&at.path).await?;
    let children = match s.children.get(&at.path, &stat) {
        Some(names) => names,
        None => {
            // The children may change between the reads; what is listed is the later read,
            // and it is kept under its own Stat.
            let (mut names, listed) = match client.get_children_with_stat(&at.path).await {
                Ok(c) => c,
                Err(ZkError::NoNode) => (Vec::new(), stat),
                Err(e) => return Err(e.into()),
            };
            names.sort_unstable();
            let names = Arc::new(names);
            s.children
                .put(&at.path, listed.czxid, listed.cversion, names.clone());
            names
        }
    };
    let total = children.len();
    let names: Vec<&String> = children.iter().skip(at.offset).take(limit).collect();
    Ok(Json(json!({
        "path": at.path,
        "data": data_json(&data),
        "stat": stat_json(&stat),
        "acl": acl_json(&acl),
        "children": {"total": total, "offset": at.offset, "limit": limit, "names": names},
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetData {
    path: String,
    data: String,
    /// The version that was shown: a node changed since is not overwritten.
    version: i32,
}

/// `PUT /api/tree`: sets a node's data (text) on the version that was shown.
pub async fn set_data(State(s): State<Arc<Shared>>, body: Bytes) -> Result<Json<Value>, ApiError> {
    s.require_writes()?;
    let req: SetData = parse_body(&body)?;
    match s
        .client()
        .set_data(&req.path, req.data.as_bytes(), Some(req.version))
        .await
    {
        Ok(stat) => {
            tracing::info!(path = %req.path, version = stat.version, "console set a node's data");
            Ok(Json(json!({"path": req.path, "stat": stat_json(&stat)})))
        }
        Err(ZkError::BadVersion) => Err(ApiError::new(
            StatusCode::CONFLICT,
            format!(
                "{} changed since version {} was shown: reload it",
                req.path, req.version
            ),
        )),
        Err(e) => Err(e.into()),
    }
}
