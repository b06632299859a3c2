//! Splitting a SQL script into statements, keeping where each one starts.
//!
//! Databases report *that* a statement failed, rarely *where* it sits in the file. The runner
//! executes a script in one round trip, counts the statements that succeeded and maps the index of
//! the failing one back to its line with this splitter. It must therefore agree with the
//! database on statement boundaries: quotes, comments, PostgreSQL dollar quotes and SQLite/MySQL
//! trigger bodies (`CREATE TRIGGER … BEGIN …; …; END;`) do not end a statement at an inner `;`.
//! Statements that hold only whitespace and comments are skipped, as the drivers skip them.

/// One statement of a script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement<'a> {
    /// The statement's text, without its terminating `;`, trimmed.
    pub text: &'a str,
    /// 1-based line, within the script, of the statement's first significant character.
    pub line: usize,
}

impl Statement<'_> {
    /// The statement's first keyword, upper-cased (`CREATE`, `BEGIN`, …); empty if none.
    pub fn keyword(&self) -> String {
        first_word(self.text)
    }
}

/// Splits `sql` into its non-empty statements.
pub fn split(sql: &str) -> Vec<Statement<'_>> {
    let bytes = sql.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let mut line = 1;
    // Start of the current statement's first significant byte, and its line.
    let mut start: Option<(usize, usize)> = None;
    // The first words of the current statement (for trigger detection) and the last word seen,
    // as slices of `sql`: this runs over every migration on every command, so it allocates nothing.
    let mut words: [&str; 3] = [""; 3];
    let mut word_count = 0;
    let mut in_trigger = false;
    let mut last_word: &str = "";

    while i < bytes.len() {
        let c = bytes[i];
        match c {
            b'\n' => {
                line += 1;
                i += 1;
            }
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'#' if start.is_none() => {
                // MySQL comment; only honoured at a statement's start to stay safe for PostgreSQL operators.
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i < bytes.len() && !(bytes[i] == b'*' && bytes.get(i + 1) == Some(&b'/')) {
                    if bytes[i] == b'\n' {
                        line += 1;
                    }
                    i += 1;
                }
                i = (i + 2).min(bytes.len());
            }
            b';' => {
                if in_trigger && !last_word.eq_ignore_ascii_case("END") {
                    i += 1;
                    last_word = "";
                    continue;
                }
                if let Some((s, l)) = start.take() {
                    out.push(Statement { text: sql[s..i].trim(), line: l });
                }
                word_count = 0;
                in_trigger = false;
                last_word = "";
                i += 1;
            }
            c if c.is_ascii_whitespace() => i += 1,
            _ => {
                if start.is_none() {
                    start = Some((i, line));
                }
                match c {
                    b'\'' | b'"' | b'`' => {
                        i = skip_quoted(bytes, i, c, &mut line);
                        last_word = "";
                    }
                    b'[' => {
                        i = skip_quoted(bytes, i, b']', &mut line);
                        last_word = "";
                    }
                    b'$' => {
                        if let Some(end) = dollar_quote_end(sql, i, &mut line) {
                            i = end;
                        } else {
                            i += 1;
                        }
                        last_word = "";
                    }
                    c if c.is_ascii_alphanumeric() || c == b'_' => {
                        let s = i;
                        while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_' || bytes[i] == b'$') {
                            i += 1;
                        }
                        let w = &sql[s..i];
                        if word_count < words.len() {
                            words[word_count] = w;
                            word_count += 1;
                            in_trigger = in_trigger || is_trigger_start(&words[..word_count]);
                        }
                        last_word = w;
                    }
                    _ => {
                        i += 1;
                        last_word = "";
                    }
                }
            }
        }
    }
    if let Some((s, l)) = start {
        let text = sql[s..].trim();
        if !text.is_empty() {
            out.push(Statement { text, line: l });
        }
    }
    out
}

/// `CREATE [TEMP|TEMPORARY] TRIGGER` (and MySQL's `CREATE DEFINER=… TRIGGER` is rare enough to skip).
fn is_trigger_start(words: &[&str]) -> bool {
    let is = |w: &str, k: &str| w.eq_ignore_ascii_case(k);
    match words {
        [a, b] => is(a, "CREATE") && is(b, "TRIGGER"),
        [a, b, c] => is(a, "CREATE") && (is(b, "TEMP") || is(b, "TEMPORARY")) && is(c, "TRIGGER"),
        _ => false,
    }
}

/// Returns the index just past the closing quote; doubled quotes escape themselves.
fn skip_quoted(bytes: &[u8], open: usize, close: u8, line: &mut usize) -> usize {
    let mut i = open + 1;
    while i < bytes.len() {
        if bytes[i] == b'\n' {
            *line += 1;
        }
        if bytes[i] == close {
            if bytes.get(i + 1) == Some(&close) && close != b']' {
                i += 2;
                continue;
            }
            return i + 1;
        }
        i += 1;
    }
    bytes.len()
}

/// PostgreSQL `$tag$ … $tag$`: returns the index past the closing tag, or `None` if `$` at `open`
/// does not start a dollar quote (a `$1` parameter, say).
fn dollar_quote_end(sql: &str, open: usize, line: &mut usize) -> Option<usize> {
    let bytes = sql.as_bytes();
    let mut j = open + 1;
    while j < bytes.len() && (bytes[j].is_ascii_alphanumeric() || bytes[j] == b'_') {
        j += 1;
    }
    if bytes.get(j) != Some(&b'$') || bytes.get(open + 1).is_some_and(|b| b.is_ascii_digit()) {
        return None;
    }
    let tag = &sql[open..=j];
    let body_start = j + 1;
    let end = sql[body_start..].find(tag).map(|p| body_start + p + tag.len()).unwrap_or(bytes.len());
    *line += sql[open..end].bytes().filter(|&b| b == b'\n').count();
    Some(end)
}

fn first_word(text: &str) -> String {
    text.trim_start()
        .chars()
        .take_while(|c| c.is_ascii_alphabetic())
        .collect::<String>()
        .to_ascii_uppercase()
}

/// True when a statement controls the transaction (`BEGIN`, `COMMIT`, …). Such statements break
/// the runner's own per-migration transaction, so transactional scripts may not contain them.
pub fn is_transaction_control(stmt: &Statement<'_>) -> bool {
    let upper = stmt.text.to_ascii_uppercase();
    let mut words = upper.split_whitespace();
    match words.next().unwrap_or("") {
        // `ABORT` is PostgreSQL's `ROLLBACK`; `PREPARE TRANSACTION` detaches the transaction
        // from the session, so what follows runs outside it.
        "BEGIN" | "COMMIT" | "END" | "ABORT" => true,
        "START" => words.next() == Some("TRANSACTION"),
        "PREPARE" => words.next() == Some("TRANSACTION"),
        "ROLLBACK" => !upper.contains(" TO "),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(sql: &str) -> Vec<(String, usize)> {
        split(sql).into_iter().map(|s| (s.text.to_string(), s.line)).collect()
    }

    #[test]
    fn splits_simple_statements_with_lines() {
        let sql = "CREATE TABLE a (id INT);\n\nINSERT INTO a VALUES (1);\nSELECT 1";
        assert_eq!(
            lines(sql),
            vec![
                ("CREATE TABLE a (id INT)".into(), 1),
                ("INSERT INTO a VALUES (1)".into(), 3),
                ("SELECT 1".into(), 4)
            ]
        );
    }

    #[test]
    fn semicolons_in_strings_and_comments_do_not_split() {
        let sql = "-- a; comment\nINSERT INTO t VALUES ('a;b', \"c;d\"); /* x;\ny */ SELECT `e;f`;";
        let got = lines(sql);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0], ("INSERT INTO t VALUES ('a;b', \"c;d\")".into(), 2));
        assert_eq!(got[1], ("SELECT `e;f`".into(), 3));
    }

    #[test]
    fn doubled_quotes_escape() {
        let got = lines("SELECT 'it''s;';\nSELECT 2;");
        assert_eq!(got, vec![("SELECT 'it''s;'".into(), 1), ("SELECT 2".into(), 2)]);
    }

    #[test]
    fn empty_and_comment_only_statements_are_skipped() {
        let got = lines(";;\n-- only a comment;\n/* block */;\nSELECT 1;;");
        assert_eq!(got, vec![("SELECT 1".into(), 4)]);
    }

    #[test]
    fn trigger_bodies_stay_whole() {
        let sql = "CREATE TRIGGER tr AFTER INSERT ON t BEGIN\n  UPDATE t SET a = 1;\n  UPDATE t SET b = 2;\nEND;\nSELECT 1;";
        let got = lines(sql);
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(got[0].0.ends_with("END"));
        assert_eq!(got[1], ("SELECT 1".into(), 5));
        let temp = lines("create temp trigger x before delete on t begin select 1; end; select 2;");
        assert_eq!(temp.len(), 2);
    }

    #[test]
    fn dollar_quotes_are_opaque() {
        let sql = "CREATE FUNCTION f() RETURNS int AS $body$\nBEGIN; SELECT 1; END;\n$body$ LANGUAGE plpgsql;\nSELECT $1;\nSELECT 3;";
        let got = lines(sql);
        assert_eq!(got.len(), 3, "{got:?}");
        assert_eq!(got[1], ("SELECT $1".into(), 4));
        assert_eq!(got[2].1, 5);
    }

    #[test]
    fn unterminated_last_statement_is_kept() {
        assert_eq!(lines("SELECT 1;\n  SELECT 2  \n"), vec![("SELECT 1".into(), 1), ("SELECT 2".into(), 2)]);
    }

    #[test]
    fn transaction_control_is_recognised() {
        let check = |s: &str| is_transaction_control(&split(s)[0]);
        assert!(check("BEGIN;"));
        assert!(check("ABORT;") && check("abort work;") && check("PREPARE TRANSACTION 'x';"));
        assert!(!check("PREPARE q AS SELECT 1;"));
        assert!(check("begin transaction;"));
        assert!(check("COMMIT"));
        assert!(check("START TRANSACTION"));
        assert!(check("ROLLBACK"));
        assert!(!check("ROLLBACK TO SAVEPOINT a"));
        assert!(!check("CREATE TABLE begin_x (id int)"));
        assert!(!check("SAVEPOINT a"));
    }
}
