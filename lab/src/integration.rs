//! The HTTP_PROXY / VPC_LINK integration: API Gateway's own HTTP/1.1 client that sends
//! the request to the VPC link's NLB under the integration timeout and classifies what
//! goes wrong the way API Gateway does (network error vs. timeout).

use std::net::SocketAddr;
use std::pin::pin;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// Largest integration response relayed (API Gateway's payload limit).
const RESPONSE_LIMIT: usize = 10 * 1024 * 1024;

/// Why the integration produced no response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// Connect refused, connection reset or closed before a complete response.
    Network,
    /// No complete response within the integration timeout (connect included).
    Timeout,
}

/// Sends `req` to `nlb` and reads the whole response within `limit`.
pub(crate) async fn forward(
    nlb: SocketAddr,
    req: Request<Full<Bytes>>,
    limit: Duration,
) -> Result<Response<Bytes>, Failure> {
    match tokio::time::timeout(limit, exchange(nlb, req)).await {
        Ok(result) => result,
        Err(_) => Err(Failure::Timeout),
    }
}

async fn exchange(nlb: SocketAddr, req: Request<Full<Bytes>>) -> Result<Response<Bytes>, Failure> {
    let net = |e: &dyn std::fmt::Display| {
        tracing::debug!(%nlb, error = %e, "integration network error");
        Failure::Network
    };
    let stream = TcpStream::connect(nlb).await.map_err(|e| net(&e))?;
    let _ = stream.set_nodelay(true);
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| net(&e))?;
    let send = async move {
        let resp = sender.send_request(req).await.map_err(|e| net(&e))?;
        let (parts, body) = resp.into_parts();
        let bytes = Limited::new(body, RESPONSE_LIMIT)
            .collect()
            .await
            .map_err(|e| net(&*e))?
            .to_bytes();
        Ok(Response::from_parts(parts, bytes))
    };
    let (mut send, mut conn) = (pin!(send), pin!(conn));
    tokio::select! {
        biased;
        r = &mut send => r,
        // The connection ended first (closed or reset): the exchange now fails or completes.
        _ = &mut conn => send.await,
    }
}
