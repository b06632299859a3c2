//! Compiled components, cached on disk — and authenticated, because a `.cwasm` is native code.
//!
//! Compiling a component with Cranelift costs from milliseconds (a small Rust guest) to seconds
//! (a Python or JavaScript one), so the result is kept under `.db-migrate/cache/` (or
//! `DB_MIGRATE_CACHE_DIR`), keyed by the component's SHA-256 and the engine's configuration.
//!
//! Loading a `.cwasm` maps machine code into the process and runs it: whoever can write the
//! cache can run anything as the user. The cache directory is not a trust boundary (it gets
//! committed, restored from a shared CI cache, copied between machines), so an entry runs only
//! when the host can prove it compiled it: next to every entry is a MAC — HMAC-SHA-256 under a
//! per-user key kept outside the project ([`key_file`]) — over the engine key, the component's
//! SHA-256 and the compiled bytes. An entry without a valid MAC (substituted, copied under
//! another name, patched, written by another user or machine) is never deserialized: the
//! component is compiled again from its own bytes and the entry replaced.
//!
//! Hashing a 40 MB entry on every run would cost tens of milliseconds, so the MAC file also
//! remembers, under the same key, the identity (device, inode, size, modification and change
//! times) the entry had when it was last verified. The change time cannot be set back from user
//! space, so any write to the entry shows and sends it back through the full check.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use hmac::{Hmac, Mac};
use sha2::Sha256;
use wasmtime::Engine;
use wasmtime::component::Component;

type HmacSha256 = Hmac<Sha256>;

pub use crate::migrate::events::Origin;


/// The per-user key file: `DB_MIGRATE_KEY_FILE`, else `$XDG_CONFIG_HOME/db-migrate/cache.key`,
/// else `~/.config/db-migrate/cache.key`. `None` when there is no home to keep it in.
pub fn key_file() -> Option<PathBuf> {
    if let Some(f) = std::env::var_os("DB_MIGRATE_KEY_FILE").filter(|f| !f.is_empty()) {
        return Some(PathBuf::from(f));
    }
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").filter(|h| !h.is_empty()).map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("db-migrate").join("cache.key"))
}

/// Reads the key, creating it (32 random bytes, mode 0600) on first use. A key others can read
/// or write is no key: it is refused, and the cache is not used.
pub fn load_key(file: &Path) -> Result<[u8; 32], String> {
    use std::io::Write;
    if !file.exists() {
        let dir = file.parent().ok_or("the key file has no folder")?;
        std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let mut key = [0u8; 32];
        getrandom::fill(&mut key).map_err(|e| format!("no randomness for the cache key: {e}"))?;
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        // Another process may create it at the same moment: then read theirs.
        if let Ok(mut f) = opts.open(file) {
            f.write_all(&key).map_err(|e| format!("cannot write {}: {e}", file.display()))?;
            return Ok(key);
        }
    }
    let meta = std::fs::symlink_metadata(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        // SAFETY: geteuid has no preconditions and cannot fail.
        let me = unsafe { libc::geteuid() };
        if !meta.file_type().is_file() || meta.uid() != me || meta.mode() & 0o077 != 0 {
            return Err(format!(
                "{} must be a regular file owned by you with mode 0600 (it is {:o}, owner {}); \
                 fix it or delete it (a new key only means recompiling)",
                file.display(),
                meta.mode() & 0o7777,
                meta.uid()
            ));
        }
    }
    let bytes = std::fs::read(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    bytes.as_slice().try_into().map_err(|_| format!("{} does not hold a 32-byte key; delete it to make a new one", file.display()))
}

use crate::migrate::memo::identity;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}

/// Why an entry was not used: shown with `-v`, and by the tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejected {
    /// No entry yet.
    Missing,
    /// The entry or its MAC does not verify under this user's key.
    NotAuthentic,
    /// The MAC verified but wasmtime refused the bytes (another engine build).
    Incompatible,
}

/// The on-disk cache of compiled components.
pub struct Cache {
    dir: Option<PathBuf>,
    key: Option<[u8; 32]>,
    engine_key: String,
    /// Why the cache is off, when a directory was asked for but no key could be had.
    pub disabled: Option<String>,
}

impl Cache {
    /// A cache in `dir` (`None`: compile every time) for components compiled by `engine`,
    /// authenticated with the user's key (see [`key_file`]).
    pub fn new(dir: Option<PathBuf>, engine: &Engine) -> Self {
        let (key, disabled) = match dir {
            None => (None, None),
            Some(_) => match key_file().ok_or_else(|| "no HOME or XDG_CONFIG_HOME to keep the cache key in".to_string()).and_then(|f| load_key(&f)) {
                Ok(k) => (Some(k), None),
                Err(why) => (None, Some(why)),
            },
        };
        Self::with_key(dir.filter(|_| key.is_some()), key, engine, disabled)
    }

    /// A cache with an explicit key (tests, embedders).
    pub fn with_key(dir: Option<PathBuf>, key: Option<[u8; 32]>, engine: &Engine, disabled: Option<String>) -> Self {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        env!("CARGO_PKG_VERSION").hash(&mut h);
        engine.precompile_compatibility_hash().hash(&mut h);
        Cache { dir, key, engine_key: format!("{:016x}", h.finish()), disabled }
    }

    fn file(&self, sha256: &str) -> Option<PathBuf> {
        // The name is only a lookup key; what the entry is, the MAC says.
        let ok = sha256.len() == 64 && sha256.bytes().all(|b| b.is_ascii_hexdigit());
        self.dir.as_ref().filter(|_| ok).map(|d| d.join(format!("{sha256}-{}.cwasm", self.engine_key)))
    }

    fn mac(&self) -> Option<HmacSha256> {
        self.key.as_ref().map(|k| HmacSha256::new_from_slice(k).expect("HMAC takes any key length"))
    }

    /// HMAC over what the entry claims to be and its bytes.
    fn content_mac(&self, sha256: &str, compiled: &[u8]) -> Option<HmacSha256> {
        let mut m = self.mac()?;
        m.update(b"db-migrate compiled component v1\0");
        m.update(self.engine_key.as_bytes());
        m.update(b"\0");
        m.update(sha256.as_bytes());
        m.update(b"\0");
        m.update(compiled);
        Some(m)
    }

    /// HMAC binding a verified content MAC to the entry's file identity.
    fn seen_mac(&self, content_mac: &str, identity: &str) -> Option<HmacSha256> {
        let mut m = self.mac()?;
        m.update(b"db-migrate verified entry v1\0");
        m.update(content_mac.as_bytes());
        m.update(b"\0");
        m.update(identity.as_bytes());
        Some(m)
    }

    /// The cached component of SHA-256 `sha256`, if the cache holds an authentic entry.
    pub fn cached(&self, engine: &Engine, sha256: &str) -> Option<Component> {
        self.lookup(engine, sha256).ok()
    }

    /// Looks an entry up and verifies it; the error says why it was not used.
    pub fn lookup(&self, engine: &Engine, sha256: &str) -> Result<Component, Rejected> {
        let file = self.file(sha256).ok_or(Rejected::Missing)?;
        let mac_file = file.with_extension("mac");
        // Opened once (never through a link) and checked through that handle: what is verified
        // and what is loaded are the same file, whatever is renamed over the path meanwhile.
        let mut opened = open_entry(&file).ok_or(Rejected::Missing)?;
        let meta = opened.metadata().map_err(|_| Rejected::Missing)?;
        if !meta.file_type().is_file() || !only_mine(&meta) {
            return Err(Rejected::NotAuthentic);
        }
        let text = std::fs::read_to_string(&mac_file).map_err(|_| Rejected::NotAuthentic)?;
        let mut lines = text.lines();
        let content = lines.next().and_then(|l| l.strip_prefix("content ")).ok_or(Rejected::NotAuthentic)?.to_string();
        let seen = lines.next().and_then(|l| l.strip_prefix("seen ")).and_then(|l| l.rsplit_once(' '));
        let id = identity(&meta);

        // Fast path: verified before, and the file has not been touched since.
        if let (Some((seen_id, seen_tag)), Some(id)) = (seen, id.as_deref()) {
            if seen_id == id {
                let tag = unhex(seen_tag).ok_or(Rejected::NotAuthentic)?;
                let m = self.seen_mac(&content, id).ok_or(Rejected::NotAuthentic)?;
                if m.verify_slice(&tag).is_ok() {
                    // SAFETY: this user's key vouches that the host compiled exactly these bytes
                    // (the file's identity is unchanged since they were verified in full), and
                    // only this user may write the file, so the pages mapped later are those.
                    return unsafe { Component::deserialize_file(engine, same_file(&opened, &file)) }.map_err(|_| Rejected::Incompatible);
                }
            }
        }

        // Full check: the MAC over the bytes themselves.
        let mut bytes = Vec::with_capacity(meta.len() as usize);
        std::io::Read::read_to_end(&mut opened, &mut bytes).map_err(|_| Rejected::Missing)?;
        let tag = unhex(&content).ok_or(Rejected::NotAuthentic)?;
        let m = self.content_mac(sha256, &bytes).ok_or(Rejected::NotAuthentic)?;
        m.verify_slice(&tag).map_err(|_| Rejected::NotAuthentic)?;
        // SAFETY: the MAC proves the host compiled these very bytes for this SHA-256 and engine.
        let component = unsafe { Component::deserialize(engine, &bytes) }.map_err(|_| Rejected::Incompatible)?;
        if let Some(id) = id {
            let _ = self.write_mac(&mac_file, &content, &id);
        }
        Ok(component)
    }

    fn write_mac(&self, mac_file: &Path, content: &str, id: &str) -> std::io::Result<()> {
        let seen = self.seen_mac(content, id).map(|m| hex(&m.finalize().into_bytes())).unwrap_or_default();
        write_atomically(mac_file, format!("content {content}\nseen {id} {seen}\n").as_bytes())
    }

    /// The component for `bytes` (whose SHA-256 is `sha256`): from the cache when it holds an
    /// authentic entry, else compiled and stored.
    pub fn load(&self, engine: &Engine, bytes: &[u8], sha256: &str) -> wasmtime::Result<(Component, Origin)> {
        if let Ok(c) = self.lookup(engine, sha256) {
            return Ok((c, Origin::Cached));
        }
        let component = Component::new(engine, bytes)?;
        if let Some(f) = self.file(sha256) {
            // A cache that cannot be written only costs time on the next run.
            let _ = self.store(&f, sha256, &component);
        }
        Ok((component, Origin::Compiled))
    }

    fn store(&self, file: &Path, sha256: &str, component: &Component) -> anyhow::Result<()> {
        let compiled = component.serialize()?;
        let Some(m) = self.content_mac(sha256, &compiled) else { return Ok(()) };
        let content = hex(&m.finalize().into_bytes());
        let mac_file = file.with_extension("mac");
        // The MAC goes first and the entry second: a reader between the two sees a MAC that
        // does not match and recompiles.
        let _ = std::fs::remove_file(&mac_file);
        write_atomically(file, &compiled)?;
        let id = identity(&std::fs::symlink_metadata(file)?).unwrap_or_default();
        self.write_mac(&mac_file, &content, &id)?;
        Ok(())
    }
}

/// The entry, opened for reading without following a link.
fn open_entry(file: &Path) -> Option<std::fs::File> {
    let mut opts = std::fs::OpenOptions::new();
    opts.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.custom_flags(libc::O_NOFOLLOW);
    }
    opts.open(file).ok()
}

/// Whether only this user may change the entry: owned by them, not writable by group or others.
/// A file someone else may write could change after it was verified — and a mapped entry's pages
/// are read from the file when first touched.
fn only_mine(meta: &std::fs::Metadata) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        // SAFETY: geteuid has no preconditions and cannot fail.
        let me = unsafe { libc::geteuid() };
        meta.uid() == me && meta.mode() & 0o022 == 0
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        true
    }
}

/// A path that names exactly the open file (Linux: its `/proc/self/fd` link), so mapping it
/// maps the file that was checked; elsewhere the path itself.
fn same_file(opened: &std::fs::File, file: &Path) -> PathBuf {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let fd = PathBuf::from(format!("/proc/self/fd/{}", opened.as_raw_fd()));
        if fd.exists() {
            return fd;
        }
    }
    let _ = opened;
    file.to_path_buf()
}

fn write_atomically(file: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = file.parent().expect("cache files live in a directory");
    if !dir.is_dir() {
        std::fs::create_dir_all(dir)?;
        // Compiled code is per machine and per user: never worth committing.
        let _ = std::fs::write(dir.join(".gitignore"), "*\n");
    }
    let tmp = file.with_extension(format!("tmp{}", std::process::id()));
    // A new file only this user may write (a leftover of that name, or a link, goes first).
    let _ = std::fs::remove_file(&tmp);
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o644);
    }
    std::io::Write::write_all(&mut opts.open(&tmp)?, bytes)?;
    std::fs::rename(&tmp, file)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn engine() -> Engine {
        crate::sandbox::engine().unwrap()
    }

    /// The smallest component: no imports, no exports.
    const EMPTY: &[u8] = b"\0asm\x0d\0\x01\0";

    #[test]
    fn entries_are_used_only_with_a_valid_mac() {
        let dir = tempfile::tempdir().unwrap();
        let e = engine();
        let sha = crate::migrate::source::checksum_bytes(EMPTY);
        let cache = Cache::with_key(Some(dir.path().into()), Some([7; 32]), &e, None);
        let (_, origin) = cache.load(&e, EMPTY, &sha).unwrap();
        assert_eq!(origin, Origin::Compiled);
        assert!(cache.lookup(&e, &sha).is_ok(), "fast path");
        let file = cache.file(&sha).unwrap();
        // The identity changes (new inode): the full check still accepts the genuine bytes.
        let bytes = std::fs::read(&file).unwrap();
        std::fs::remove_file(&file).unwrap();
        std::fs::write(&file, &bytes).unwrap();
        assert!(cache.lookup(&e, &sha).is_ok(), "full check");

        // Another user's key: not authentic.
        let other = Cache::with_key(Some(dir.path().into()), Some([8; 32]), &e, None);
        assert_eq!(other.lookup(&e, &sha).err(), Some(Rejected::NotAuthentic));

        // A patched entry: not authentic, even with the old identity line left in place.
        let mut patched = bytes.clone();
        let n = patched.len();
        patched[n / 2] ^= 0xff;
        std::fs::write(&file, &patched).unwrap();
        assert_eq!(cache.lookup(&e, &sha).err(), Some(Rejected::NotAuthentic));

        // The genuine entry copied under another component's name: not authentic.
        let other_sha = "ab".repeat(32);
        let other_file = cache.file(&other_sha).unwrap();
        std::fs::write(&file, &bytes).unwrap();
        std::fs::copy(&file, &other_file).unwrap();
        std::fs::copy(file.with_extension("mac"), other_file.with_extension("mac")).unwrap();
        assert_eq!(cache.lookup(&e, &other_sha).err(), Some(Rejected::NotAuthentic));

        // Loading through a bad entry recompiles and repairs it.
        std::fs::write(&file, &patched).unwrap();
        let (_, origin) = cache.load(&e, EMPTY, &sha).unwrap();
        assert_eq!(origin, Origin::Compiled);
        assert!(cache.lookup(&e, &sha).is_ok());
    }

    #[test]
    fn loose_key_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("k/cache.key");
        let k1 = load_key(&f).unwrap();
        assert_eq!(load_key(&f).unwrap(), k1, "the key persists");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
            assert!(load_key(&f).unwrap_err().contains("0600"));
        }
    }
}
