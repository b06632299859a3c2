//! Remembered checksums of component files.
//!
//! A component's checksum covers its bytes, and a Python or JavaScript component is 12–18 MB:
//! reading and hashing it took a third of a warm `up`. The memo maps a file's identity — device,
//! inode, size, modification and change times (the change time cannot be set back from user
//! space, so any write shows) — to its SHA-256, and lives next to the compiled-component cache.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Checksums by file identity, loaded from and saved to one small file.
///
/// Keyed with foldhash, randomly seeded per process, rather than std's SipHash: for `status`
/// over a thousand files, SipHash was a tenth of discovery's instructions. The seed matters: the
/// memo's file is input (a repository can commit one, a CI cache restore one), and with an
/// unseeded hash a file of keys made to collide would make every load quadratic.
#[derive(Debug, Default)]
pub struct ChecksumMemo {
    file: Option<PathBuf>,
    entries: Mutex<(HashMap<Key, String, foldhash::fast::RandomState>, bool)>,
    /// Whether an unchanged SQL file may be taken from the memo without being read (see
    /// [`ChecksumMemo::for_status`]).
    hollow_sql: bool,
}

/// The identity of a file, or `None` where the platform gives none. (The compiled-component
/// cache's too: without the sandbox only the tests use it.)
#[cfg_attr(not(feature = "components"), allow(dead_code))]
pub(crate) fn identity(meta: &std::fs::Metadata) -> Option<String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        Some(format!("{}:{}:{}:{}.{}:{}.{}", meta.dev(), meta.ino(), meta.size(), meta.mtime(), meta.mtime_nsec(), meta.ctime(), meta.ctime_nsec()))
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        None
    }
}

/// A file's identity as the memo keys it: the numbers of [`identity`], held as numbers. `status`
/// looks up a thousand of them, and formatting each as text was most of its file-reading time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Key([i64; 7]);

impl Key {
    #[cfg(unix)]
    fn of(meta: &std::fs::Metadata) -> Option<Key> {
        use std::os::unix::fs::MetadataExt;
        Some(Key([meta.dev() as i64, meta.ino() as i64, meta.size() as i64, meta.mtime(), meta.mtime_nsec(), meta.ctime(), meta.ctime_nsec()]))
    }

    #[cfg(not(unix))]
    fn of(_meta: &std::fs::Metadata) -> Option<Key> {
        None
    }

    /// Parses the text form [`identity`] writes (`dev:ino:size:mtime.ns:ctime.ns`): decimal
    /// numbers, a leading `-` allowed. (Read byte by byte: the memo of a thousand files is seven
    /// thousand numbers, read on every `status`.)
    fn parse(text: &str) -> Option<Key> {
        let mut n = [0i64; 7];
        let mut parts = text.as_bytes().split(|&b| b == b':' || b == b'.');
        for slot in n.iter_mut() {
            *slot = number(parts.next()?)?;
        }
        parts.next().is_none().then_some(Key(n))
    }

    fn text(&self) -> String {
        let [dev, ino, size, mt, mtn, ct, ctn] = self.0;
        format!("{dev}:{ino}:{size}:{mt}.{mtn}:{ct}.{ctn}")
    }
}

/// The most entries a memo keeps (written and read).
const MAX_ENTRIES: usize = 10_000;

/// A decimal number of a memo key. Device and inode numbers are unsigned and may pass
/// `i64::MAX` (some network file systems): those are read as `Key::of` stores them, wrapped.
fn number(text: &[u8]) -> Option<i64> {
    let (negative, digits) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, text),
    };
    if digits.is_empty() {
        return None;
    }
    let mut value: u64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        value = value.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    match negative {
        false => Some(value as i64),
        // Down to i64::MIN (2^63 wraps to itself when negated).
        true if value <= 1 << 63 => Some((value as i64).wrapping_neg()),
        true => None,
    }
}

impl ChecksumMemo {
    /// The memo kept in `dir` (`None`: remember nothing).
    pub fn open(dir: Option<&Path>) -> Self {
        let file = dir.map(|d| d.join("checksums"));
        let mut map = HashMap::default();
        if let Some(text) = file.as_ref().and_then(|f| std::fs::read_to_string(f).ok()) {
            map.reserve((text.len() / 120).min(MAX_ENTRIES));
            // As many as `save` writes: a larger file was not written by db-migrate.
            for line in text.lines().take(MAX_ENTRIES) {
                if let Some((k, v)) = line.split_once(' ') {
                    if let Some(key) = Key::parse(k).filter(|_| v.len() == 64) {
                        map.insert(key, v.to_string());
                    }
                }
            }
        }
        ChecksumMemo { file, entries: Mutex::new((map, false)), hollow_sql: false }
    }

    /// The memo for `status` and `validate`, which need each migration's checksum and never its
    /// SQL: a SQL file whose identity is unchanged since a run read it is not read again, and
    /// comes back as a migration with an empty body (reading 1,000 files was most of `status`'s
    /// time). Never for a command that runs, plans or shows migrations.
    pub fn for_status(dir: Option<&Path>) -> Self {
        ChecksumMemo { hollow_sql: true, ..Self::open(dir) }
    }

    /// Whether unchanged SQL files may be left unread (a memo made by [`ChecksumMemo::for_status`]).
    pub fn hollow_sql(&self) -> bool {
        self.hollow_sql
    }

    /// The remembered checksum of `path`, if its identity has not changed.
    pub fn get(&self, path: &Path) -> Option<String> {
        self.file.as_ref()?;
        let key = Key::of(&std::fs::metadata(path).ok()?)?;
        self.entries.lock().ok()?.0.get(&key).cloned()
    }

    /// Remembers the checksum of `path`.
    pub fn put(&self, path: &Path, sha256: &str) {
        if self.file.is_none() {
            return;
        }
        let Some(key) = std::fs::metadata(path).ok().as_ref().and_then(Key::of) else { return };
        if let Ok(mut e) = self.entries.lock() {
            // Written back only when something is new: most runs read files they read before.
            if e.0.get(&key).map(String::as_str) != Some(sha256) {
                e.0.insert(key, sha256.to_string());
                e.1 = true;
            }
        }
    }

    /// Writes the memo back when something was added (best effort: a memo that cannot be
    /// written only costs time).
    pub fn save(&self) {
        let (Some(file), Ok(e)) = (self.file.as_ref(), self.entries.lock()) else { return };
        if !e.1 {
            return;
        }
        let mut text = String::new();
        for (k, v) in e.0.iter().take(MAX_ENTRIES) {
            text.push_str(&k.text());
            text.push(' ');
            text.push_str(v);
            text.push('\n');
        }
        if let Some(dir) = file.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let tmp = file.with_extension(format!("tmp{}", std::process::id()));
        if std::fs::write(&tmp, text).is_ok() {
            let _ = std::fs::rename(&tmp, file);
        }
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn keys_read_back_what_identity_writes() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("1_a.sql");
        std::fs::write(&f, "-- migrate:up\nSELECT 1;\n").unwrap();
        let meta = std::fs::metadata(&f).unwrap();
        let key = Key::of(&meta).unwrap();
        assert_eq!(Key::parse(&identity(&meta).unwrap()), Some(key));
        assert_eq!(Key::parse(&key.text()), Some(key));
        assert_eq!(Key::parse(&format!("{}:{}:3:4.5:-6.7", u64::MAX, 1u64 << 63)), Some(Key([-1, i64::MIN, 3, 4, 5, -6, 7])));
        assert_eq!(Key::parse(&format!("{}:0:0:-{}.0:0.0", i64::MAX, 1u64 << 63)), Some(Key([i64::MAX, 0, 0, i64::MIN, 0, 0, 0])));
        for bad in ["1:2:3:4.5", "1:2:3:4.5:6.", "1:2:3:4.5:6.+7", "1:2:3:4.5:6.7 ", "1:2:3:4.5:--6.7", "1:2:3:4.5:-9223372036854775809.7", "1:2:3:4.5:18446744073709551616.7", "1:2:3:4.5:6.x"] {
            assert_eq!(Key::parse(bad), None, "{bad}");
        }
        assert_eq!(Key::parse("1:2:3:4.5"), None);
        assert_eq!(Key::parse("1:2:3:4.5:6.7:8"), None);
    }

    #[test]
    fn a_planted_memo_is_read_only_as_far_as_save_writes() {
        // A memo committed to a repository is input: keys that collide under an unseeded hash
        // (FxHash sends every key starting with this number to one bucket) would make loading
        // quadratic. The seeded hash spreads them, and no more lines are read than `save` writes.
        let dir = tempfile::tempdir().unwrap();
        let sha = "a".repeat(64);
        let text: String = (0..(MAX_ENTRIES + 2_000)).map(|ino| format!("2611923443488327891:{ino}:0:0.0:0.0 {sha}\n")).collect();
        std::fs::write(dir.path().join("checksums"), text).unwrap();
        let memo = ChecksumMemo::open(Some(dir.path()));
        assert_eq!(memo.entries.lock().unwrap().0.len(), MAX_ENTRIES);
    }

    #[test]
    fn a_saved_memo_answers_for_unchanged_files_only() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("1_a.sql");
        std::fs::write(&f, "one").unwrap();
        let memo = ChecksumMemo::open(Some(dir.path()));
        memo.put(&f, &"a".repeat(64));
        memo.save();
        let again = ChecksumMemo::open(Some(dir.path()));
        assert_eq!(again.get(&f).as_deref(), Some("a".repeat(64).as_str()));
        std::fs::write(&f, "two, longer").unwrap();
        assert_eq!(again.get(&f), None);
    }
}
