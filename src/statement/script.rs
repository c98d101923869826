//! The text of scripts and statements: splitting a script at its top-level `;`, telling
//! the shell whether a statement is complete, and the small lexing the statements of
//! [`super`] need (leading comments, first words, quoted strings and identifiers,
//! parentheses and top-level commas). Quotes and comments are skipped everywhere, so a
//! `;`, `(` or `,` inside them never counts. No allocation beyond the pieces returned.

/// Where quotes and comments end in a script, so that `;` inside them is not a split.
struct Scan {
    /// Byte offsets of the `;` outside quotes and comments.
    semicolons: Vec<usize>,
    /// The last character outside comments and whitespace is such a `;`.
    ends_with_semicolon: bool,
    /// The text ends inside a quote or a block comment.
    open: bool,
}

fn scan(text: &str) -> Scan {
    let b = text.as_bytes();
    let mut s = Scan {
        semicolons: Vec::new(),
        ends_with_semicolon: false,
        open: false,
    };
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            q @ (b'\'' | b'"') => {
                s.ends_with_semicolon = false;
                i += 1;
                loop {
                    match b.get(i) {
                        None => {
                            s.open = true;
                            break;
                        }
                        // A doubled quote is an escaped one.
                        Some(&c) if c == q && b.get(i + 1) == Some(&q) => i += 2,
                        Some(&c) if c == q => {
                            i += 1;
                            break;
                        }
                        Some(_) => i += 1,
                    }
                }
                continue;
            }
            b'-' if b.get(i + 1) == Some(&b'-') => {
                i = b[i..]
                    .iter()
                    .position(|&c| c == b'\n')
                    .map_or(b.len(), |p| i + p + 1);
                continue;
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                match text[i + 2..].find("*/") {
                    Some(p) => i = i + 2 + p + 2,
                    None => {
                        s.open = true;
                        i = b.len();
                    }
                }
                continue;
            }
            b';' => {
                s.semicolons.push(i);
                s.ends_with_semicolon = true;
            }
            c if c.is_ascii_whitespace() => {}
            _ => s.ends_with_semicolon = false,
        }
        i += 1;
    }
    s
}

/// Splits `script` at the semicolons outside quotes and comments. Statements that
/// hold only whitespace and comments are dropped; the last one needs no `;`.
pub fn split_statements(script: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let cuts = scan(script).semicolons;
    for end in cuts.into_iter().chain(std::iter::once(script.len())) {
        let piece = &script[start..end];
        if !skip_noise(piece).is_empty() {
            out.push(piece.trim());
        }
        start = (end + 1).min(script.len());
    }
    out
}

/// Whether `text` is complete as the shell reads it: its last character outside
/// comments and whitespace is a `;` outside quotes. Until then the shell reads more.
pub fn is_complete(text: &str) -> bool {
    let s = scan(text);
    !s.open && s.ends_with_semicolon
}

/// `text` after its leading whitespace and comments.
pub(super) fn skip_noise(mut text: &str) -> &str {
    loop {
        text = text.trim_start();
        if let Some(rest) = text.strip_prefix("--") {
            text = rest.find('\n').map_or("", |p| &rest[p + 1..]);
        } else if let Some(rest) = text.strip_prefix("/*") {
            text = rest.find("*/").map_or("", |p| &rest[p + 2..]);
        } else {
            return text;
        }
    }
}

/// The first word of `text` (up to whitespace, `(` or `;`) and what follows it.
pub(super) fn first_word(text: &str) -> (&str, &str) {
    let text = skip_noise(text);
    let end = text
        .find(|c: char| c.is_whitespace() || c == '(' || c == ';')
        .unwrap_or(text.len());
    (&text[..end], skip_noise(&text[end..]))
}

pub(super) fn is_query_start(text: &str) -> bool {
    let (w, _) = first_word(text);
    text.starts_with('(')
        || ["SELECT", "WITH", "FROM", "VALUES", "TABLE"]
            .iter()
            .any(|k| w.eq_ignore_ascii_case(k))
}

pub(super) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `"a b"` → `a b`; a bare identifier stays as written.
pub(super) fn unquote_ident(text: &str) -> String {
    match text.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
        Some(inner) => inner.replace("\"\"", "\""),
        None => text.to_string(),
    }
}

/// An option value without its single or double quotes.
pub(super) fn unquote(text: &str) -> String {
    match string_literal(text) {
        Some((s, rest)) if rest.trim().is_empty() => s,
        _ => unquote_ident(text),
    }
}

/// A leading `'...'` literal (with `''` escapes) and the text after it.
pub(super) fn string_literal(text: &str) -> Option<(String, &str)> {
    let text = skip_noise(text);
    let body = text.strip_prefix('\'')?;
    let mut out = String::new();
    let mut chars = body.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c == '\'' {
            if chars.peek().map(|&(_, n)| n) == Some('\'') {
                chars.next();
                out.push('\'');
            } else {
                return Some((out, &body[i + 1..]));
            }
        } else {
            out.push(c);
        }
    }
    None
}

/// Walks `text` outside quotes, calling `f(offset, char, depth)` with the parenthesis
/// depth after the character; stops when `f` returns true.
fn walk_top_level(text: &str, mut f: impl FnMut(usize, char, i64) -> bool) {
    let (mut depth, mut quote) = (0i64, None::<char>);
    for (i, c) in text.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, c) => {
                match c {
                    '(' => depth += 1,
                    ')' => depth -= 1,
                    _ => {}
                }
                if f(i, c, depth) {
                    return;
                }
            }
        }
    }
}

/// The offset of the `)` that closes the `(` at the start of `text`.
pub(super) fn matching_paren(text: &str) -> Option<usize> {
    let mut found = None;
    walk_top_level(text, |i, c, depth| {
        if c == ')' && depth == 0 {
            found = Some(i);
        }
        depth <= 0
    });
    found
}

/// `text` split at the commas outside parentheses and quotes.
pub(super) fn split_top_level(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    walk_top_level(text, |i, c, depth| {
        if c == ',' && depth == 0 {
            out.push(text[start..i].trim());
            start = i + 1;
        }
        false
    });
    let last = text[start..].trim();
    if !last.is_empty() {
        out.push(last);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_outside_quotes_and_comments() {
        let s = "SELECT ';' AS a; -- x; y\nSELECT \"b;\" FROM t /* ; */;\n-- only a comment;\n";
        assert_eq!(
            split_statements(s),
            vec!["SELECT ';' AS a", "-- x; y\nSELECT \"b;\" FROM t /* ; */"]
        );
        assert_eq!(split_statements("SELECT 1"), vec!["SELECT 1"]);
        assert!(split_statements("  ;; -- nothing\n").is_empty());
    }

    #[test]
    fn complete_needs_a_final_semicolon_outside_quotes() {
        assert!(is_complete("SELECT 1;"));
        assert!(is_complete("SELECT 1; -- done\n"));
        assert!(!is_complete("SELECT 1"));
        assert!(!is_complete("SELECT ';"));
        assert!(!is_complete("SELECT 1 /* ; "));
        assert!(!is_complete("SELECT 1; SELECT 2"));
        assert!(is_complete("SELECT 'it''s';"));
    }

    #[test]
    fn copy_options_split_at_top_level_commas() {
        assert_eq!(
            split_top_level("FORMAT parquet, PARTITION_BY (a, b), DELIMITER ','"),
            vec!["FORMAT parquet", "PARTITION_BY (a, b)", "DELIMITER ','"]
        );
        assert_eq!(matching_paren("(SELECT ')' FROM (x)) TO"), Some(20));
        assert_eq!(
            string_literal(" 'it''s' rest"),
            Some(("it's".to_string(), " rest"))
        );
    }
}
