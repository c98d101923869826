//! DuckDB writes `IGNORE NULLS` / `RESPECT NULLS` inside a window call's parentheses
//! (`lag(x, 2 IGNORE NULLS) OVER (..)`), while the SQL parser reads it only after them
//! (`lag(x, 2) IGNORE NULLS OVER (..)`). Before parsing, each `IGNORE NULLS )` (as
//! tokens, so never inside a string or a comment) is moved after its `)`; text without
//! that sequence is left exactly as it is.

use std::borrow::Cow;

use sqlparser::dialect::DuckDbDialect;
use sqlparser::keywords::Keyword;
use sqlparser::tokenizer::{Location, Token, Tokenizer};

/// `sql` with in-parenthesis null treatments moved after the parenthesis.
pub(crate) fn move_null_treatment(sql: &str) -> Cow<'_, str> {
    let lower = sql.to_ascii_lowercase();
    if !lower.contains("nulls") || !(lower.contains("ignore") || lower.contains("respect")) {
        return Cow::Borrowed(sql);
    }
    let Ok(tokens) = Tokenizer::new(&DuckDbDialect {}, sql).tokenize_with_location() else {
        // The parser reports the error.
        return Cow::Borrowed(sql);
    };
    let significant: Vec<usize> = (0..tokens.len())
        .filter(|&i| !matches!(tokens[i].token, Token::Whitespace(_)))
        .collect();
    // (start of the treatment's first word, start of `)`, end of `)`, the words).
    let mut moves: Vec<(usize, usize, usize, &'static str)> = Vec::new();
    for w in significant.windows(3) {
        let words = match (
            &tokens[w[0]].token,
            &tokens[w[1]].token,
            &tokens[w[2]].token,
        ) {
            (Token::Word(a), Token::Word(b), Token::RParen) if b.keyword == Keyword::NULLS => {
                match a.keyword {
                    Keyword::IGNORE => "IGNORE NULLS",
                    Keyword::RESPECT => "RESPECT NULLS",
                    _ => continue,
                }
            }
            _ => continue,
        };
        let (Some(from), Some(paren), Some(end)) = (
            offset(sql, tokens[w[0]].span.start),
            offset(sql, tokens[w[2]].span.start),
            offset(sql, tokens[w[2]].span.end),
        ) else {
            return Cow::Borrowed(sql);
        };
        moves.push((from, paren, end, words));
    }
    if moves.is_empty() {
        return Cow::Borrowed(sql);
    }
    let mut out = String::with_capacity(sql.len());
    let mut at = 0;
    for (from, paren, end, words) in moves {
        out.push_str(sql[at..from].trim_end());
        out.push_str(&sql[paren..end]);
        out.push(' ');
        out.push_str(words);
        at = end;
    }
    out.push_str(&sql[at..]);
    Cow::Owned(out)
}

/// The byte offset of a 1-based (line, column-in-characters) location.
fn offset(sql: &str, at: Location) -> Option<usize> {
    let line_start = if at.line <= 1 {
        0
    } else {
        sql.match_indices('\n')
            .nth(usize::try_from(at.line).ok()? - 2)
            .map(|(i, _)| i + 1)?
    };
    let column = usize::try_from(at.column).ok()?.checked_sub(1)?;
    let rest = &sql[line_start..];
    Some(
        line_start
            + rest
                .char_indices()
                .nth(column)
                .map_or(rest.len(), |(i, _)| i),
    )
}

#[cfg(test)]
mod tests {
    use super::move_null_treatment;

    #[test]
    fn moves_only_the_tokens() {
        assert_eq!(
            move_null_treatment("SELECT lag(x, 2 IGNORE NULLS) OVER (ORDER BY t) FROM t"),
            "SELECT lag(x, 2) IGNORE NULLS OVER (ORDER BY t) FROM t"
        );
        assert_eq!(
            move_null_treatment("SELECT 'é', first_value(v\n  respect nulls ) OVER w,\n last_value(v ignore nulls) OVER w"),
            "SELECT 'é', first_value(v) RESPECT NULLS OVER w,\n last_value(v) IGNORE NULLS OVER w"
        );
        let untouched = "SELECT 'a ignore nulls)' AS s -- ignore nulls)\nFROM t";
        assert_eq!(move_null_treatment(untouched), untouched);
        let plain = "SELECT lag(x) IGNORE NULLS OVER (ORDER BY t) FROM t";
        assert_eq!(move_null_treatment(plain), plain);
    }
}
