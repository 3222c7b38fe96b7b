//! The agent's exposition as text in pieces of whole lines: `/metrics` streams them to its client
//! and remote write parses them one at a time, so neither ever holds a whole exposition (14 MiB
//! at 10 000 targets). The probes' series are taken as `Arc`s when encoding starts (see
//! `metrics::Metrics::encode`); the registry's own families are read under their locks while
//! encoding.

use std::convert::Infallible;
use std::fmt::Write;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;

/// A piece is cut at the first line end past this many bytes.
pub const PIECE: usize = 64 * 1024;

/// Pieces encoded ahead of a slow client, per scrape.
const AHEAD: usize = 2;

/// A client that takes no piece for this long loses the scrape (the encoder stops, and with it
/// any lock it holds on the registry's families).
const STALL: Duration = Duration::from_secs(5);

/// What writes an exposition (e.g. `Metrics::encode`): into a writer, in one format.
pub type Encode<T> = fn(&T, &mut dyn Write, bool) -> std::fmt::Result;

/// Run `encode` (its writes end on line ends), handing `sink` pieces of whole lines (of about
/// [`PIECE`] bytes, the last one shorter). Stops, with an error, at the first piece the sink
/// refuses (returns `false`).
pub fn encode_pieces(
    encode: impl FnOnce(&mut dyn Write) -> std::fmt::Result,
    sink: impl FnMut(String) -> bool,
) -> std::fmt::Result {
    let mut w = Lines {
        buf: String::with_capacity(PIECE + 8 * 1024),
        sink,
    };
    encode(&mut w)?;
    let rest = std::mem::take(&mut w.buf);
    if !rest.is_empty() && !(w.sink)(rest) {
        return Err(std::fmt::Error);
    }
    Ok(())
}

/// A `fmt::Write` that cuts what it is given into pieces of whole lines.
struct Lines<F> {
    buf: String,
    sink: F,
}

impl<F: FnMut(String) -> bool> Write for Lines<F> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.buf.push_str(s);
        if self.buf.len() >= PIECE {
            if let Some(end) = self.buf.rfind('\n') {
                let rest = self.buf[end + 1..].to_string();
                self.buf.truncate(end + 1);
                let piece = std::mem::replace(&mut self.buf, rest);
                if !(self.sink)(piece) {
                    return Err(std::fmt::Error);
                }
                self.buf.reserve(PIECE + 8 * 1024);
            }
        }
        Ok(())
    }
}

/// The body of a `/metrics` answer: `owner` encoded on a blocking thread
/// at most [`AHEAD`] pieces ahead of the client. A client gone or stalled for [`STALL`] stops the
/// encoder; the body then ends with an error, so hyper closes the connection rather than end a
/// truncated exposition as if it were whole.
pub fn streamed<T: Send + Sync + 'static>(
    owner: std::sync::Arc<T>,
    encode: Encode<T>,
    openmetrics: bool,
) -> BoxBody<Bytes, std::io::Error> {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(AHEAD);
    let rt = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        let send = |piece: String| {
            rt.block_on(tokio::time::timeout(STALL, tx.send(Ok(Bytes::from(piece)))))
                .is_ok_and(|sent| sent.is_ok())
        };
        if encode_pieces(|w| encode(&owner, w, openmetrics), send).is_err() {
            let _ = tx.try_send(Err(std::io::Error::other("exposition not finished")));
        }
    });
    let frames = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|piece| (piece.map(Frame::data), rx))
    });
    StreamBody::new(frames).boxed()
}

/// A whole body as a [`BoxBody`], for every answer that is not streamed.
pub fn whole(body: impl Into<Bytes>) -> BoxBody<Bytes, std::io::Error> {
    http_body_util::Full::new(body.into())
        .map_err(|never: Infallible| match never {})
        .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::metrics::family::Family;
    use prometheus_client::metrics::gauge::Gauge;
    use prometheus_client::registry::Registry;

    fn enc(r: &Registry, w: &mut dyn Write, openmetrics: bool) -> std::fmt::Result {
        if openmetrics {
            prometheus_client::encoding::text::encode(&mut &mut *w, r)
        } else {
            prometheus_client::encoding::prometheus_text::encode(&mut &mut *w, r)
        }
    }

    fn big_registry(n: usize) -> Registry {
        let mut r = Registry::default();
        let f = Family::<Vec<(String, String)>, Gauge>::default();
        for i in 0..n {
            f.get_or_create(&vec![("target".to_string(), format!("t{i:06}"))])
                .set(i as i64);
        }
        r.register("many", "Many series", f);
        r
    }

    #[test]
    fn pieces_are_whole_lines_and_add_up_to_the_exposition() {
        let r = big_registry(20_000);
        for openmetrics in [false, true] {
            let mut whole = String::new();
            if openmetrics {
                prometheus_client::encoding::text::encode(&mut whole, &r).unwrap();
            } else {
                prometheus_client::encoding::prometheus_text::encode(&mut whole, &r).unwrap();
            }
            let mut pieces = Vec::new();
            encode_pieces(
                |w| enc(&r, w, openmetrics),
                |p| {
                    pieces.push(p);
                    true
                },
            )
            .unwrap();
            assert!(pieces.len() > 3, "{} pieces", pieces.len());
            for p in &pieces {
                assert!(p.ends_with('\n'));
                assert!(p.len() < PIECE + 8 * 1024, "{}", p.len());
            }
            assert_eq!(pieces.concat(), whole);
        }
    }

    #[test]
    fn a_refused_piece_stops_the_encoding() {
        let r = big_registry(20_000);
        let mut taken = 0;
        let out = encode_pieces(
            |w| enc(&r, w, false),
            |_| {
                taken += 1;
                taken < 2
            },
        );
        assert!(out.is_err());
        assert_eq!(taken, 2);
    }

    #[tokio::test]
    async fn a_streamed_body_is_the_exposition_and_a_dropped_one_stops_its_encoder() {
        let r = std::sync::Arc::new(big_registry(20_000));
        let mut expected = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut expected, &r).unwrap();
        let body = streamed(r.clone(), enc, false);
        let got = body.collect().await.unwrap().to_bytes();
        assert_eq!(got, expected.as_bytes());
        // Dropped before reading: the encoder gives up (its registry reference goes).
        drop(streamed(r.clone(), enc, false));
        for _ in 0..200 {
            if std::sync::Arc::strong_count(&r) == 1 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the encoder still holds the registry");
    }
}
