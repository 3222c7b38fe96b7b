//! API Gateway's own responses, byte for byte as AWS sends them (lab/README.md: how the faults are made real):
//! status, `x-amzn-ErrorType`, JSON body, and the id headers every gateway response carries.

use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_TYPE};
use http::{HeaderMap, Response, StatusCode};
use http_body_util::Full;

use crate::ids;

/// The body type of every response the lab serves.
pub(crate) type Body = Full<Bytes>;

/// A response API Gateway generates itself (not relayed from the backend).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum GatewayError {
    /// 403: unknown API / stage, private API on the public front end, missing Host.
    Forbidden,
    /// 403: no method matches, or an unsigned call to an AWS_IAM method.
    MissingAuthenticationToken,
    /// 403: malformed SigV4 Authorization header.
    IncompleteSignature(String),
    /// 403: SigV4 signature mismatch, wrong scope or expired.
    InvalidSignature(String),
    /// 403: unknown access key id.
    UnrecognizedClient,
    /// 403: the resource policy does not allow (`explicit` = a Deny matched).
    AccessDenied {
        user: String,
        arn: String,
        explicit: bool,
    },
    /// 403: the execute-api endpoint's policy does not allow the call.
    AccessDeniedByEndpointPolicy { user: String, arn: String },
    /// 413: body over 10 MiB.
    RequestTooLarge,
    /// 429.
    TooManyRequests,
    /// 500: VPC link or integration configuration error.
    InternalServerError,
    /// 504: the integration connection failed or was reset/closed.
    NetworkError,
    /// 504: no integration response within `timeoutInMillis`.
    EndpointTimeout,
}

/// The line API Gateway writes into the stage's execution log for a request it failed (after
/// `(<request id>) `), carried on the response as an extension (never sent).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LogLine(pub(crate) String);

/// The text of an `InvalidSignatureException` for a signature mismatch.
pub(crate) const SIGNATURE_MISMATCH: &str = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";

fn json_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

impl GatewayError {
    fn status(&self) -> StatusCode {
        match self {
            GatewayError::RequestTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            GatewayError::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            GatewayError::InternalServerError => StatusCode::INTERNAL_SERVER_ERROR,
            GatewayError::NetworkError | GatewayError::EndpointTimeout => {
                StatusCode::GATEWAY_TIMEOUT
            }
            _ => StatusCode::FORBIDDEN,
        }
    }

    fn error_type(&self) -> Option<&'static str> {
        Some(match self {
            GatewayError::Forbidden => "ForbiddenException",
            GatewayError::MissingAuthenticationToken => "MissingAuthenticationTokenException",
            GatewayError::IncompleteSignature(_) => "IncompleteSignatureException",
            GatewayError::InvalidSignature(_) => "InvalidSignatureException",
            GatewayError::UnrecognizedClient => "UnrecognizedClientException",
            GatewayError::AccessDenied { .. }
            | GatewayError::AccessDeniedByEndpointPolicy { .. } => "AccessDeniedException",
            GatewayError::RequestTooLarge => return None,
            GatewayError::TooManyRequests => "TooManyRequestsException",
            GatewayError::InternalServerError
            | GatewayError::NetworkError
            | GatewayError::EndpointTimeout => "InternalServerErrorException",
        })
    }

    /// The exact body AWS sends (note the spacing differences between families).
    pub(crate) fn body(&self) -> String {
        match self {
            GatewayError::Forbidden => r#"{"message":"Forbidden"}"#.into(),
            GatewayError::MissingAuthenticationToken => {
                r#"{"message":"Missing Authentication Token"}"#.into()
            }
            GatewayError::IncompleteSignature(m) | GatewayError::InvalidSignature(m) => {
                format!("{{\"message\":{}}}", json_string(m))
            }
            GatewayError::UnrecognizedClient => {
                r#"{"message":"The security token included in the request is invalid."}"#.into()
            }
            GatewayError::AccessDenied {
                user,
                arn,
                explicit,
            } => {
                let deny = if *explicit {
                    " with an explicit deny"
                } else {
                    ""
                };
                let msg = format!(
                    "User: {user} is not authorized to perform: execute-api:Invoke on resource: {arn}{deny}"
                );
                format!("{{\"Message\":{}}}", json_string(&msg))
            }
            GatewayError::AccessDeniedByEndpointPolicy { user, arn } => {
                let msg = format!(
                    "User: {user} is not authorized to perform: execute-api:Invoke on resource: {arn} because no VPC endpoint policy allows the execute-api:Invoke action"
                );
                format!("{{\"Message\":{}}}", json_string(&msg))
            }
            GatewayError::RequestTooLarge => {
                r#"{"message":"HTTP content length exceeded 10485760 bytes."}"#.into()
            }
            GatewayError::TooManyRequests => r#"{"message":"Too Many Requests"}"#.into(),
            GatewayError::InternalServerError => r#"{"message": "Internal server error"}"#.into(),
            GatewayError::NetworkError => {
                r#"{"message": "Network error communicating with endpoint"}"#.into()
            }
            GatewayError::EndpointTimeout => r#"{"message": "Endpoint request timed out"}"#.into(),
        }
    }

    /// The execution-log line for this failure; `None` for what API Gateway does not log (an
    /// unknown path's Missing Authentication Token, a request it could not tie to a stage).
    pub(crate) fn log_line(&self) -> Option<String> {
        Some(match self {
            GatewayError::AccessDenied {
                user,
                arn,
                explicit,
            } => format!(
                "User: {user} is not authorized to perform: execute-api:Invoke on resource: {arn}{}",
                if *explicit { " with an explicit deny" } else { "" }
            ),
            GatewayError::InternalServerError => "Execution failed due to configuration error: There was an internal error while executing your request".into(),
            GatewayError::NetworkError => "Execution failed due to a network error communicating with endpoint".into(),
            GatewayError::EndpointTimeout => "Execution failed due to a timeout error".into(),
            GatewayError::IncompleteSignature(m) | GatewayError::InvalidSignature(m) => m.clone(),
            _ => return None,
        })
    }

    /// The full HTTP response.
    pub(crate) fn response(&self) -> Response<Body> {
        let mut resp = Response::new(Full::new(Bytes::from(self.body())));
        *resp.status_mut() = self.status();
        let h = resp.headers_mut();
        h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        stamp(h);
        if let Some(t) = self.error_type() {
            h.insert("x-amzn-ErrorType", HeaderValue::from_static(t));
        }
        if let Some(l) = self.log_line() {
            resp.extensions_mut().insert(LogLine(l));
        }
        resp
    }
}

/// Adds `x-amzn-RequestId` and `x-amz-apigw-id`, as on every gateway response.
pub(crate) fn stamp(h: &mut HeaderMap) {
    for (name, value) in [
        ("x-amzn-RequestId", ids::request_id()),
        ("x-amz-apigw-id", ids::apigw_id()),
    ] {
        if let Ok(v) = HeaderValue::from_str(&value) {
            h.insert(name, v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_match_aws() {
        let r = GatewayError::MissingAuthenticationToken.response();
        assert_eq!(r.status(), 403);
        assert_eq!(
            r.headers()["x-amzn-ErrorType"],
            "MissingAuthenticationTokenException"
        );
        assert!(r.headers().contains_key("x-amzn-RequestId"));
        let denied = GatewayError::AccessDenied {
            user: "anonymous".into(),
            arn: "arn:aws:execute-api:us-east-1:111122223333:3eqr0osoc3/test/GET/".into(),
            explicit: true,
        };
        assert_eq!(
            denied.body(),
            r#"{"Message":"User: anonymous is not authorized to perform: execute-api:Invoke on resource: arn:aws:execute-api:us-east-1:111122223333:3eqr0osoc3/test/GET/ with an explicit deny"}"#
        );
        assert_eq!(GatewayError::EndpointTimeout.response().status(), 504);
    }
}
