//! A line diff for `routes diff`: longest common subsequence over lines, which is plenty
//! for documents the size of a routing rule (quadratic, and rules are a few hundred lines
//! at most).

/// One line of a diff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line<'a> {
    /// In both.
    Same(&'a str),
    /// Only in the old text.
    Removed(&'a str),
    /// Only in the new text.
    Added(&'a str),
}

/// The lines of `old` and `new`, in order, each marked same, removed or added.
pub fn diff<'a>(old: &'a str, new: &'a str) -> Vec<Line<'a>> {
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    // lcs[i][j]: length of the longest common subsequence of a[i..] and b[j..].
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < a.len() && j < b.len() {
        if a[i] == b[j] {
            out.push(Line::Same(a[i]));
            i += 1;
            j += 1;
        } else if lcs[i + 1][j] >= lcs[i][j + 1] {
            out.push(Line::Removed(a[i]));
            i += 1;
        } else {
            out.push(Line::Added(b[j]));
            j += 1;
        }
    }
    out.extend(a[i..].iter().map(|l| Line::Removed(l)));
    out.extend(b[j..].iter().map(|l| Line::Added(l)));
    out
}

/// The diff as text: `-` removed, `+` added, two spaces for unchanged lines.
pub fn render(lines: &[Line]) -> String {
    lines
        .iter()
        .map(|l| match l {
            Line::Same(s) => format!("  {s}"),
            Line::Removed(s) => format!("- {s}"),
            Line::Added(s) => format!("+ {s}"),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_what_changed_and_keeps_what_did_not() {
        let d = diff("a\nb\nc", "a\nx\nc\nd");
        assert_eq!(
            d,
            vec![
                Line::Same("a"),
                Line::Removed("b"),
                Line::Added("x"),
                Line::Same("c"),
                Line::Added("d")
            ]
        );
        assert_eq!(render(&d), "  a\n- b\n+ x\n  c\n+ d");
        assert!(diff("same", "same")
            .iter()
            .all(|l| matches!(l, Line::Same(_))));
    }
}
