//! Java's JAAS login configuration syntax (the file `java.security.auth.login.config`
//! names), shared by the client (its `Client` section) and the server (its `Server`
//! section):
//! ```text
//! // comments: // to the end of the line, or /* ... */
//! Server {
//!     org.apache.zookeeper.server.auth.DigestLoginModule required
//!     user_alice="secret";
//! };
//! ```
//! Pure text in, sections out; what a section means is the caller's.

/// One `Name { ... };` section (Java's application configuration entry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JaasSection {
    /// Its name (`Server`, `Client`, ...).
    pub name: String,
    /// The 1-based line of its name.
    pub line: usize,
    /// Its login modules, in order.
    pub modules: Vec<JaasModule>,
}

/// One login module entry: `class flag key=value ...;`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JaasModule {
    /// The module's class name.
    pub class: String,
    /// The 1-based line of the class name.
    pub line: usize,
    /// Its options in file order (quotes removed, escapes resolved).
    pub options: Vec<(String, String)>,
}

impl JaasModule {
    /// The value of option `name`, if given.
    pub fn option(&self, name: &str) -> Option<&str> {
        self.options
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// JAAS text that is not JAAS syntax, with the line where parsing stopped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct JaasSyntaxError {
    /// The 1-based line.
    pub line: usize,
    /// What was expected there.
    pub message: String,
}

#[derive(Debug, PartialEq)]
enum Tok {
    Word(String),
    Quoted(String),
    Punct(char),
}

/// Splits JAAS text into tokens with their lines; comments are dropped.
fn tokenize(text: &str) -> Result<Vec<(usize, Tok)>, (usize, String)> {
    let mut out = Vec::new();
    let mut line = 1;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\n' => line += 1,
            c if c.is_whitespace() => {}
            '/' if chars.peek() == Some(&'/') => {
                while chars.peek().is_some_and(|&c| c != '\n') {
                    chars.next();
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                let start = line;
                chars.next();
                let mut prev = '\0';
                loop {
                    match chars.next() {
                        Some('/') if prev == '*' => break,
                        Some(c) => {
                            if c == '\n' {
                                line += 1;
                            }
                            prev = c;
                        }
                        None => return Err((start, "unterminated /* comment".into())),
                    }
                }
            }
            '"' => {
                let start = line;
                let mut value = String::new();
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c) => value.push(c),
                            None => return Err((start, "unterminated quoted string".into())),
                        },
                        Some(c) => {
                            if c == '\n' {
                                line += 1;
                            }
                            value.push(c);
                        }
                        None => return Err((start, "unterminated quoted string".into())),
                    }
                }
                out.push((start, Tok::Quoted(value)));
            }
            '{' | '}' | ';' | '=' => out.push((line, Tok::Punct(c))),
            c => {
                let mut word = String::from(c);
                while chars
                    .peek()
                    .is_some_and(|&c| !c.is_whitespace() && !"{};=\"".contains(c))
                {
                    word.extend(chars.next());
                }
                out.push((line, Tok::Word(word)));
            }
        }
    }
    Ok(out)
}

/// Parses `Name { module flag key=value ...; ... };` sections.
///
/// # Errors
/// [`JaasSyntaxError`] at the first token that does not fit.
pub fn parse(text: &str) -> Result<Vec<JaasSection>, JaasSyntaxError> {
    parse_sections(text).map_err(|(line, message)| JaasSyntaxError { line, message })
}

fn parse_sections(text: &str) -> Result<Vec<JaasSection>, (usize, String)> {
    let tokens = tokenize(text)?;
    let last_line = tokens.last().map_or(1, |(l, _)| *l);
    let mut it = tokens.into_iter().peekable();
    let mut sections = Vec::new();
    let unexpected = |what: &str, got: Option<(usize, Tok)>| match got {
        Some((line, tok)) => (line, format!("expected {what}, found {tok:?}")),
        None => (
            last_line,
            format!("expected {what}, found the end of the file"),
        ),
    };
    while let Some((line, tok)) = it.next() {
        let Tok::Word(name) = tok else {
            return Err(unexpected("a section name", Some((line, tok))));
        };
        match it.next() {
            Some((_, Tok::Punct('{'))) => {}
            other => return Err(unexpected("'{'", other)),
        }
        let mut modules = Vec::new();
        loop {
            match it.next() {
                Some((_, Tok::Punct('}'))) => break,
                Some((mline, Tok::Word(class))) => {
                    match it.next() {
                        Some((_, Tok::Word(flag)))
                            if ["required", "requisite", "sufficient", "optional"]
                                .contains(&flag.to_ascii_lowercase().as_str()) => {}
                        other => {
                            return Err(unexpected(
                                "a control flag (required, requisite, sufficient, optional)",
                                other,
                            ))
                        }
                    }
                    let mut options = Vec::new();
                    loop {
                        match it.next() {
                            Some((_, Tok::Punct(';'))) => break,
                            Some((_, Tok::Word(key))) => {
                                match it.next() {
                                    Some((_, Tok::Punct('='))) => {}
                                    other => {
                                        return Err(unexpected("'=' after an option name", other))
                                    }
                                }
                                match it.next() {
                                    Some((_, Tok::Quoted(v) | Tok::Word(v))) => {
                                        options.push((key, v))
                                    }
                                    other => return Err(unexpected("an option value", other)),
                                }
                            }
                            other => return Err(unexpected("an option or ';'", other)),
                        }
                    }
                    modules.push(JaasModule {
                        class,
                        line: mline,
                        options,
                    });
                }
                other => return Err(unexpected("a login module or '}'", other)),
            }
        }
        match it.next() {
            Some((_, Tok::Punct(';'))) => {}
            other => return Err(unexpected("';' after '}'", other)),
        }
        sections.push(JaasSection {
            name,
            line,
            modules,
        });
    }
    Ok(sections)
}
