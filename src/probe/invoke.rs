//! Invoke probe: one HTTP/1.1 request over a connection we own, with the first response byte
//! timed at the socket, the body read capped, and the response classified as API Gateway's own
//! (it carries `x-amzn-ErrorType`) or the backend's (relayed through the integration).

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::SystemTime;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

use crate::facts::{HttpOutcome, HttpResponse, ResponseSource};

/// Bodies are read up to this many bytes, then the connection is dropped.
pub const BODY_CAP: usize = 64 * 1024;
/// Bytes of body kept in the facts (printable).
const SNIPPET: usize = 200;

/// The request to send.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: http::Method,
    /// Path and query, e.g. `/test/pgw-probe`.
    pub path: String,
    /// Headers, in order (Host first).
    pub headers: Vec<(String, String)>,
}

/// What came back, with the time of the first response byte.
#[derive(Debug)]
pub struct Exchange {
    pub outcome: HttpOutcome,
    pub first_byte: Option<Instant>,
    pub done: Instant,
}

/// Send `req` over `io` and read the response until `deadline`.
pub async fn exchange<T>(io: T, req: &Request, deadline: Instant) -> Exchange
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let marks = Arc::new(Mutex::new(None));
    let timed = TimedIo {
        inner: io,
        first_read: marks.clone(),
    };
    let outcome = tokio::time::timeout_at(deadline, run(timed, req)).await;
    let first_byte = *marks.lock().expect("poisoned");
    let outcome = match outcome {
        Err(_) => HttpOutcome::Timeout,
        Ok(o) => o,
    };
    Exchange {
        outcome,
        first_byte,
        done: Instant::now(),
    }
}

async fn run<T>(io: TimedIo<T>, req: &Request) -> HttpOutcome
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = match hyper::client::conn::http1::handshake(TokioIo::new(io)).await {
        Ok(x) => x,
        Err(e) => return HttpOutcome::Error(e.to_string()),
    };
    let driver = tokio::spawn(async move {
        let _ = conn.await;
    });
    let mut builder = http::Request::builder()
        .method(req.method.clone())
        .uri(req.path.as_str());
    for (k, v) in &req.headers {
        builder = builder.header(k.as_str(), v.as_str());
    }
    let request = match builder.body(Empty::<Bytes>::new()) {
        Ok(r) => r,
        Err(e) => return HttpOutcome::Error(format!("bad request: {e}")),
    };
    let outcome = match sender.send_request(request).await {
        Err(e) => HttpOutcome::Error(describe_hyper(&e)),
        Ok(resp) => {
            let (parts, mut body) = resp.into_parts();
            let mut buf = Vec::new();
            let mut truncated = false;
            while let Some(frame) = body.frame().await {
                match frame {
                    Ok(f) => {
                        if let Some(d) = f.data_ref() {
                            let room = BODY_CAP - buf.len();
                            if d.len() > room {
                                buf.extend_from_slice(&d[..room]);
                                truncated = true;
                                break;
                            }
                            buf.extend_from_slice(d);
                        }
                    }
                    // A body that breaks off (shorter than its Content-Length, invalid chunked
                    // encoding, a reset) is a broken connection, not an answer.
                    Err(e) => return broken_body(&parts, buf.len(), &e, driver),
                }
            }
            HttpOutcome::Response(classify(&parts, &buf, truncated))
        }
    };
    driver.abort();
    outcome
}

/// The outcome of a response whose body broke after `read` bytes: what arrived, what was announced.
fn broken_body(
    parts: &http::response::Parts,
    read: usize,
    e: &hyper::Error,
    driver: tokio::task::JoinHandle<()>,
) -> HttpOutcome {
    driver.abort();
    let announced = parts
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .map(|n| format!(" of the {n} its Content-Length announced"))
        .unwrap_or_default();
    HttpOutcome::Error(format!(
        "{} response broke off after {read} body bytes{announced}: {}",
        parts.status.as_u16(),
        describe_hyper(e)
    ))
}

fn describe_hyper(e: &hyper::Error) -> String {
    let mut s = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

/// Reduce a response to what diagnosis needs.
pub fn classify(parts: &http::response::Parts, body: &[u8], truncated: bool) -> HttpResponse {
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.to_string())
    };
    // `x-amzn-ErrorType` may carry a `:http://…` suffix.
    let error_type = header("x-amzn-errortype")
        .map(|t| t.split(':').next().unwrap_or_default().trim().to_string())
        .filter(|t| !t.is_empty());
    let gateway_headers = parts.headers.contains_key("x-amzn-requestid")
        || parts.headers.contains_key("x-amz-apigw-id");
    let message = json_message(body);
    let source = if error_type.is_some() {
        ResponseSource::Gateway
    } else {
        ResponseSource::Backend
    };
    let snippet: String = String::from_utf8_lossy(&body[..body.len().min(SNIPPET)])
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    HttpResponse {
        status: parts.status.as_u16(),
        error_type,
        message,
        source,
        gateway_headers,
        request_id: header("x-amzn-requestid").map(|s| s.chars().take(128).collect()),
        server: header("server"),
        clock_skew_s: header("date").and_then(|d| clock_skew(&d, SystemTime::now())),
        body_snippet: snippet.trim().to_string(),
        body_bytes: body.len(),
        body_truncated: truncated,
    }
}

/// `date` (an HTTP-date) minus `now`, to the nearest second; `None` when it does not parse.
fn clock_skew(date: &str, now: SystemTime) -> Option<i64> {
    let at = httpdate::parse_http_date(date).ok()?;
    let s = match at.duration_since(now) {
        Ok(ahead) => ahead.as_secs_f64(),
        Err(behind) => -behind.duration().as_secs_f64(),
    };
    // `Date` is cut to the second: the responder's clock was up to a second later than it says.
    Some((s + 0.5).round() as i64)
}

/// `message` or `Message` of a JSON object body.
fn json_message(body: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let obj = v.as_object()?;
    obj.get("message")
        .or_else(|| obj.get("Message"))
        .and_then(|m| m.as_str())
        .map(|s| s.to_string())
}

/// An I/O wrapper that stamps the first byte read.
struct TimedIo<T> {
    inner: T,
    first_read: Arc<Mutex<Option<Instant>>>,
}

impl<T: AsyncRead + Unpin> AsyncRead for TimedIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            let mut m = self.first_read.lock().expect("poisoned");
            if m.is_none() {
                *m = Some(Instant::now());
            }
        }
        r
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for TimedIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(status: u16, headers: &[(&str, &str)]) -> http::response::Parts {
        let mut b = http::Response::builder().status(status);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).unwrap().into_parts().0
    }

    #[test]
    fn clock_skew_from_the_date_header() {
        let now = httpdate::parse_http_date("Fri, 27 Nov 2026 12:00:00 GMT").unwrap()
            + std::time::Duration::from_millis(400);
        assert_eq!(clock_skew("Fri, 27 Nov 2026 12:15:03 GMT", now), Some(903));
        assert_eq!(clock_skew("Fri, 27 Nov 2026 11:59:00 GMT", now), Some(-60));
        assert_eq!(clock_skew("yesterday", now), None);
        let p = parts(403, &[("date", "Fri, 27 Nov 2026 12:00:00 GMT")]);
        assert!(classify(&p, b"{}", false).clock_skew_s.is_some());
        assert!(classify(&parts(200, &[]), b"{}", false)
            .clock_skew_s
            .is_none());
    }

    #[test]
    fn gateway_error_is_classified() {
        let p = parts(
            403,
            &[
                ("x-amzn-ErrorType", "MissingAuthenticationTokenException"),
                ("x-amzn-RequestId", "abc"),
            ],
        );
        let r = classify(&p, br#"{"message":"Missing Authentication Token"}"#, false);
        assert_eq!(r.source, ResponseSource::Gateway);
        assert!(r.is_error_type(403, "MissingAuthenticationTokenException"));
        assert_eq!(r.message.as_deref(), Some("Missing Authentication Token"));
    }

    #[test]
    fn access_denied_capital_message_and_suffix() {
        let p = parts(
            403,
            &[(
                "x-amzn-ErrorType",
                "AccessDeniedException:http://internal.amazon.com/",
            )],
        );
        let r = classify(
            &p,
            br#"{"Message":"User: anonymous is not authorized"}"#,
            false,
        );
        assert_eq!(r.error_type.as_deref(), Some("AccessDeniedException"));
        assert_eq!(
            r.message.as_deref(),
            Some("User: anonymous is not authorized")
        );
    }

    #[test]
    fn backend_response_has_no_error_type() {
        let p = parts(502, &[("server", "nginx"), ("x-amzn-RequestId", "abc")]);
        let r = classify(&p, b"<html>Bad Gateway</html>", false);
        assert_eq!(r.source, ResponseSource::Backend);
        assert_eq!(r.server.as_deref(), Some("nginx"));
        assert!(r.gateway_headers);
    }

    /// Serve `raw` as the whole response to one request over an in-memory connection.
    async fn answer(raw: &'static [u8]) -> HttpOutcome {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (client, mut server) = tokio::io::duplex(64 * 1024);
        tokio::spawn(async move {
            let mut req = [0u8; 1024];
            let _ = server.read(&mut req).await;
            let _ = server.write_all(raw).await;
            let _ = server.shutdown().await;
        });
        let req = Request {
            method: http::Method::GET,
            path: "/test/".into(),
            headers: vec![("host".into(), "api.example".into())],
        };
        let deadline = Instant::now() + std::time::Duration::from_secs(5);
        exchange(client, &req, deadline).await.outcome
    }

    #[tokio::test]
    async fn a_body_shorter_than_its_length_is_a_broken_connection() {
        let o = answer(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort").await;
        let HttpOutcome::Error(e) = o else {
            panic!("{o:?}")
        };
        assert!(
            e.contains("after 5 body bytes of the 100 its Content-Length announced"),
            "{e}"
        );
    }

    #[tokio::test]
    async fn invalid_chunked_encoding_is_a_broken_connection() {
        let o = answer(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nokay\r\nzz\r\n")
            .await;
        let HttpOutcome::Error(e) = o else {
            panic!("{o:?}")
        };
        assert!(
            e.contains("200 response broke off after 4 body bytes"),
            "{e}"
        );
    }

    #[tokio::test]
    async fn a_whole_body_is_an_answer() {
        let o = answer(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}").await;
        assert!(
            matches!(o, HttpOutcome::Response(ref r) if r.status == 200 && r.body_bytes == 2),
            "{o:?}"
        );
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            /// Any status, error type and body: no panic; the snippet is bounded and printable; the
            /// error type carries no `:suffix`; API Gateway's answers are the ones with a type.
            #[test]
            fn any_response_classifies(
                status in 100u16..600,
                error_type in proptest::option::of("[ -~]{0,80}"),
                body in proptest::collection::vec(any::<u8>(), 0..1024),
            ) {
                let headers: Vec<(&str, &str)> = error_type
                    .as_deref()
                    .map(|t| vec![("x-amzn-ErrorType", t)])
                    .unwrap_or_default();
                let p = parts(status, &headers);
                let r = classify(&p, &body, false);
                prop_assert_eq!(r.status, status);
                prop_assert!(r.body_snippet.chars().count() <= SNIPPET);
                prop_assert!(!r.body_snippet.chars().any(char::is_control));
                prop_assert_eq!(r.body_bytes, body.len());
                if let Some(t) = &r.error_type {
                    prop_assert!(!t.contains(':') && !t.is_empty());
                }
                prop_assert_eq!(r.source == crate::facts::ResponseSource::Gateway, r.error_type.is_some());
            }
        }
    }
}
