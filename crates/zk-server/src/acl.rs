//! Access control as Apache's `ZooKeeperServer.checkACL` and
//! `PrepRequestProcessor.fixupACL`: permission checks against a connection's ids,
//! validation and expansion of ACLs on create/setACL, and the auth schemes the server
//! knows (`digest`, `ip`; `world` and `auth` in ACLs only).

use std::net::{IpAddr, Ipv4Addr};

use zk_proto::{perms, Acl, ErrorCode, Id};

/// Whether the ids of a connection grant `perm` on a node with `acl`.
pub fn check(acl: &[Acl], ids: &[Id], perm: i32) -> bool {
    if acl.is_empty() || ids.iter().any(|id| id.scheme == "super") {
        return true;
    }
    acl.iter().any(|entry| {
        entry.perms & perm != 0
            && ((entry.id.scheme == "world" && entry.id.id == "anyone")
                || ids.iter().any(|id| {
                    id.scheme == entry.id.scheme && matches(&id.scheme, &id.id, &entry.id.id)
                }))
    })
}

fn matches(scheme: &str, id: &str, acl_id: &str) -> bool {
    match scheme {
        "ip" => ip_matches(id, acl_id),
        // Apache's SASLAuthenticationProvider.matches: the SASL user named `super` passes
        // every sasl ACL.
        "sasl" => id == "super" || id == acl_id,
        _ => id == acl_id,
    }
}

/// Whether address `id` falls in `acl_id` (`a.b.c.d` or `a.b.c.d/bits`), IPv4 as 3.8.
fn ip_matches(id: &str, acl_id: &str) -> bool {
    let Some((addr, _)) = parse_ip_acl(id) else {
        return false;
    };
    let Some((net, bits)) = parse_ip_acl(acl_id) else {
        return false;
    };
    let mask = if bits == 0 {
        0
    } else {
        u32::MAX << (32 - bits)
    };
    u32::from(addr) & mask == u32::from(net) & mask
}

/// Java's `Integer.parseInt`: optional sign, decimal digits, leading zeros allowed.
fn java_int(s: &str) -> Option<i64> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) || digits.len() > 10 {
        return None;
    }
    s.parse::<i64>().ok()
}

/// An `ip` ACL id as Apache's `IPAuthenticationProvider` reads it: four octets parsed
/// with Java's `parseInt` (so `010` is 10), optional `/bits`.
fn parse_ip_acl(acl_id: &str) -> Option<(Ipv4Addr, u32)> {
    let (addr, bits) = match acl_id.split_once('/') {
        Some((a, b)) => (a, java_int(b).filter(|b| (0..=32).contains(b))? as u32),
        None => (acl_id, 32),
    };
    let octets: Vec<u8> = addr
        .split('.')
        .map(|o| {
            java_int(o)
                .filter(|v| (0..=255).contains(v))
                .map(|v| v as u8)
        })
        .collect::<Option<_>>()?;
    let [a, b, c, d] = octets[..] else {
        return None;
    };
    Some((Ipv4Addr::new(a, b, c, d), bits))
}

/// Whether an id of `scheme` counts as authenticated for `auth:` ACL expansion.
fn is_authenticated(scheme: &str) -> bool {
    matches!(scheme, "digest" | "sasl" | "x509")
}

/// Validates and expands an ACL for create/setACL: duplicates in the request removed
/// (expansion may still repeat an entry, as in Apache), `world:anyone`
/// kept, `auth:` replaced by the connection's authenticated ids, `digest` ids must be
/// `user:hash`, `ip` ids valid IPv4 (with optional `/bits`), `x509` ids (when `x509` is
/// on) names Java's `X500Principal` accepts, `sasl` ids (when `sasl` is on) names
/// [`sasl_id_valid`] accepts. Anything else is INVALIDACL.
pub fn fixup(acl: &[Acl], ids: &[Id], x509: bool, sasl: bool) -> Result<Vec<Acl>, ErrorCode> {
    let mut unique: Vec<&Acl> = Vec::with_capacity(acl.len());
    for entry in acl {
        if !unique.contains(&entry) {
            unique.push(entry);
        }
    }
    let mut out: Vec<Acl> = Vec::with_capacity(unique.len());
    let push = |a: Acl, out: &mut Vec<Acl>| out.push(a);
    for entry in unique {
        match entry.id.scheme.as_str() {
            "world" if entry.id.id == "anyone" => push(entry.clone(), &mut out),
            "auth" => {
                let mut any = false;
                for id in ids.iter().filter(|id| is_authenticated(&id.scheme)) {
                    any = true;
                    push(Acl::new(entry.perms, id.clone()), &mut out);
                }
                if !any {
                    return Err(ErrorCode::InvalidAcl);
                }
            }
            "digest" if digest_id_valid(&entry.id.id) => push(entry.clone(), &mut out),
            "ip" if parse_ip_acl(&entry.id.id).is_some() => push(entry.clone(), &mut out),
            "x509" if x509 && crate::tls::dn_is_valid(&entry.id.id) => {
                push(entry.clone(), &mut out)
            }
            "sasl" if sasl && sasl_id_valid(&entry.id.id) => push(entry.clone(), &mut out),
            _ => return Err(ErrorCode::InvalidAcl),
        }
    }
    if out.is_empty() {
        return Err(ErrorCode::InvalidAcl);
    }
    Ok(out)
}

/// Java's `id.split(":").length == 2` (which ignores trailing empty parts).
/// Whether a `sasl` ACL id is valid: Apache's `SASLAuthenticationProvider.isValid` takes
/// any name its `KerberosName` parses, that is any name without `@`, or one matching
/// `primary[/instance]@realm` (no further `/` or `@`).
pub fn sasl_id_valid(id: &str) -> bool {
    let Some((principal, realm)) = id.split_once('@') else {
        return true;
    };
    let mut parts = principal.split('/');
    parts.next();
    parts.next();
    parts.next().is_none() && !realm.contains(['/', '@'])
}

fn digest_id_valid(id: &str) -> bool {
    let trimmed = id.trim_end_matches(':');
    trimmed.split(':').count() == 2
}

/// A connection's ids in the order Apache's `whoAmI` lists them. Apache keeps them in a
/// set backed by a `ConcurrentHashMap`, so the order is the map's iteration order: by
/// hash bucket — the jute `Id.hashCode` over Java's `String.hashCode`, spread as the map
/// spreads it, masked by its table size (16, doubling past three quarters full) — then
/// in insertion order within a bucket. (A table that grew while filling can reorder
/// colliding ids; a connection with more than twelve ids is not reproduced exactly.)
pub fn apache_order(ids: &[Id]) -> Vec<&Id> {
    fn java_hash(s: &str) -> i32 {
        s.encode_utf16()
            .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(c as i32))
    }
    let mut table = 16usize;
    while ids.len() > table - table / 4 {
        table *= 2;
    }
    let bucket = |id: &Id| {
        let h = 17i32
            .wrapping_mul(37)
            .wrapping_add(java_hash(&id.scheme))
            .wrapping_mul(37)
            .wrapping_add(java_hash(&id.id));
        let spread = (h ^ ((h as u32) >> 16) as i32) & 0x7fff_ffff;
        spread as usize & (table - 1)
    };
    let mut ordered: Vec<&Id> = ids.iter().collect();
    ordered.sort_by_key(|id| bucket(id));
    ordered
}

/// The ACL as getACL shows it to a connection without ADMIN: digest ids masked to `user:x`.
pub fn mask_digests(acl: &[Acl]) -> Vec<Acl> {
    acl.iter()
        .map(|a| {
            if a.id.scheme == "digest" {
                let user = a.id.id.split(':').next().unwrap_or_default();
                Acl::new(a.perms, Id::new("digest", format!("{user}:x")))
            } else {
                a.clone()
            }
        })
        .collect()
}

/// What an auth packet adds to a connection, or `None` for AUTHFAILED.
pub fn authenticate(
    scheme: &str,
    auth: &[u8],
    remote: IpAddr,
    super_digest: Option<&str>,
) -> Option<Vec<Id>> {
    match scheme {
        "digest" => {
            let credentials = String::from_utf8_lossy(auth);
            let id = zk_proto::digest::digest_id(&credentials);
            let mut ids = vec![Id::new("digest", id.clone())];
            if super_digest == Some(id.as_str()) {
                ids.push(Id::new("super", ""));
            }
            Some(ids)
        }
        "ip" => Some(vec![Id::new("ip", remote.to_canonical().to_string())]),
        _ => None,
    }
}

/// The permission bits getACL needs: READ or ADMIN.
pub const GET_ACL_PERMS: i32 = perms::READ | perms::ADMIN;

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(list: &[(&str, &str)]) -> Vec<Id> {
        list.iter().map(|(s, i)| Id::new(*s, *i)).collect()
    }

    #[test]
    fn world_anyone_and_matching_ids_grant() {
        let open = Acl::open_unsafe();
        assert!(check(&open, &[], perms::WRITE));
        let digest = vec![Acl::new(perms::READ, Id::new("digest", "u:h"))];
        assert!(check(&digest, &ids(&[("digest", "u:h")]), perms::READ));
        assert!(!check(&digest, &ids(&[("digest", "u:h")]), perms::WRITE));
        assert!(!check(&digest, &ids(&[("ip", "127.0.0.1")]), perms::READ));
        assert!(check(&digest, &ids(&[("super", "")]), perms::ADMIN));
    }

    #[test]
    fn ip_ids_parse_like_java() {
        assert!(parse_ip_acl("127.000.000.001").is_some());
        assert_eq!(
            parse_ip_acl("010.0.0.1").unwrap().0,
            Ipv4Addr::new(10, 0, 0, 1)
        );
        assert!(parse_ip_acl("1.2.3.4/-0").is_some());
        assert!(parse_ip_acl("300.1.1.1").is_none());
        assert!(parse_ip_acl("1.2.3").is_none());
        assert!(parse_ip_acl("1.2.3.4/33").is_none());
    }

    #[test]
    fn ip_acls_match_cidr() {
        let acl = vec![Acl::new(perms::ALL, Id::new("ip", "10.1.0.0/16"))];
        assert!(check(&acl, &ids(&[("ip", "10.1.2.3")]), perms::READ));
        assert!(!check(&acl, &ids(&[("ip", "10.2.2.3")]), perms::READ));
    }

    #[test]
    fn fixup_expands_auth_and_rejects_bad_ids() {
        let me = ids(&[("ip", "127.0.0.1"), ("digest", "alice:h")]);
        assert_eq!(
            fixup(&Acl::creator_all(), &me, false, false).unwrap(),
            vec![Acl::new(perms::ALL, Id::new("digest", "alice:h"))]
        );
        let only_ip = ids(&[("ip", "127.0.0.1")]);
        assert_eq!(
            fixup(&Acl::creator_all(), &only_ip, false, false),
            Err(ErrorCode::InvalidAcl)
        );
        assert_eq!(fixup(&[], &me, false, false), Err(ErrorCode::InvalidAcl));
        let bad = vec![Acl::new(perms::ALL, Id::new("digest", "nocolon"))];
        assert_eq!(fixup(&bad, &me, false, false), Err(ErrorCode::InvalidAcl));
        let world_other = vec![Acl::new(perms::ALL, Id::new("world", "someone"))];
        assert_eq!(
            fixup(&world_other, &me, false, false),
            Err(ErrorCode::InvalidAcl)
        );
        let dup = vec![Acl::open_unsafe()[0].clone(), Acl::open_unsafe()[0].clone()];
        assert_eq!(fixup(&dup, &me, false, false).unwrap().len(), 1);
    }

    #[test]
    fn x509_acls_need_the_scheme_on_and_a_well_formed_name() {
        let me = ids(&[("ip", "127.0.0.1"), ("x509", "CN=alice,O=zkmesh")]);
        let named = vec![Acl::new(perms::ALL, Id::new("x509", "CN=bob,O=zkmesh"))];
        assert_eq!(fixup(&named, &me, true, false).unwrap(), named);
        assert_eq!(fixup(&named, &me, false, false), Err(ErrorCode::InvalidAcl));
        let garbled = vec![Acl::new(perms::ALL, Id::new("x509", "bob"))];
        assert_eq!(
            fixup(&garbled, &me, true, false),
            Err(ErrorCode::InvalidAcl)
        );
        // `auth` stands for the certificate's subject, like any authenticated id.
        assert_eq!(
            fixup(&Acl::creator_all(), &me, true, false).unwrap(),
            vec![Acl::new(perms::ALL, Id::new("x509", "CN=alice,O=zkmesh"))]
        );
        // Ids match exactly, as Apache's provider compares them.
        assert!(check(
            &named,
            &ids(&[("x509", "CN=bob,O=zkmesh")]),
            perms::READ
        ));
        assert!(!check(
            &named,
            &ids(&[("x509", "CN=bob, O=zkmesh")]),
            perms::READ
        ));
    }

    #[test]
    fn sasl_acls_need_the_scheme_on_and_a_kerberos_parsable_name() {
        let me = ids(&[("sasl", "alice")]);
        let acl = |id: &str| vec![Acl::new(perms::ALL, Id::new("sasl", id))];
        for good in ["alice", "a/b", "svc/host@REALM", "alice@", "@"] {
            assert_eq!(fixup(&acl(good), &me, false, true), Ok(acl(good)), "{good}");
        }
        for bad in ["a@b@c", "a/b/c@R", "a@R/x"] {
            assert_eq!(
                fixup(&acl(bad), &me, false, true),
                Err(ErrorCode::InvalidAcl),
                "{bad}"
            );
        }
        assert_eq!(
            fixup(&acl("alice"), &me, false, false),
            Err(ErrorCode::InvalidAcl)
        );
        assert_eq!(
            fixup(&Acl::creator_all(), &me, false, true).unwrap(),
            vec![Acl::new(perms::ALL, Id::new("sasl", "alice"))]
        );
        assert!(check(&acl("alice"), &me, perms::READ));
        assert!(!check(&acl("bob"), &me, perms::READ));
        assert!(check(&acl("bob"), &ids(&[("sasl", "super")]), perms::READ));
    }

    #[test]
    fn digest_auth_matches_apache() {
        let got = authenticate(
            "digest",
            b"alice:secret",
            "127.0.0.1".parse().unwrap(),
            None,
        )
        .unwrap();
        assert_eq!(
            got,
            ids(&[("digest", "alice:aYXlLOpEooaV1cRAvUL1fp9Qt7E=")])
        );
        assert!(authenticate("nosuch", b"x", "127.0.0.1".parse().unwrap(), None).is_none());
        assert_eq!(
            mask_digests(&[Acl::new(1, Id::new("digest", "alice:abc"))])[0]
                .id
                .id,
            "alice:x"
        );
    }
}
