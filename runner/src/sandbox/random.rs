//! The guest's `wasi:random`: a deterministic stream derived from the run's seed, so the same
//! configuration gives the same numbers and no host entropy reaches the guest.
//!
//! The stream is a SHA-256 chain: the first block hashes the seed and a salt (the migration's
//! name), each next block hashes the one before. Blocks are made as the guest reads them: most
//! guests read a few bytes (a hash map's keys), and making 4 KiB up front for every store was two
//! fifths of a warm run of small components.

use std::convert::Infallible;

use sha2::{Digest, Sha256};

/// One guest's random stream.
pub struct SeededStream {
    block: [u8; 32],
    used: usize,
}

impl SeededStream {
    /// The stream for `seed`, salted (two streams of one seed differ by their salts).
    pub fn new(seed: u64, salt: &[u8]) -> Self {
        let block = Sha256::new().chain_update(seed.to_le_bytes()).chain_update(salt).finalize().into();
        SeededStream { block, used: 0 }
    }

    fn byte(&mut self) -> u8 {
        if self.used == self.block.len() {
            self.block = Sha256::digest(self.block).into();
            self.used = 0;
        }
        let b = self.block[self.used];
        self.used += 1;
        b
    }
}

// Words are read big-endian, as wasmtime-wasi's `Deterministic` reads its bytes: the values a
// guest saw for a seed before this stream was made lazily stay the same.
impl rand_core::TryRng for SeededStream {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        Ok(u32::from_be_bytes([self.byte(), self.byte(), self.byte(), self.byte()]))
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        let hi = self.try_next_u32()?;
        let lo = self.try_next_u32()?;
        Ok((u64::from(hi) << 32) | u64::from(lo))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        for b in dst {
            *b = self.byte();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::TryRng;

    #[test]
    fn the_stream_is_the_seeds_sha256_chain() {
        let mut s = SeededStream::new(42, b"m");
        let mut got = vec![0u8; 100];
        s.try_fill_bytes(&mut got).unwrap();
        let b0: [u8; 32] = Sha256::new().chain_update(42u64.to_le_bytes()).chain_update(b"m").finalize().into();
        let b1: [u8; 32] = Sha256::digest(b0).into();
        let b2: [u8; 32] = Sha256::digest(b1).into();
        let b3: [u8; 32] = Sha256::digest(b2).into();
        let want: Vec<u8> = [b0, b1, b2, b3].concat();
        assert_eq!(got, want[..100]);
        // Same seed and salt, same numbers; another salt, others.
        assert_eq!(SeededStream::new(42, b"m").try_next_u64().unwrap(), u64::from_be_bytes(b0[..8].try_into().unwrap()));
        assert_ne!(SeededStream::new(42, b"n").try_next_u64().unwrap(), SeededStream::new(42, b"m").try_next_u64().unwrap());
    }

    #[test]
    fn the_stream_does_not_repeat_after_four_kib() {
        // (The eager 4 KiB buffer it replaces was cycled.)
        let mut s = SeededStream::new(7, b"x");
        let mut a = vec![0u8; 4096];
        let mut b = vec![0u8; 4096];
        s.try_fill_bytes(&mut a).unwrap();
        s.try_fill_bytes(&mut b).unwrap();
        assert_ne!(a, b);
    }
}
