//! Reachability of one listening address: open, refusing (RST) or silently dropping
//! SYNs (a security group / blackhole), switchable at runtime without privileges.
//!
//! Open is a normal listening socket. Refusing shuts the listener down (Linux keeps it
//! bound but not listening, so SYNs get a RST). Dropping additionally binds a second
//! socket on the same address with a backlog of 0 that nobody accepts from, and fills
//! its accept queue with one connection of our own: Linux then drops further SYNs, and
//! a client's connect times out exactly as through a security group that drops them.

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use socket2::{Domain, Socket, Type};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// How an address answers a SYN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reach {
    /// Accepts connections.
    Open,
    /// Answers SYNs with RST (connection refused).
    Refuse,
    /// Drops SYNs silently (connect times out).
    Drop,
}

const BACKLOG: i32 = 1024;

/// A listening address whose reachability can be switched.
pub(crate) struct Slot {
    addr: SocketAddr,
    /// The listening socket; the accept loop registers a duplicate of it per open period.
    socket: Socket,
    state: watch::Sender<State>,
    blackhole: Mutex<Option<Blackhole>>,
}

#[derive(Debug, Clone, Copy)]
struct State {
    reach: Reach,
    /// Bumped on every switch: tokio keeps "read closed" readiness sticky after the
    /// listener was shut down, so the accept loop re-registers after any switch.
    generation: u64,
}

/// A backlog-0 listener with a full accept queue.
pub(crate) struct Blackhole {
    _listener: Socket,
    _filler: Socket,
}

impl Blackhole {
    /// Creates the SYN-dropping listener on `addr` (which must not be listening otherwise).
    pub(crate) fn new(addr: SocketAddr) -> io::Result<Blackhole> {
        let listener = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
        listener.set_reuse_address(true)?;
        listener.bind(&addr.into())?;
        listener.listen(0)?;
        let filler = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
        filler.connect_timeout(&addr.into(), Duration::from_secs(2))?;
        Ok(Blackhole {
            _listener: listener,
            _filler: filler,
        })
    }
}

fn listening_socket(addr: SocketAddr) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    Ok(socket)
}

/// Binds a plain reusable listener (port 0 = ephemeral); must run inside a tokio runtime.
pub(crate) fn bind_listener(addr: SocketAddr) -> io::Result<TcpListener> {
    TcpListener::from_std(listening_socket(addr)?.into())
}

impl Slot {
    /// Binds `addr` (port 0 = a free ephemeral port) in the open state.
    pub(crate) fn bind(addr: SocketAddr) -> io::Result<Arc<Slot>> {
        // The port must be bound explicitly: Linux keeps only explicitly bound ports across
        // the shutdown that switches to Refuse/Drop (an auto-bound port would be released).
        let mut attempt = 0;
        let socket = loop {
            let mut explicit = addr;
            if addr.port() == 0 {
                let probe = std::net::TcpListener::bind(addr)?;
                explicit = probe.local_addr()?;
            }
            match listening_socket(explicit) {
                Err(e) if addr.port() == 0 && attempt < 10 => {
                    attempt += 1;
                    tracing::debug!(%explicit, error = %e, "ephemeral port taken, retrying");
                }
                other => break other?,
            }
        };
        let addr = socket
            .local_addr()?
            .as_socket()
            .ok_or_else(|| io::Error::other("not an inet socket"))?;
        Ok(Arc::new(Slot {
            addr,
            socket,
            state: watch::Sender::new(State {
                reach: Reach::Open,
                generation: 0,
            }),
            blackhole: Mutex::new(None),
        }))
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Switches reachability; effective for the next SYN when this returns.
    pub(crate) fn set_reach(&self, reach: Reach) -> io::Result<()> {
        let mut blackhole = self.blackhole.lock().unwrap_or_else(|e| e.into_inner());
        let current = self.state.borrow().reach;
        if current == reach {
            return Ok(());
        }
        if current == Reach::Open {
            // Linux: shutdown(SHUT_RD) on a listener stops listening but keeps the port bound.
            self.socket.shutdown(std::net::Shutdown::Read)?;
        }
        *blackhole = None;
        match reach {
            Reach::Open => self.socket.listen(BACKLOG)?,
            Reach::Refuse => {}
            Reach::Drop => *blackhole = Some(Blackhole::new(self.addr)?),
        }
        self.state.send_modify(|s| {
            s.reach = reach;
            s.generation += 1;
        });
        Ok(())
    }

    /// Accepts connections forever, handing each to `on_conn`; pauses while not open.
    pub(crate) async fn run(&self, mut on_conn: impl FnMut(TcpStream, SocketAddr)) {
        let mut rx = self.state.subscribe();
        loop {
            let Ok(generation) = rx
                .wait_for(|s| s.reach == Reach::Open)
                .await
                .map(|s| s.generation)
            else {
                return;
            };
            if let Err(e) = self.accept_open_period(generation, &rx, &mut on_conn).await {
                tracing::debug!(addr = %self.addr, error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }

    /// Accepts until the slot is switched (returns Ok) or accepting fails.
    async fn accept_open_period(
        &self,
        generation: u64,
        rx: &watch::Receiver<State>,
        on_conn: &mut impl FnMut(TcpStream, SocketAddr),
    ) -> io::Result<()> {
        let dup: std::net::TcpListener = self.socket.try_clone()?.into();
        dup.set_nonblocking(true)?;
        // SAFETY: `dup` owns its file descriptor, which stays open while `fd` owns it.
        let fd = unsafe { AsyncFd::register_with_interest(dup, Interest::READABLE)? };
        loop {
            let switched = || rx.borrow().generation != generation;
            let mut guard = fd.readable().await?;
            match guard.try_io(|l| l.get_ref().accept()) {
                Ok(Ok((stream, peer))) => {
                    stream.set_nonblocking(true)?;
                    on_conn(TcpStream::from_std(stream)?, peer);
                }
                Ok(Err(_)) | Err(_) if switched() => return Ok(()),
                Ok(Err(e)) if is_transient(&e) => continue,
                Ok(Err(e)) => return Err(e),
                Err(_would_block) => continue,
            }
        }
    }
}

fn is_transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr};
    use tokio::time::timeout;

    fn local() -> SocketAddr {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1)), 0)
    }

    /// What a client sees when it connects with a short timeout.
    async fn probe(addr: SocketAddr) -> &'static str {
        match timeout(Duration::from_millis(300), TcpStream::connect(addr)).await {
            Err(_) => "timeout",
            Ok(Ok(_)) => "connected",
            Ok(Err(e)) if e.kind() == io::ErrorKind::ConnectionRefused => "refused",
            Ok(Err(_)) => "error",
        }
    }

    #[tokio::test]
    async fn syn_drop_times_out_instead_of_refusing() {
        let slot = Slot::bind(local()).unwrap();
        let addr = slot.addr();
        let server = slot.clone();
        let task = tokio::spawn(async move { server.run(|s, _| drop(s)).await });
        assert_eq!(probe(addr).await, "connected");
        slot.set_reach(Reach::Drop).unwrap();
        assert_eq!(probe(addr).await, "timeout");
        assert_eq!(probe(addr).await, "timeout");
        slot.set_reach(Reach::Refuse).unwrap();
        assert_eq!(probe(addr).await, "refused");
        slot.set_reach(Reach::Drop).unwrap();
        assert_eq!(probe(addr).await, "timeout");
        slot.set_reach(Reach::Open).unwrap();
        assert_eq!(probe(addr).await, "connected");
        // A flip the accept loop never observes must not leave it stuck.
        slot.set_reach(Reach::Refuse).unwrap();
        slot.set_reach(Reach::Open).unwrap();
        assert_eq!(probe(addr).await, "connected");
        assert_eq!(probe(addr).await, "connected");
        task.abort();
    }

    #[tokio::test]
    async fn standalone_blackhole_drops_syns() {
        let probe_sock = std::net::TcpListener::bind(local()).unwrap();
        let addr = probe_sock.local_addr().unwrap();
        drop(probe_sock);
        let _hole = Blackhole::new(addr).unwrap();
        assert_eq!(probe(addr).await, "timeout");
    }
}
