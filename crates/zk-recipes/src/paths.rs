//! Path helpers shared by the recipes: joining, and creating a recipe's parent nodes as
//! containers, as Curator's `creatingParentContainersIfNeeded()` does, so that an unused
//! lock or latch directory is removed by the server once empty.

use zk_client::{Client, CreateMode, CreateOptions, Error as ZkError};

use crate::error::{RecipeError, Result};
use crate::session::retry_policy;

/// `parent/name`.
pub(crate) fn join(parent: &str, name: &str) -> String {
    if parent == "/" {
        format!("/{name}")
    } else {
        format!("{parent}/{name}")
    }
}

/// The last segment of `path`.
pub(crate) fn basename(path: &str) -> &str {
    path.rsplit_once('/').map_or(path, |(_, name)| name)
}

/// Checks a recipe's base path before any request: absolute, not the root, no empty,
/// `.` or `..` segment, no trailing slash (the server checks the rest).
pub(crate) fn check_base(path: &str) -> Result<()> {
    let bad = |why: &str| Err(RecipeError::InvalidArgument(format!("{path:?}: {why}")));
    if !path.starts_with('/') {
        return bad("not absolute");
    }
    if path == "/" {
        return bad("a recipe needs a node of its own, not the root");
    }
    if path[1..]
        .split('/')
        .any(|s| s.is_empty() || s == "." || s == "..")
    {
        return bad("empty, `.` or `..` segment");
    }
    Ok(())
}

/// Whether `e` says the node exists (also after a retried create whose first attempt
/// may have made it).
pub(crate) fn is_node_exists(e: &ZkError) -> bool {
    match e {
        ZkError::NodeExists => true,
        ZkError::MaybeApplied { error } => is_node_exists(error),
        _ => false,
    }
}

/// Creates `path` and every missing ancestor as container nodes (persistent on a server
/// without containers). Nodes that exist are left as they are.
pub(crate) async fn ensure_containers(client: &Client, path: &str) -> Result<()> {
    let policy = retry_policy();
    let retry = client.retry(&policy);
    let mut at = String::new();
    for segment in path.split('/').filter(|s| !s.is_empty()) {
        at.push('/');
        at.push_str(segment);
        if retry.exists(&at).await?.is_some() {
            continue;
        }
        let container = CreateOptions::new(CreateMode::Container);
        match retry.create(&at, b"", &container).await {
            Ok(_) => {}
            Err(e) if is_node_exists(&e) => {}
            Err(ZkError::Unimplemented) => {
                match retry.create(&at, b"", &CreateOptions::persistent()).await {
                    Ok(_) => {}
                    Err(e) if is_node_exists(&e) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}
