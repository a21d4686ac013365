//! The node commands: `ls`, `get`, `set`, `create`, `delete`, `stat`.

use std::io::Write;
use std::time::Duration;

use serde_json::{json, Value};
use zk_client::{Acl, Client, CreateMode, CreateOptions, Error as ZkError, Stat};

use crate::acl::parse_acl;
use crate::cli::{CreateArgs, DeleteArgs, GetArgs, LsArgs, PathArgs, SetArgs};
use crate::error::{CtlError, Result};
use crate::output::Output;
use crate::timestamp::utc;

/// `parent` + `/` + `name`, without doubling the root's slash.
pub fn child_path(parent: &str, name: &str) -> String {
    if parent.ends_with('/') {
        format!("{parent}{name}")
    } else {
        format!("{parent}/{name}")
    }
}

/// A Stat as JSON, field names as Apache's `Stat`.
pub fn stat_json(s: &Stat) -> Value {
    json!({
        "czxid": s.czxid, "mzxid": s.mzxid, "pzxid": s.pzxid,
        "ctime": s.ctime, "mtime": s.mtime,
        "version": s.version, "cversion": s.cversion, "aversion": s.aversion,
        "ephemeralOwner": s.ephemeral_owner,
        "dataLength": s.data_length, "numChildren": s.num_children,
    })
}

/// A Stat as zkCli prints it.
pub fn stat_text(s: &Stat) -> String {
    format!(
        "cZxid = 0x{:x}\nctime = {}\nmZxid = 0x{:x}\nmtime = {}\npZxid = 0x{:x}\n\
         cversion = {}\ndataVersion = {}\naclVersion = {}\nephemeralOwner = 0x{:x}\n\
         dataLength = {}\nnumChildren = {}",
        s.czxid,
        utc(s.ctime),
        s.mzxid,
        utc(s.mtime),
        s.pzxid,
        s.cversion,
        s.version,
        s.aversion,
        s.ephemeral_owner,
        s.data_length,
        s.num_children
    )
}

/// Data as JSON: a string when it is UTF-8, else hex (so nothing is lost).
fn data_json(data: &[u8]) -> Value {
    match std::str::from_utf8(data) {
        Ok(s) => json!({"data": s}),
        Err(_) => {
            let hex: String = data.iter().map(|b| format!("{b:02x}")).collect();
            json!({"data": null, "data_hex": hex})
        }
    }
}

/// `ls [-R]`.
pub async fn ls(client: &Client, out: Output, args: LsArgs) -> Result<()> {
    if !args.recursive {
        let mut children = client
            .get_children(&args.path)
            .await
            .map_err(CtlError::zk(format!("ls {}", args.path)))?;
        children.sort();
        out.emit(|| children.join("\n"), || json!(children));
        return Ok(());
    }
    let paths = subtree(client, &args.path).await?;
    out.emit(|| paths.join("\n"), || json!(paths));
    Ok(())
}

/// Every path of the subtree at `root`, the root first, depth-first in name order. A
/// node deleted while walking is skipped: the listing is of a moving tree anyway.
async fn subtree(client: &Client, root: &str) -> Result<Vec<String>> {
    let mut paths = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(path) = stack.pop() {
        let mut children = match client.get_children(&path).await {
            Ok(c) => c,
            Err(ZkError::NoNode) if path != root => continue,
            Err(e) => return Err(CtlError::zk(format!("ls {path}"))(e)),
        };
        children.sort();
        stack.extend(children.iter().rev().map(|c| child_path(&path, c)));
        paths.push(path);
    }
    Ok(paths)
}

/// `get`.
pub async fn get(client: &Client, out: Output, args: GetArgs) -> Result<()> {
    let (data, stat) = client
        .get_data(&args.path)
        .await
        .map_err(CtlError::zk(format!("get {}", args.path)))?;
    if out.json {
        let mut v = data_json(&data);
        v["path"] = json!(args.path);
        v["stat"] = stat_json(&stat);
        out.emit(String::new, || v);
    } else {
        // The bytes as they are, so `zkctl get /n > file` copies binary data faithfully.
        let mut stdout = std::io::stdout().lock();
        let _ = stdout.write_all(&data);
        if !data.is_empty() && !data.ends_with(b"\n") {
            let _ = stdout.write_all(b"\n");
        }
        let _ = stdout.flush();
        if args.stat {
            out.note(&stat_text(&stat));
        }
    }
    Ok(())
}

/// `set`.
pub async fn set(client: &Client, out: Output, args: SetArgs) -> Result<()> {
    let stat = client
        .set_data(&args.path, args.data.as_bytes(), args.version)
        .await
        .map_err(CtlError::zk(format!("set {}", args.path)))?;
    out.emit(
        || format!("{} version {}", args.path, stat.version),
        || json!({"path": args.path, "stat": stat_json(&stat)}),
    );
    Ok(())
}

/// The create mode the flags ask for (clap already refused the impossible mixes).
fn create_mode(args: &CreateArgs) -> CreateMode {
    match (args.ephemeral, args.sequential, args.container, args.ttl) {
        (_, _, true, _) => CreateMode::Container,
        (true, true, _, _) => CreateMode::EphemeralSequential,
        (true, false, _, _) => CreateMode::Ephemeral,
        (false, true, _, Some(_)) => CreateMode::PersistentSequentialWithTtl,
        (false, false, _, Some(_)) => CreateMode::PersistentWithTtl,
        (false, true, _, None) => CreateMode::PersistentSequential,
        (false, false, _, None) => CreateMode::Persistent,
    }
}

/// Creates every missing ancestor of `path` (persistent, empty, open).
pub async fn create_parents(client: &Client, path: &str) -> Result<()> {
    let mut at = String::new();
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    for part in parts.iter().take(parts.len().saturating_sub(1)) {
        at.push('/');
        at.push_str(part);
        match client.create(&at, b"", &CreateOptions::persistent()).await {
            Ok(_) | Err(ZkError::NodeExists) => {}
            Err(e) => return Err(CtlError::zk(format!("create {at}"))(e)),
        }
    }
    Ok(())
}

/// `create [-e|-s|-c|--ttl]`.
pub async fn create(client: &Client, out: Output, args: CreateArgs) -> Result<()> {
    let mode = create_mode(&args);
    let mut options = CreateOptions::new(mode);
    if !args.acl.is_empty() {
        let acl: Vec<Acl> = args
            .acl
            .iter()
            .map(|e| parse_acl(e))
            .collect::<Result<_>>()?;
        options = options.with_acl(acl);
    }
    if let Some(ms) = args.ttl {
        options = options.with_ttl(Duration::from_millis(ms));
    }
    if args.parents {
        create_parents(client, &args.path).await?;
    }
    let data = args.data.unwrap_or_default();
    let (path, stat) = client
        .create(&args.path, data.as_bytes(), &options)
        .await
        .map_err(CtlError::zk(format!("create {}", args.path)))?;
    if mode.is_ephemeral() {
        out.note("note: the node is ephemeral; it goes away when zkctl exits");
    }
    out.emit(
        || path.clone(),
        || json!({"path": path, "mode": format!("{mode:?}"), "stat": stat_json(&stat)}),
    );
    Ok(())
}

/// `delete [-r]`.
pub async fn delete(client: &Client, out: Output, args: DeleteArgs) -> Result<()> {
    let deleted = if args.recursive {
        let paths = subtree(client, &args.path).await?;
        // Deepest first: a parent can only go once its children have.
        for path in paths.iter().rev() {
            match client.delete(path, None).await {
                Ok(()) => {}
                Err(ZkError::NoNode) if path != &args.path => {}
                Err(e) => return Err(CtlError::zk(format!("delete {path}"))(e)),
            }
        }
        paths
    } else {
        client
            .delete(&args.path, args.version)
            .await
            .map_err(CtlError::zk(format!("delete {}", args.path)))?;
        vec![args.path.clone()]
    };
    out.emit(
        || format!("deleted {} node(s)", deleted.len()),
        || json!({"deleted": deleted}),
    );
    Ok(())
}

/// `stat`.
pub async fn stat(client: &Client, out: Output, args: PathArgs) -> Result<()> {
    let stat = client
        .exists(&args.path)
        .await
        .map_err(CtlError::zk(format!("stat {}", args.path)))?
        .ok_or_else(|| CtlError::zk(format!("stat {}", args.path))(ZkError::NoNode))?;
    out.emit(
        || stat_text(&stat),
        || json!({"path": args.path, "stat": stat_json(&stat)}),
    );
    Ok(())
}
