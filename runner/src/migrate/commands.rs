//! MongoDB command files: `VERSION_name.mongo.json`.
//!
//! ```json
//! {
//!   "description": "users with a unique email",
//!   "up": [
//!     { "create": "users" },
//!     { "createIndexes": "users", "indexes": [{ "key": { "email": 1 }, "name": "email_1", "unique": true }] }
//!   ],
//!   "down": [
//!     { "drop": "users" }
//!   ]
//! }
//! ```
//!
//! Each element is one database command in Extended JSON, run in order against the migration's
//! database with `runCommand`. No `down` (or `"down": null`) makes the migration irreversible;
//! `"down": []` reverts by doing nothing. The first key of each command names it, so key order is
//! kept as written.

use std::path::{Path, PathBuf};

use super::error::SourceError;

/// One command of a command file.
#[derive(Debug, Clone, PartialEq)]
pub struct Command {
    /// The command's name (its first key), for messages.
    pub name: String,
    /// Line in the file where the command starts (1-based).
    pub line: usize,
    /// The command as written (Extended JSON).
    pub json: serde_json::Value,
}

/// One direction of a command file.
#[derive(Debug, Clone, PartialEq)]
pub struct CommandScript {
    /// The file.
    pub path: PathBuf,
    /// The commands, in order.
    pub commands: Vec<Command>,
}

impl Eq for CommandScript {}

impl CommandScript {
    /// The commands as BSON documents (checked when the file was read, so this only fails if the
    /// file was edited in between).
    #[cfg(feature = "mongodb")]
    pub fn documents(&self) -> Result<Vec<mongodb::bson::Document>, String> {
        self.commands
            .iter()
            .map(|c| super::extjson::json_to_document(c.json.clone(), &format!("the command at line {}", c.line)))
            .collect()
    }
}

/// Parses a command file: `up` (required) and `down` (optional) arrays of commands.
pub fn parse(text: &str, path: &Path) -> Result<(CommandScript, Option<CommandScript>), SourceError> {
    let value: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| SourceError::at(path, e.line().max(1), format!("not valid JSON: {e}")))?;
    let serde_json::Value::Object(top) = value else {
        return Err(SourceError::file(path, "a command file holds one JSON object with `up` and `down` arrays of commands"));
    };
    for key in top.keys() {
        if !["up", "down", "description"].contains(&key.as_str()) {
            return Err(SourceError::at(
                path,
                key_line(text, key).unwrap_or(1),
                format!("unknown key `{key}` (known: `up`, `down`, `description`)"),
            ));
        }
    }
    let side = |key: &str| -> Result<Option<CommandScript>, SourceError> {
        let line_of_key = key_line(text, key).unwrap_or(1);
        match top.get(key) {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(serde_json::Value::Array(items)) => {
                let lines = element_lines(text, key);
                let mut commands = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    let line = lines.get(i).copied().unwrap_or(line_of_key);
                    let name = match item {
                        serde_json::Value::Object(o) => match o.keys().next() {
                            Some(k) => k.clone(),
                            None => return Err(SourceError::at(path, line, format!("`{key}` command {} is an empty object", i + 1))),
                        },
                        _ => {
                            return Err(SourceError::at(
                                path,
                                line,
                                format!("`{key}` command {} is not an object: each command is a document such as {{\"create\": \"users\"}}", i + 1),
                            ));
                        }
                    };
                    // Without MongoDB's driver there is no BSON to check against; such a file is
                    // refused when it would run (no database of this build takes it).
                    #[cfg(feature = "mongodb")]
                    if let Err(e) = super::extjson::json_to_document(item.clone(), "the command") {
                        return Err(SourceError::at(path, line, format!("`{key}` command {} (`{name}`): {e}", i + 1)));
                    }
                    commands.push(Command { name, line, json: item.clone() });
                }
                Ok(Some(CommandScript { path: path.to_path_buf(), commands }))
            }
            Some(_) => Err(SourceError::at(path, line_of_key, format!("`{key}` must be an array of commands"))),
        }
    };
    let Some(up) = side("up")? else {
        return Err(SourceError::file(path, "no `up` array: a command file lists the commands that apply it under `up`"));
    };
    Ok((up, side("down")?))
}

/// A tiny scan of JSON text: positions of the top-level key `key` and of its array's elements.
/// (serde_json keeps no positions; users want the line of the command that failed.)
struct Scan<'a> {
    b: &'a [u8],
    i: usize,
    line: usize,
}

impl Scan<'_> {
    fn skip_ws(&mut self) {
        while self.i < self.b.len() && self.b[self.i].is_ascii_whitespace() {
            if self.b[self.i] == b'\n' {
                self.line += 1;
            }
            self.i += 1;
        }
    }

    /// Skips a string starting at the opening quote; returns its raw content.
    fn string(&mut self) -> &[u8] {
        let start = self.i + 1;
        self.i += 1;
        while self.i < self.b.len() && self.b[self.i] != b'"' {
            if self.b[self.i] == b'\\' {
                self.i += 1;
            }
            self.i += 1;
        }
        let s = &self.b[start..self.i.min(self.b.len())];
        self.i += 1;
        s
    }

    /// Skips one value of any kind.
    fn value(&mut self) {
        self.skip_ws();
        match self.b.get(self.i) {
            Some(b'"') => {
                self.string();
            }
            Some(b'{' | b'[') => {
                let mut depth = 0usize;
                while self.i < self.b.len() {
                    match self.b[self.i] {
                        b'"' => {
                            self.string();
                            continue;
                        }
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth -= 1;
                            if depth == 0 {
                                self.i += 1;
                                return;
                            }
                        }
                        b'\n' => self.line += 1,
                        _ => {}
                    }
                    self.i += 1;
                }
            }
            _ => {
                while self.i < self.b.len() && !matches!(self.b[self.i], b',' | b'}' | b']') && !self.b[self.i].is_ascii_whitespace() {
                    self.i += 1;
                }
            }
        }
    }

    /// Walks the top-level object; calls `f` with each key, positioned before its value.
    fn top_keys(&mut self, mut f: impl FnMut(&mut Self, &str) -> bool) {
        self.skip_ws();
        if self.b.get(self.i) != Some(&b'{') {
            return;
        }
        self.i += 1;
        loop {
            self.skip_ws();
            match self.b.get(self.i) {
                Some(b'"') => {}
                Some(b',') => {
                    self.i += 1;
                    continue;
                }
                _ => return,
            }
            let key = String::from_utf8_lossy(self.string()).into_owned();
            self.skip_ws();
            if self.b.get(self.i) == Some(&b':') {
                self.i += 1;
            }
            self.skip_ws();
            if f(self, &key) {
                return;
            }
            self.value();
        }
    }
}

fn key_line(text: &str, key: &str) -> Option<usize> {
    let mut s = Scan { b: text.as_bytes(), i: 0, line: 1 };
    let mut found = None;
    s.top_keys(|s, k| {
        if k == key {
            found = Some(s.line);
            true
        } else {
            false
        }
    });
    found
}

fn element_lines(text: &str, key: &str) -> Vec<usize> {
    let mut s = Scan { b: text.as_bytes(), i: 0, line: 1 };
    let mut lines = Vec::new();
    s.top_keys(|s, k| {
        if k != key {
            return false;
        }
        if s.b.get(s.i) != Some(&b'[') {
            return true;
        }
        s.i += 1;
        loop {
            s.skip_ws();
            match s.b.get(s.i) {
                None | Some(b']') => return true,
                Some(b',') => s.i += 1,
                Some(_) => {
                    lines.push(s.line);
                    s.value();
                }
            }
        }
    });
    lines
}

/// The template `create` writes for a MongoDB project.
pub const TEMPLATE: &str = r#"{
  "description": "what this migration does",
  "up": [
    { "create": "example" },
    { "createIndexes": "example", "indexes": [{ "key": { "name": 1 }, "name": "name_1", "unique": true }] }
  ],
  "down": [
    { "drop": "example" }
  ]
}
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_keep_their_lines_and_names() {
        let text = "{\n  \"up\": [\n    {\"create\": \"a\"},\n\n    {\"insert\": \"a\", \"documents\": [{\"x\": 1}]}\n  ],\n  \"down\": [{\"drop\": \"a\"}]\n}\n";
        let (up, down) = parse(text, Path::new("1_a.mongo.json")).unwrap();
        assert_eq!(up.commands.iter().map(|c| (c.name.as_str(), c.line)).collect::<Vec<_>>(), [("create", 3), ("insert", 5)]);
        assert_eq!(down.unwrap().commands[0].line, 7);
    }

    #[test]
    #[cfg(feature = "mongodb")]
    fn key_order_is_kept_so_the_command_name_comes_first() {
        let text = r#"{"up": [{"createIndexes": "u", "indexes": [{"key": {"e": 1}, "name": "e_1"}]}]}"#;
        let (up, _) = parse(text, Path::new("x")).unwrap();
        let docs = up.documents().unwrap();
        assert_eq!(docs[0].keys().next().unwrap(), "createIndexes");
    }

    #[test]
    fn bad_files_say_where() {
        let p = Path::new("2_b.mongo.json");
        let e = parse("{\n \"up\": [\n  {\"create\": \"a\"},\n  3\n ]\n}", p).unwrap_err().to_string();
        assert!(e.contains(":4") && e.contains("not an object"), "{e}");
        let e = parse("{\"down\": []}", p).unwrap_err().to_string();
        assert!(e.contains("no `up` array"), "{e}");
        let e = parse("{\n\"up\": [],\n\"dwon\": []}", p).unwrap_err().to_string();
        assert!(e.contains(":3") && e.contains("unknown key `dwon`"), "{e}");
        // Extended JSON is checked where there is BSON to check it against.
        #[cfg(feature = "mongodb")]
        {
            let e = parse("{\"up\": [{\"insert\": \"a\", \"documents\": [{\"_id\": {\"$oid\": \"nope\"}}]}]}", p).unwrap_err().to_string();
            assert!(e.contains("insert"), "{e}");
        }
        let e = parse("{\"up\": [\n{\"create\": \"a\"\n]}", p).unwrap_err().to_string();
        assert!(e.contains("not valid JSON"), "{e}");
        assert!(parse("{\"up\": [], \"down\": null}", p).unwrap().1.is_none());
    }
}
