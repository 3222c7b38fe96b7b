//! TCP probe: connect to one address with a timeout and say how it ended
//! (a dropped SYN times out; a closed port refuses; no route is unreachable).

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpStream;

use crate::facts::ConnectOutcome;

/// Connect; on success the stream has `TCP_NODELAY` set.
pub async fn connect(addr: SocketAddr, timeout: Duration) -> (ConnectOutcome, Option<TcpStream>) {
    if timeout.is_zero() {
        return (ConnectOutcome::NotTried, None);
    }
    match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
        Err(_) => (ConnectOutcome::Timeout, None),
        Ok(Ok(s)) => {
            let _ = s.set_nodelay(true);
            (ConnectOutcome::Ok, Some(s))
        }
        Ok(Err(e)) => (classify(&e), None),
    }
}

/// Map a connect error to an outcome.
pub fn classify(e: &io::Error) -> ConnectOutcome {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => ConnectOutcome::Refused,
        io::ErrorKind::TimedOut => ConnectOutcome::Timeout,
        io::ErrorKind::HostUnreachable | io::ErrorKind::NetworkUnreachable => {
            ConnectOutcome::Unreachable
        }
        _ => ConnectOutcome::Error(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn closed_port_is_refused() {
        // Bind then drop to find a port with nothing listening.
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        drop(l);
        let (o, s) = connect(addr, Duration::from_secs(2)).await;
        assert_eq!(o, ConnectOutcome::Refused);
        assert!(s.is_none());
    }

    #[tokio::test]
    async fn open_port_connects() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (o, s) = connect(l.local_addr().unwrap(), Duration::from_secs(2)).await;
        assert_eq!(o, ConnectOutcome::Ok);
        assert!(s.is_some());
    }

    #[tokio::test]
    async fn full_backlog_drops_syn_and_times_out() {
        // A listener with backlog 0 and one queued connection drops further SYNs, as a
        // security group does: the connect must time out, not be refused.
        let sock = tokio::net::TcpSocket::new_v4().unwrap();
        sock.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let l = sock.listen(0).unwrap();
        let addr = l.local_addr().unwrap();
        let _filler = TcpStream::connect(addr).await.unwrap();
        let mut outcome = ConnectOutcome::Ok;
        let mut held = Vec::new();
        // The queue may take one or two more before it is full.
        for _ in 0..4 {
            let (o, s) = connect(addr, Duration::from_millis(300)).await;
            outcome = o;
            held.extend(s);
            if outcome != ConnectOutcome::Ok {
                break;
            }
        }
        assert_eq!(outcome, ConnectOutcome::Timeout);
    }
}
