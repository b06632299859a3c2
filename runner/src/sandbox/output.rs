//! Guest stdout/stderr: captured in memory up to a cap, never failing the guest's writes.
//!
//! wasmtime-wasi's memory pipe traps a guest that writes past its capacity; a migration must not
//! die because it printed too much, so the excess is counted and dropped instead.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};

/// A capped, shareable output buffer.
#[derive(Clone)]
pub struct CappedOutput {
    inner: Arc<Mutex<Inner>>,
}

struct Inner {
    buf: Vec<u8>,
    cap: usize,
    dropped: u64,
}

impl CappedOutput {
    /// An empty buffer that keeps at most `cap` bytes.
    pub fn new(cap: usize) -> Self {
        CappedOutput { inner: Arc::new(Mutex::new(Inner { buf: Vec::new(), cap, dropped: 0 })) }
    }

    /// What was kept, and how many bytes were dropped.
    pub fn take(&self) -> (String, u64) {
        let mut i = self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let text = String::from_utf8_lossy(&i.buf).into_owned();
        i.buf.clear();
        (text, std::mem::take(&mut i.dropped))
    }
}

impl IsTerminal for CappedOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CappedOutput {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl AsyncWrite for CappedOutput {
    fn poll_write(self: Pin<&mut Self>, _cx: &mut Context<'_>, data: &[u8]) -> Poll<std::io::Result<usize>> {
        let mut i = self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let room = i.cap.saturating_sub(i.buf.len());
        let keep = room.min(data.len());
        i.buf.extend_from_slice(&data[..keep]);
        i.dropped += (data.len() - keep) as u64;
        Poll::Ready(Ok(data.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
