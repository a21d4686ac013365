//! Apache's path rules (`common/PathUtils.validatePath`), in one place for client and server.

/// Why a path is not a valid znode path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PathError {
    /// The path is empty.
    #[error("path must not be empty")]
    Empty,
    /// The path does not start with `/`.
    #[error("path must start with / character")]
    NotAbsolute,
    /// The path ends with `/` (and is not the root).
    #[error("path must not end with / character")]
    TrailingSlash,
    /// Two slashes in a row.
    #[error("empty node name specified @{0}")]
    EmptyComponent(usize),
    /// A `.` or `..` component.
    #[error("relative paths not allowed @{0}")]
    Relative(usize),
    /// A character Apache forbids (NUL, controls, surrogates, private use, specials).
    #[error("invalid character {ch:?} @{index}")]
    InvalidChar {
        /// The character.
        ch: char,
        /// Its index in UTF-16 code units, as Java reports it.
        index: usize,
    },
}

fn forbidden(c: char) -> bool {
    let u = c as u32;
    u == 0
        || (0x01..=0x1f).contains(&u)
        || (0x7f..=0x9f).contains(&u)
        || (0xd800..=0xf8ff).contains(&u)
        || (0xfff0..=0xffff).contains(&u)
        // Outside the BMP a Java string holds surrogates, which the range above forbids.
        || u > 0xffff
}

/// Checks `path` as `PathUtils.validatePath(path, sequential)` does: a sequential create
/// is validated with a digit appended, so `"/queue/"` is allowed for it.
pub fn validate_path(path: &str, sequential: bool) -> Result<(), PathError> {
    if sequential {
        let mut p = String::with_capacity(path.len() + 1);
        p.push_str(path);
        p.push('1');
        return validate(&p);
    }
    validate(path)
}

fn validate(path: &str) -> Result<(), PathError> {
    let bytes = path.as_bytes();
    match bytes {
        [] => return Err(PathError::Empty),
        [b'/'] => return Ok(()),
        [first, ..] if *first != b'/' => return Err(PathError::NotAbsolute),
        [.., b'/'] => return Err(PathError::TrailingSlash),
        _ => {}
    }
    // Index in UTF-16 code units, as Java reports it.
    let mut index = 1;
    let mut last = '/';
    for c in path[1..].chars() {
        if forbidden(c) {
            return Err(PathError::InvalidChar { ch: c, index });
        }
        if c == '/' && last == '/' {
            return Err(PathError::EmptyComponent(index));
        }
        last = c;
        index += c.len_utf16();
    }
    if path[1..].split('/').any(|comp| comp == "." || comp == "..") {
        return Err(PathError::Relative(path.find("/.").map_or(0, |i| i + 1)));
    }
    Ok(())
}

/// The parent of a valid path (`"/"` for a root child, `None` for the root).
pub fn parent(path: &str) -> Option<&str> {
    if path == "/" {
        return None;
    }
    match path.rfind('/') {
        Some(0) => Some("/"),
        Some(i) => Some(&path[..i]),
        None => None,
    }
}

/// The last component of a path.
pub fn basename(path: &str) -> &str {
    path.rfind('/').map_or(path, |i| &path[i + 1..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_what_apache_accepts() {
        for p in [
            "/",
            "/a",
            "/a/b",
            "/.a",
            "/a.",
            "/...",
            "/a\u{a0}",
            "/\u{d7ff}",
            "/zookeeper",
        ] {
            assert_eq!(validate_path(p, false), Ok(()), "{p:?}");
        }
        assert_eq!(validate_path("/queue/", true), Ok(()));
        assert_eq!(validate_path("/queue/job-", true), Ok(()));
    }

    #[test]
    fn rejects_what_apache_rejects() {
        assert_eq!(validate_path("", false), Err(PathError::Empty));
        assert_eq!(validate_path("a", false), Err(PathError::NotAbsolute));
        assert_eq!(validate_path("/a/", false), Err(PathError::TrailingSlash));
        assert_eq!(
            validate_path("/a//b", false),
            Err(PathError::EmptyComponent(3))
        );
        assert!(matches!(
            validate_path("/a/./b", false),
            Err(PathError::Relative(_))
        ));
        assert!(matches!(
            validate_path("/a/..", false),
            Err(PathError::Relative(_))
        ));
        assert!(matches!(
            validate_path("/.", false),
            Err(PathError::Relative(_))
        ));
        for bad in [
            "\u{0}",
            "\u{1}",
            "\u{7f}",
            "\u{9f}",
            "\u{f8ff}",
            "\u{ffff}",
            "\u{1f600}",
        ] {
            let p = format!("/x{bad}");
            assert!(
                matches!(validate_path(&p, false), Err(PathError::InvalidChar { .. })),
                "{p:?}"
            );
        }
    }

    #[test]
    fn parent_and_basename() {
        assert_eq!(parent("/"), None);
        assert_eq!(parent("/a"), Some("/"));
        assert_eq!(parent("/a/b"), Some("/a"));
        assert_eq!(basename("/a/b"), "b");
        assert_eq!(basename("/"), "");
    }
}
