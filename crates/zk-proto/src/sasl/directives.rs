//! The `name=value, name="quoted value"` lists that DIGEST-MD5 challenges and responses are
//! made of (RFC 2831 §7.1's `#rule` with RFC 2616's `quoted-string`), parsed without trusting
//! a byte of the input.
//!
//! Owns: splitting a token into directives, unquoting, and writing values back quoted. It
//! knows nothing about which directives mean what; [`super::digest_md5`] does.

use super::digest_md5::DigestMd5Error;

/// One `name=value` pair, the value unquoted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Directive {
    /// The name, lowercased (directive names are case-insensitive).
    pub name: String,
    /// The value with quotes and escapes removed.
    pub value: String,
}

/// Parses a whole token into its directives, in order (duplicates kept: the caller decides
/// which may repeat). The text is UTF-8 when it decodes as such, else ISO-8859-1, which is
/// what a peer without `charset=utf-8` sends.
pub(crate) fn parse(token: &[u8]) -> Result<Vec<Directive>, DigestMd5Error> {
    let text = match std::str::from_utf8(token) {
        Ok(s) => s.to_owned(),
        Err(_) => token.iter().map(|&b| char::from(b)).collect(),
    };
    let mut chars = text.char_indices().peekable();
    let mut out = Vec::new();
    let syntax = |offset: usize, reason: &'static str| DigestMd5Error::Syntax { offset, reason };
    loop {
        // Empty list elements (",,") and linear white space are allowed between directives.
        while chars.peek().is_some_and(|&(_, c)| c == ',' || is_lws(c)) {
            chars.next();
        }
        let Some(&(start, _)) = chars.peek() else {
            return Ok(out);
        };
        let mut name = String::new();
        while let Some(&(_, c)) = chars.peek() {
            if !is_token_char(c) {
                break;
            }
            name.push(c.to_ascii_lowercase());
            chars.next();
        }
        if name.is_empty() {
            return Err(syntax(start, "expected a directive name"));
        }
        skip_lws(&mut chars);
        match chars.next() {
            Some((_, '=')) => {}
            Some((at, _)) => return Err(syntax(at, "expected '=' after a directive name")),
            None => return Err(syntax(text.len(), "directive without a value")),
        }
        skip_lws(&mut chars);
        let mut value = String::new();
        match chars.peek() {
            Some(&(_, '"')) => {
                chars.next();
                loop {
                    match chars.next() {
                        Some((_, '"')) => break,
                        Some((at, '\\')) => match chars.next() {
                            Some((_, c)) => value.push(c),
                            None => return Err(syntax(at, "unterminated escape")),
                        },
                        Some((_, c)) => value.push(c),
                        None => return Err(syntax(start, "unterminated quoted string")),
                    }
                }
            }
            _ => {
                while let Some(&(_, c)) = chars.peek() {
                    if !is_token_char(c) {
                        break;
                    }
                    value.push(c);
                    chars.next();
                }
                if value.is_empty() {
                    let at = chars.peek().map_or(text.len(), |&(at, _)| at);
                    return Err(syntax(at, "expected a value"));
                }
            }
        }
        skip_lws(&mut chars);
        match chars.next() {
            None | Some((_, ',')) => {}
            Some((at, _)) => return Err(syntax(at, "expected ',' between directives")),
        }
        out.push(Directive { name, value });
    }
}

/// The one value of directive `name`, if present; an error if it appears more than once.
pub(crate) fn single<'a>(
    directives: &'a [Directive],
    name: &'static str,
) -> Result<Option<&'a str>, DigestMd5Error> {
    let mut found = None;
    for d in directives.iter().filter(|d| d.name == name) {
        if found.is_some() {
            return Err(DigestMd5Error::DuplicateDirective(name));
        }
        found = Some(d.value.as_str());
    }
    Ok(found)
}

/// Like [`single`], but the directive must be there.
pub(crate) fn required<'a>(
    directives: &'a [Directive],
    name: &'static str,
) -> Result<&'a str, DigestMd5Error> {
    single(directives, name)?.ok_or(DigestMd5Error::MissingDirective(name))
}

/// Appends `value` as a quoted string, escaping `"` and `\`.
pub(crate) fn push_quoted(out: &mut String, value: &str) {
    out.push('"');
    for c in value.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
}

fn skip_lws(chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>) {
    while chars.peek().is_some_and(|&(_, c)| is_lws(c)) {
        chars.next();
    }
}

fn is_lws(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

/// RFC 2616 `token`: any visible ASCII but separators.
fn is_token_char(c: char) -> bool {
    c.is_ascii_graphic() && !"()<>@,;:\\\"/[]?={}".contains(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(token: &str) -> Vec<(String, String)> {
        parse(token.as_bytes())
            .unwrap()
            .into_iter()
            .map(|d| (d.name, d.value))
            .collect()
    }

    #[test]
    fn tokens_quoted_strings_escapes_and_empty_elements() {
        assert_eq!(
            pairs(r#" Realm = "a \"b\" \\c" ,, nonce=xyz,qop="auth,auth-int" ,"#),
            vec![
                ("realm".into(), r#"a "b" \c"#.into()),
                ("nonce".into(), "xyz".into()),
                ("qop".into(), "auth,auth-int".into()),
            ]
        );
        assert_eq!(pairs(""), vec![]);
    }

    #[test]
    fn malformed_lists_are_syntax_errors() {
        for bad in [
            "realm",
            "realm=",
            "=x",
            "realm=\"open",
            "realm=\"esc\\",
            "a=b c=d",
            "a=\"b\"c",
            "a b=c",
        ] {
            assert!(
                matches!(parse(bad.as_bytes()), Err(DigestMd5Error::Syntax { .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn duplicates_are_refused_where_a_single_value_is_wanted() {
        let d = parse(b"nonce=a,nonce=b,realm=x").unwrap();
        assert_eq!(
            single(&d, "nonce"),
            Err(DigestMd5Error::DuplicateDirective("nonce"))
        );
        assert_eq!(single(&d, "realm"), Ok(Some("x")));
        assert_eq!(
            required(&d, "cnonce"),
            Err(DigestMd5Error::MissingDirective("cnonce"))
        );
    }

    #[test]
    fn quoting_round_trips() {
        let mut s = String::from("v=");
        push_quoted(&mut s, r#"x"y\z"#);
        assert_eq!(pairs(&s), vec![("v".into(), r#"x"y\z"#.into())]);
    }
}
