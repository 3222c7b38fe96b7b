//! The services behind the integrations: the "EKS" orders service of path A and the
//! nginx host in another network of path B, with the `backend_slow` and `backend_5xx`
//! faults applied per request.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_TYPE, SERVER};
use http::{Response, StatusCode};
use http_body_util::Full;

use crate::responses::Body;
use crate::runtime::{FaultCell, Tasks};
use crate::slot::Slot;
use crate::IntegrationFault;

/// Which backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flavor {
    /// Path A: the EKS "orders" service behind the provider NLB.
    Eks,
    /// Path B: nginx on an IP in another network.
    Nginx,
}

const NGINX_502: &str = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n";

/// The size of `/big`'s padding, and the largest packet under `hybrid_mtu_blackhole`.
const BIG: usize = 64 * 1024;
const MTU: usize = 1400;

/// What the backends serve: the root exactly, each other route and everything under it; any other
/// path is a 404 of the backend's own (`integration_uri_without_proxy` sends every call to `/v1`).
const ROUTES: &[&str] = &["/", "/pgw-probe", "/health", "/orders", "/big"];

fn serves(route: &str, path: &str) -> bool {
    path == route
        || (route != "/"
            && path
                .strip_prefix(route)
                .is_some_and(|rest| rest.starts_with('/')))
}

/// The backend's own 404: Express's `Cannot GET /x` (path A), nginx's page (path B).
fn not_found(flavor: Flavor, path: &str) -> Response<Body> {
    let (body, kind) = match flavor {
        Flavor::Eks => (
            format!("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>Error</title>\n</head>\n<body>\n<pre>Cannot GET {path}</pre>\n</body>\n</html>\n"),
            "text/html; charset=utf-8",
        ),
        Flavor::Nginx => (
            "<html>\r\n<head><title>404 Not Found</title></head>\r\n<body>\r\n<center><h1>404 Not Found</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n".to_string(),
            "text/html",
        ),
    };
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = StatusCode::NOT_FOUND;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(kind));
    if flavor == Flavor::Nginx {
        r.headers_mut()
            .insert(SERVER, HeaderValue::from_static("nginx"));
    }
    r
}

/// Serves `flavor` on `slot` until the lab stops.
pub(crate) fn serve(
    slot: Arc<Slot>,
    flavor: Flavor,
    faults: FaultCell,
    default_timeout_ms: u64,
    tasks: &Tasks,
) {
    let inner = tasks.clone();
    tasks.spawn(async move {
        slot.run(|stream, _| {
            let faults = faults.clone();
            inner.spawn(crate::httpd::serve(stream, move |req| {
                let faults = faults.get();
                async move { answer(flavor, &faults, default_timeout_ms, req.uri().path()).await }
            }));
        })
        .await
    });
}

async fn answer(
    flavor: Flavor,
    faults: &crate::Faults,
    default_timeout_ms: u64,
    path: &str,
) -> Response<Body> {
    match faults.integration {
        IntegrationFault::BackendSlow => {
            let limit = faults.integration_timeout_ms.unwrap_or(default_timeout_ms);
            tokio::time::sleep(Duration::from_millis(limit.saturating_mul(2) + 1000)).await;
        }
        IntegrationFault::Backend5xx => {
            let mut r = Response::new(Full::new(Bytes::from_static(NGINX_502.as_bytes())));
            *r.status_mut() = StatusCode::BAD_GATEWAY;
            r.headers_mut()
                .insert(SERVER, HeaderValue::from_static("nginx"));
            r.headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("text/html"));
            return r;
        }
        _ => {}
    }
    if !ROUTES.iter().any(|r| serves(r, path)) {
        return not_found(flavor, path);
    }
    // `/big` answers 64 KiB: more than any packet.
    let padding = if serves("/big", path) { BIG } else { 0 };
    if faults.hybrid_mtu_blackhole && flavor == Flavor::Nginx && padding > MTU {
        // Its full-size segments are dropped on the way: as API Gateway sees it, no answer.
        let limit = faults.integration_timeout_ms.unwrap_or(default_timeout_ms);
        tokio::time::sleep(Duration::from_millis(limit.saturating_mul(2) + 1000)).await;
    }
    let service = match flavor {
        Flavor::Eks => "orders",
        Flavor::Nginx => "nginx",
    };
    let path = serde_json::to_string(path).unwrap_or_else(|_| "\"\"".into());
    let body = if padding == 0 {
        format!("{{\"service\":\"{service}\",\"path\":{path}}}")
    } else {
        format!(
            "{{\"service\":\"{service}\",\"path\":{path},\"padding\":\"{}\"}}",
            "x".repeat(padding)
        )
    };
    let mut r = Response::new(Full::new(Bytes::from(body)));
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if flavor == Flavor::Nginx {
        r.headers_mut()
            .insert(SERVER, HeaderValue::from_static("nginx"));
    }
    r
}
