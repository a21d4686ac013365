//! `acl get|set`, and the `scheme:id:perms` notation of ACL entries (zkCli's, with perms
//! as letters from `cdrwa`).

use serde_json::{json, Value};
use zk_client::{perms, Acl, Client, Id};

use crate::cli::AclCommand;
use crate::error::{CtlError, Result};
use crate::output::Output;

/// Permission letters in zkCli's order.
const LETTERS: [(char, i32); 5] = [
    ('c', perms::CREATE),
    ('d', perms::DELETE),
    ('r', perms::READ),
    ('w', perms::WRITE),
    ('a', perms::ADMIN),
];

/// Parses `scheme:id:perms`. The id may itself contain colons (digest ids do), so the
/// scheme ends at the first colon and the perms start after the last.
pub fn parse_acl(entry: &str) -> Result<Acl> {
    let bad = |why: &str| CtlError::Usage(format!("ACL entry {entry:?}: {why}"));
    let (scheme, rest) = entry
        .split_once(':')
        .ok_or_else(|| bad("expected scheme:id:perms"))?;
    let (id, letters) = rest
        .rsplit_once(':')
        .ok_or_else(|| bad("expected scheme:id:perms"))?;
    if scheme.is_empty() {
        return Err(bad("empty scheme"));
    }
    let mut bits = 0;
    for c in letters.chars() {
        let (_, bit) = LETTERS
            .iter()
            .find(|(l, _)| *l == c.to_ascii_lowercase())
            .ok_or_else(|| bad("perms must be letters from cdrwa"))?;
        bits |= bit;
    }
    if bits == 0 {
        return Err(bad("no permission given"));
    }
    Ok(Acl::new(bits, Id::new(scheme, id)))
}

/// `cdrwa`-style letters of a permission mask.
pub fn perm_letters(bits: i32) -> String {
    LETTERS
        .iter()
        .filter(|(_, b)| bits & b != 0)
        .map(|(l, _)| *l)
        .collect()
}

/// An ACL as JSON: scheme, id, permission letters and mask per entry.
pub fn acl_json(acl: &[Acl]) -> Value {
    Value::Array(
        acl.iter()
            .map(|a| {
                json!({"scheme": a.id.scheme, "id": a.id.id,
                       "perms": perm_letters(a.perms), "perms_mask": a.perms})
            })
            .collect(),
    )
}

fn acl_text(acl: &[Acl]) -> String {
    acl.iter()
        .map(|a| format!("{}:{}:{}", a.id.scheme, a.id.id, perm_letters(a.perms)))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Runs `acl get|set`.
pub async fn run(client: &Client, out: Output, cmd: AclCommand) -> Result<()> {
    match cmd {
        AclCommand::Get(args) => {
            let (acl, stat) = client
                .get_acl(&args.path)
                .await
                .map_err(CtlError::zk(format!("acl get {}", args.path)))?;
            out.emit(
                || acl_text(&acl),
                || json!({"path": args.path, "acl": acl_json(&acl), "aversion": stat.aversion}),
            );
        }
        AclCommand::Set(args) => {
            let acl = args
                .acl
                .iter()
                .map(|e| parse_acl(e))
                .collect::<Result<Vec<_>>>()?;
            let stat = client
                .set_acl(&args.path, &acl, args.version)
                .await
                .map_err(CtlError::zk(format!("acl set {}", args.path)))?;
            out.emit(
                || acl_text(&acl),
                || json!({"path": args.path, "acl": acl_json(&acl), "aversion": stat.aversion}),
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_parse_with_colons_inside_the_id() {
        let a = parse_acl("digest:alice:aYXlLOpEooaV1cRAvUL1fp9Qt7E=:rw").expect("parses");
        assert_eq!(a.id.scheme, "digest");
        assert_eq!(a.id.id, "alice:aYXlLOpEooaV1cRAvUL1fp9Qt7E=");
        assert_eq!(a.perms, perms::READ | perms::WRITE);
        assert_eq!(parse_acl("auth::cdrwa").expect("parses").perms, perms::ALL);
        assert_eq!(perm_letters(perms::ALL), "cdrwa");
    }

    #[test]
    fn malformed_entries_are_usage_errors() {
        for bad in [
            "world",
            "world:anyone",
            "world:anyone:x",
            ":anyone:r",
            "world:anyone:",
        ] {
            assert!(matches!(parse_acl(bad), Err(CtlError::Usage(_))), "{bad}");
        }
    }
}
