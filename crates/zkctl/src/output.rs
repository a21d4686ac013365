//! Where results go: text for humans by default, one JSON document per command with
//! `--json` (one JSON object per line for `watch`, which never ends on its own).

use std::io::Write;

use serde_json::Value;

use crate::error::CtlError;

/// How results are printed.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    /// JSON instead of text.
    pub json: bool,
}

impl Output {
    /// Prints a result: `human` as text, or `json` as one line of JSON.
    pub fn emit(&self, human: impl FnOnce() -> String, json: impl FnOnce() -> Value) {
        let text = if self.json {
            json().to_string()
        } else {
            human()
        };
        print_line(&text);
    }

    /// Prints a failure on stderr, as text or as a JSON object with the exit code.
    pub fn error(&self, error: &CtlError) {
        let text = if self.json {
            serde_json::json!({
                "error": error.to_string(),
                "kind": error.kind(),
                "exit_code": error.exit_code() as i32,
            })
            .to_string()
        } else {
            format!("zkctl: {error}")
        };
        let _ = writeln!(std::io::stderr(), "{text}");
    }

    /// A note for humans on stderr (never in the JSON a script parses).
    pub fn note(&self, text: &str) {
        if !self.json {
            let _ = writeln!(std::io::stderr(), "{text}");
        }
    }
}

/// Writes `text` and a newline to stdout and flushes, so a reader of a pipe (a test, or
/// `zkctl watch | …`) sees each line as soon as it is printed. A closed pipe is not an
/// error worth reporting.
pub fn print_line(text: &str) {
    let mut out = std::io::stdout().lock();
    if text.is_empty() {
        return;
    }
    let _ = if text.ends_with('\n') {
        out.write_all(text.as_bytes())
    } else {
        writeln!(out, "{text}")
    };
    let _ = out.flush();
}
