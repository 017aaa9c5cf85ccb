//! More workers: each a thread with a single-threaded runtime and its own socket on every TCP
//! listener's address (`SO_REUSEPORT`), so that the kernel spreads new connections among
//! them, as among nginx's worker processes. A connection stays on the worker that accepted
//! it, with that worker's backend pools. The first worker is the thread that runs
//! [`crate::run`]; it alone serves HTTP/3 and the admin listener.

use super::Builders;
use crate::shared::Shared;
use http::HeaderValue;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::{mpsc, watch};

/// Pending connections the kernel queues per socket.
const BACKLOG: u32 = 1024;

/// A bound TCP listener as the other workers bind it again.
#[derive(Clone)]
pub struct Listening {
    pub address: SocketAddr,
    pub tls: Option<tokio_rustls::TlsAcceptor>,
    pub builders: Arc<Builders>,
    pub alt_svc: Option<HeaderValue>,
}

impl std::fmt::Debug for Listening {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listening")
            .field("address", &self.address)
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

/// Binds a TCP socket; with `reuse_port`, more sockets can bind the same address.
pub fn bind(address: SocketAddr, reuse_port: bool) -> std::io::Result<TcpListener> {
    let socket = if address.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    if reuse_port {
        socket.set_reuseport(true)?;
    }
    socket.bind(address)?;
    socket.listen(BACKLOG)
}

/// Starts workers `1..count`, each accepting on its own socket of every listener until `stop`
/// flips and running until `done` does. Binding errors are returned before any worker
/// serves: the addresses were free a moment ago, so one means another process took them.
/// Each accept loop holds a clone of `in_flight` (as each connection does) and of
/// `accepting`, which it drops when its socket is closed.
pub fn start(
    count: usize,
    listening: &[Listening],
    shared: &Arc<Shared>,
    (in_flight, accepting): (&mpsc::Sender<()>, &mpsc::Sender<()>),
    stop: &watch::Receiver<bool>,
    done: &watch::Receiver<bool>,
) -> std::io::Result<Vec<std::thread::JoinHandle<()>>> {
    let mut threads = Vec::with_capacity(count.saturating_sub(1));
    for worker in 1..count {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let sockets = {
            let _entered = runtime.enter();
            listening
                .iter()
                .map(|l| bind(l.address, true))
                .collect::<std::io::Result<Vec<_>>>()?
        };
        let listening = listening.to_vec();
        let (shared, in_flight, accepting, stop, mut done) = (
            shared.clone(),
            in_flight.clone(),
            accepting.clone(),
            stop.clone(),
            done.clone(),
        );
        let thread = std::thread::Builder::new()
            .name(format!("gatehouse-worker-{worker}"))
            .spawn(move || {
                runtime.block_on(async move {
                    for (socket, l) in sockets.into_iter().zip(listening) {
                        let accepting = accepting.clone();
                        let accept = super::accept_loop(
                            socket,
                            l.tls,
                            l.builders,
                            l.alt_svc,
                            shared.clone(),
                            in_flight.clone(),
                            stop.clone(),
                        );
                        tokio::spawn(async move {
                            accept.await;
                            drop(accepting);
                        });
                    }
                    drop((in_flight, accepting));
                    let _ = done.wait_for(|d| *d).await;
                });
            })?;
        threads.push(thread);
    }
    Ok(threads)
}
