//! AWS_IAM method authorization: parses a SigV4 `Authorization` header, checks the
//! key, scope and clock, and recomputes the signature with aws-sigv4 and the lab
//! credentials (service `execute-api`), answering like API Gateway when it fails.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use http::request::Parts;

use crate::responses::{GatewayError, SIGNATURE_MISMATCH};
use crate::{LAB_ACCESS_KEY_ID, LAB_SECRET_ACCESS_KEY};

const SERVICE: &str = "execute-api";
const ALGORITHM: &str = "AWS4-HMAC-SHA256";
const SKEW: Duration = Duration::from_secs(300);

/// The lab credentials: the only access key the gateway knows, and its secret.
pub(crate) const LAB_KEY: (&str, &str) = (LAB_ACCESS_KEY_ID, LAB_SECRET_ACCESS_KEY);

/// Verifies the request's signature against the one access key `known` (id, secret) at the
/// gateway's time `now`; `Ok` carries the caller's ARN.
pub(crate) fn verify(
    parts: &Parts,
    body: &[u8],
    region: &str,
    account: &str,
    known: (&str, &str),
    now: SystemTime,
) -> Result<String, GatewayError> {
    check(parts, body, (SERVICE, region), known, now)?;
    Ok(format!("arn:aws:iam::{account}:user/pgw-lab"))
}

/// Verifies a request signed for `service` in `region` with the one key `known` (id, secret) at
/// `now`, as an AWS service does: a receiver of signed requests in tests (remote write, service
/// `aps`) answers 403 with the reason when it fails.
pub fn verify_signed(
    parts: &Parts,
    body: &[u8],
    (service, region): (&str, &str),
    known: (&str, &str),
    now: SystemTime,
) -> Result<(), String> {
    check(parts, body, (service, region), known, now).map_err(|e| e.body())
}

fn check(
    parts: &Parts,
    body: &[u8],
    (service, region): (&str, &str),
    known: (&str, &str),
    now: SystemTime,
) -> Result<(), GatewayError> {
    let header = parts
        .headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let Some(params) = header
        .strip_prefix(ALGORITHM)
        .filter(|p| p.starts_with(' '))
    else {
        return Err(GatewayError::MissingAuthenticationToken);
    };
    let param = |name: &str| {
        params
            .split(',')
            .filter_map(|kv| kv.trim().split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
    };
    let incomplete = |what: &str| {
        GatewayError::IncompleteSignature(format!(
            "Authorization header requires '{what}' parameter. Authorization={header}"
        ))
    };
    let credential = param("Credential").ok_or_else(|| incomplete("Credential"))?;
    let signed_headers = param("SignedHeaders").ok_or_else(|| incomplete("SignedHeaders"))?;
    let signature = param("Signature").ok_or_else(|| incomplete("Signature"))?;
    let scope: Vec<&str> = credential.split('/').collect();
    let [key_id, _date, scope_region, scope_service, "aws4_request"] = scope.as_slice() else {
        return Err(incomplete("Credential"));
    };
    if *key_id != known.0 {
        return Err(GatewayError::UnrecognizedClient);
    }
    if *scope_service != service {
        return Err(GatewayError::InvalidSignature(format!(
            "Credential should be scoped to correct service: '{service}'. "
        )));
    }
    if *scope_region != region {
        return Err(GatewayError::InvalidSignature(
            "Credential should be scoped to a valid region. ".into(),
        ));
    }
    let amz_date = parts
        .headers
        .get("x-amz-date")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let Some(signed_at) = parse_amz_date(amz_date) else {
        return Err(GatewayError::IncompleteSignature(format!(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. Authorization={header}"
        )));
    };
    check_clock(amz_date, signed_at, now)?;

    // Recompute over exactly the headers the client signed.
    let mut headers = Vec::new();
    for name in signed_headers.split(';') {
        for value in parts.headers.get_all(name) {
            if let Ok(v) = value.to_str() {
                headers.push((name, v));
            }
        }
    }
    let unsigned = parts
        .headers
        .get("x-amz-content-sha256")
        .is_some_and(|v| v == "UNSIGNED-PAYLOAD");
    let signable_body = if unsigned {
        SignableBody::UnsignedPayload
    } else {
        SignableBody::Bytes(body)
    };
    let uri = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let mismatch = || GatewayError::InvalidSignature(SIGNATURE_MISMATCH.into());
    let request = SignableRequest::new(
        parts.method.as_str(),
        uri,
        headers.into_iter(),
        signable_body,
    )
    .map_err(|_| mismatch())?;
    let identity = Credentials::new(
        known.0.to_string(),
        known.1.to_string(),
        None,
        None,
        "pgw-lab",
    )
    .into();
    let mut settings = SigningSettings::default();
    settings.excluded_headers = None;
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(signed_at)
        .settings(settings)
        .build()
        .map_err(|_| mismatch())?
        .into();
    let expected = sign(request, &params).map_err(|_| mismatch())?;
    if expected.signature() != signature {
        return Err(mismatch());
    }
    Ok(())
}

fn check_clock(amz_date: &str, signed_at: SystemTime, now: SystemTime) -> Result<(), GatewayError> {
    if signed_at + SKEW < now {
        return Err(GatewayError::InvalidSignature(format!(
            "Signature expired: {amz_date} is now earlier than {} ({} - 5 min.)",
            format_amz_date(now - SKEW),
            format_amz_date(now)
        )));
    }
    if signed_at > now + SKEW {
        return Err(GatewayError::InvalidSignature(format!(
            "Signature not yet current: {amz_date} is still later than {} ({} + 5 min.)",
            format_amz_date(now + SKEW),
            format_amz_date(now)
        )));
    }
    Ok(())
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Parses `YYYYMMDDTHHMMSSZ`.
fn parse_amz_date(s: &str) -> Option<SystemTime> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, mo, d) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (h, mi, se) = (num(9..11)?, num(11..13)?, num(13..15)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let secs = days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + se;
    Some(UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).ok()?))
}

/// Formats `YYYYMMDDTHHMMSSZ`.
fn format_amz_date(t: SystemTime) -> String {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Inverse of days_from_civil.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Signs `req` like a client would (aws-sigv4, service execute-api).
    pub(crate) fn sign_request(
        req: &mut http::Request<Vec<u8>>,
        key: &str,
        secret: &str,
        region: &str,
        at: SystemTime,
    ) {
        let identity = Credentials::new(key, secret, None, None, "test").into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(region)
            .name(SERVICE)
            .time(at)
            .settings(SigningSettings::default())
            .build()
            .unwrap()
            .into();
        let headers: Vec<(String, String)> = req
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_string()))
            .collect();
        let uri = req.uri().to_string();
        let signable = SignableRequest::new(
            req.method().as_str(),
            uri,
            headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            SignableBody::Bytes(req.body()),
        )
        .unwrap();
        let (instructions, _) = sign(signable, &params).unwrap().into_parts();
        instructions.apply_to_request_http1x(req);
    }

    fn request(key: &str, secret: &str, at: SystemTime) -> Parts {
        let mut req = http::Request::builder()
            .method("POST")
            .uri("/test/orders/1?x=a%20b")
            .header("host", "3eqr0osoc3.execute-api.us-east-1.amazonaws.com")
            .header("content-type", "application/json")
            .body(b"{\"n\":1}".to_vec())
            .unwrap();
        sign_request(&mut req, key, secret, "us-east-1", at);
        req.into_parts().0
    }

    #[test]
    fn verifies_good_and_rejects_bad_signatures() {
        let now = SystemTime::now();
        let body = b"{\"n\":1}";
        let ok = request(LAB_ACCESS_KEY_ID, LAB_SECRET_ACCESS_KEY, now);
        assert!(verify(&ok, body, "us-east-1", "111122223333", LAB_KEY, now).is_ok());
        assert_eq!(
            verify(&ok, b"tampered", "us-east-1", "1", LAB_KEY, now),
            Err(GatewayError::InvalidSignature(SIGNATURE_MISMATCH.into()))
        );
        let wrong_secret = request(LAB_ACCESS_KEY_ID, "nope", now);
        assert_eq!(
            verify(&wrong_secret, body, "us-east-1", "1", LAB_KEY, now),
            Err(GatewayError::InvalidSignature(SIGNATURE_MISMATCH.into()))
        );
        let unknown = request("AKIAUNKNOWN000000000", "x", now);
        assert_eq!(
            verify(&unknown, body, "us-east-1", "1", LAB_KEY, now),
            Err(GatewayError::UnrecognizedClient)
        );
        let old = request(
            LAB_ACCESS_KEY_ID,
            LAB_SECRET_ACCESS_KEY,
            now - Duration::from_secs(3600),
        );
        assert!(matches!(
            verify(&old, body, "us-east-1", "1", LAB_KEY, now),
            Err(GatewayError::InvalidSignature(m)) if m.starts_with("Signature expired: ")
        ));
        let mut unsigned = ok.clone();
        unsigned.headers.remove(http::header::AUTHORIZATION);
        assert_eq!(
            verify(&unsigned, body, "us-east-1", "1", LAB_KEY, now),
            Err(GatewayError::MissingAuthenticationToken)
        );
    }

    #[test]
    fn amz_dates_round_trip() {
        let t = parse_amz_date("20240229T235958Z").unwrap();
        assert_eq!(format_amz_date(t), "20240229T235958Z");
        assert_eq!(
            t.duration_since(UNIX_EPOCH).unwrap().as_secs(),
            1_709_251_198
        );
    }
}
