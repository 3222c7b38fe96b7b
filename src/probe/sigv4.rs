//! SigV4 for invokes: sign a request for service `execute-api`, covering the Host actually sent,
//! with credentials from the standard AWS chain (environment, profile, web identity, IMDSv2).

use std::time::{Duration, SystemTime};

use aws_credential_types::provider::ProvideCredentials;
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;

use super::invoke::Request;
use super::ProbeError;

/// Load credentials from the standard chain, bounded by `timeout`.
pub async fn load_credentials(region: &str, timeout: Duration) -> Result<Credentials, ProbeError> {
    let region = aws_config::Region::new(region.to_string());
    let fut = async move {
        let chain = aws_config::default_provider::credentials::DefaultCredentialsChain::builder()
            .region(region)
            .build()
            .await;
        chain.provide_credentials().await
    };
    match tokio::time::timeout(timeout, fut).await {
        Err(_) => Err(ProbeError::CredentialsTimeout),
        Ok(Err(e)) => Err(ProbeError::NoCredentials(e.to_string())),
        Ok(Ok(c)) => Ok(c),
    }
}

/// Add the SigV4 headers (`authorization`, `x-amz-date`, session token) to `req`.
/// `host` must be the Host header that will be sent.
pub fn sign_request(
    req: &mut Request,
    host: &str,
    region: &str,
    creds: &Credentials,
    now: SystemTime,
) -> Result<(), ProbeError> {
    let url = format!("https://{host}{}", req.path);
    let added = signature_headers(
        req.method.as_str(),
        &url,
        &req.headers,
        &[],
        ("execute-api", region),
        creds,
        now,
    )?;
    req.headers.extend(added);
    Ok(())
}

/// The SigV4 headers (`authorization`, `x-amz-date`, session token, and `x-amz-content-sha256`
/// when the body is not empty) of a `method` request to `url` with `headers` and `body`, for
/// `(service, region)`.
pub fn signature_headers(
    method: &str,
    url: &str,
    headers: &[(String, String)],
    body: &[u8],
    (service, region): (&str, &str),
    creds: &Credentials,
    now: SystemTime,
) -> Result<Vec<(String, String)>, ProbeError> {
    let identity: Identity = creds.clone().into();
    let params: aws_sigv4::http_request::SigningParams<'_> = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(now)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| ProbeError::Sign(format!("signing parameters: {e}")))?
        .into();
    let signable = SignableRequest::new(
        method,
        url,
        headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        SignableBody::Bytes(body),
    )
    .map_err(|e| ProbeError::Sign(e.to_string()))?;
    let (instructions, _sig) = sign(signable, &params)
        .map_err(|e| ProbeError::Sign(e.to_string()))?
        .into_parts();
    let (new_headers, _) = instructions.into_parts();
    Ok(new_headers
        .into_iter()
        .map(|h| (h.name().to_string(), h.value().to_string()))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_with_execute_api_scope_and_host() {
        let creds = Credentials::new("AKIDEXAMPLE", "secret", None, None, "test");
        let mut req = Request {
            method: http::Method::GET,
            path: "/test/pgw-probe".into(),
            headers: vec![(
                "host".into(),
                "3eqr0osoc3.execute-api.us-east-1.amazonaws.com".into(),
            )],
        };
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        sign_request(
            &mut req,
            "3eqr0osoc3.execute-api.us-east-1.amazonaws.com",
            "us-east-1",
            &creds,
            t,
        )
        .unwrap();
        let auth = &req
            .headers
            .iter()
            .find(|(k, _)| k == "authorization")
            .unwrap()
            .1;
        assert!(auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20231114/us-east-1/execute-api/aws4_request"), "{auth}");
        assert!(auth.contains("SignedHeaders=host;x-amz-date"), "{auth}");
        assert!(req
            .headers
            .iter()
            .any(|(k, v)| k == "x-amz-date" && v == "20231114T221320Z"));
    }
}
