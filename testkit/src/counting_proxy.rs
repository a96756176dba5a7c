//! A TCP proxy that counts the bytes going each way between a client and
//! a server (re-exported as `crate::s3::CountingProxy`): S3 signatures
//! cover the Host header the client sent, which a byte-for-byte forwarder
//! keeps, so requests through it stay valid.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// A TCP proxy on a free port of 127.0.0.1 that forwards every connection
/// byte for byte to a server and counts the bytes each way. A client's
/// signed S3 requests stay valid through it: the signature covers the
/// `Host` header the client sent (the proxy's address), and the server
/// checks it against that same header (tests/s3.rs gets and puts through
/// one on both servers).
#[derive(Debug)]
pub struct CountingProxy {
    port: u16,
    counts: Arc<Counts>,
    stopping: Arc<AtomicBool>,
}

/// The bytes a [`CountingProxy`] forwarded.
#[derive(Debug, Default)]
struct Counts {
    up: AtomicU64,
    down: AtomicU64,
}

impl CountingProxy {
    /// Starts forwarding to `target_endpoint` (`http://HOST:PORT`, or
    /// `HOST:PORT`); each accepted connection opens one to the target.
    pub fn start(target_endpoint: &str) -> CountingProxy {
        let target = target_endpoint.trim_start_matches("http://").trim_end_matches('/').to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").expect("a free port on 127.0.0.1");
        let port = listener.local_addr().expect("a bound address").port();
        let (counts, stopping) = (Arc::new(Counts::default()), Arc::new(AtomicBool::new(false)));
        let (c, s) = (counts.clone(), stopping.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                let (Ok(client), Ok(server)) = (client, TcpStream::connect(&target)) else { continue };
                let c = c.clone();
                std::thread::spawn(move || forward_both_ways(client, server, &c));
            }
        });
        CountingProxy { port, counts, stopping }
    }

    /// Where clients connect: `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Bytes forwarded from the server to clients since the start or the
    /// last [`CountingProxy::reset`].
    pub fn bytes_down(&self) -> u64 {
        self.counts.down.load(Ordering::SeqCst)
    }

    /// Bytes forwarded from clients to the server.
    pub fn bytes_up(&self) -> u64 {
        self.counts.up.load(Ordering::SeqCst)
    }

    /// Sets both counts to 0.
    pub fn reset(&self) {
        self.counts.up.store(0, Ordering::SeqCst);
        self.counts.down.store(0, Ordering::SeqCst);
    }
}

impl Drop for CountingProxy {
    /// Stops accepting (open connections run until their ends close).
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// Copies `client` to `server` on another thread and back on this one,
/// counting, until both directions have ended.
fn forward_both_ways(client: TcpStream, server: TcpStream, counts: &Arc<Counts>) {
    let (Ok(client2), Ok(server2)) = (client.try_clone(), server.try_clone()) else { return };
    let up_counts = counts.clone();
    let up = std::thread::spawn(move || copy_counting(client2, server2, &up_counts.up));
    copy_counting(server, client, &counts.down);
    let _ = up.join();
}

/// Copies `from` to `to` until `from` ends (then ends `to`'s writing side),
/// adding each forwarded chunk to `count` once written.
fn copy_counting(mut from: TcpStream, mut to: TcpStream, count: &AtomicU64) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
                count.fetch_add(n as u64, Ordering::SeqCst);
            }
        }
    }
    let _ = to.shutdown(Shutdown::Write);
    let _ = from.shutdown(Shutdown::Read);
}
