//! Resource policy evaluation for private APIs: would an `execute-api:Invoke` arriving through an
//! endpoint (from its VPC), on a stage, method and path, be allowed, explicitly denied, implicitly
//! denied — or can pgw not tell (a condition on a key or a principal it cannot know)?
//!
//! IAM's rules, as far as execute-api resource policies use them: an explicit deny wins, then an
//! allow, else the implicit deny; `Action`/`NotAction`, `Resource`/`NotResource` with `*` and
//! `?` wildcards (`execute-api:/*/GET/*` is shorthand for the API's own ARN), `Principal` `*`;
//! condition operators `String[Not]Equals[IgnoreCase]`, `String[Not]Like`, their `…IfExists`
//! forms and `ForAnyValue:`/`ForAllValues:` prefixes, and `Null`, on `aws:SourceVpce` and
//! `aws:SourceVpc`. Anything else makes the statement unknown, and an unknown statement that
//! could decide makes the decision [`Decision::Unknown`]: never a guess.

use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    ExplicitDeny,
    ImplicitDeny,
    /// A statement that could decide depends on what pgw cannot know.
    Unknown,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Allow => "allow",
            Decision::ExplicitDeny => "explicit_deny",
            Decision::ImplicitDeny => "implicit_deny",
            Decision::Unknown => "unknown",
        }
    }
}

/// One call as the policy sees it.
#[derive(Debug, Clone, Default)]
pub struct Request<'a> {
    /// `aws:SourceVpce`.
    pub vpce: &'a str,
    /// `aws:SourceVpc`, when known.
    pub vpc: Option<&'a str>,
    /// `{api}/{stage}/{METHOD}/{path}` (the path without its leading `/`); `None`: any resource.
    pub resource: Option<String>,
    /// The caller signs its requests (a named principal may then match); unsigned calls are
    /// anonymous.
    pub signed: bool,
}

impl Request<'_> {
    /// The resource part of the ARN a call on `method` `path` of `api`'s `stage` invokes.
    pub fn resource(api: &str, stage: &str, method: &str, path: &str) -> String {
        format!(
            "{api}/{stage}/{}/{}",
            method.to_ascii_uppercase(),
            path.trim_start_matches('/')
        )
    }
}

/// Parse a policy as GetRestApi returns it: plain JSON, or JSON with `\"` / `\/` escapes.
pub fn parse(policy: &str) -> Option<Value> {
    serde_json::from_str(policy).ok().or_else(|| {
        let unescaped = policy.replace("\\\"", "\"").replace("\\/", "/");
        serde_json::from_str(&unescaped).ok()
    })
}

/// Evaluate `policy` for an `execute-api:Invoke` arriving through `vpce`, on any resource.
pub fn evaluate(policy: &Value, vpce: &str) -> Decision {
    evaluate_request(
        policy,
        &Request {
            vpce,
            ..Default::default()
        },
    )
}

/// Evaluate `policy` for the call `r`.
pub fn evaluate_request(policy: &Value, r: &Request) -> Decision {
    let (mut allow, mut deny) = (Tri::No, Tri::No);
    for s in statements(policy) {
        let a = applies(s, r);
        match s["Effect"].as_str() {
            Some("Deny") => deny = deny.or(a),
            Some("Allow") => allow = allow.or(a),
            _ => {}
        }
    }
    match (deny, allow) {
        (Tri::Yes, _) => Decision::ExplicitDeny,
        (Tri::Unknown, _) | (Tri::No, Tri::Unknown) => Decision::Unknown,
        (Tri::No, Tri::Yes) => Decision::Allow,
        (Tri::No, Tri::No) => Decision::ImplicitDeny,
    }
}

/// The endpoint ids (`vpce-…`) and VPC ids (`vpc-…`) a policy names anywhere.
pub fn named(policy: &Value) -> (Vec<String>, Vec<String>) {
    let (mut endpoints, mut vpcs) = (Vec::new(), Vec::new());
    let mut walk = vec![policy];
    while let Some(v) = walk.pop() {
        match v {
            Value::String(s) if s.starts_with("vpce-") => endpoints.push(s.clone()),
            Value::String(s) if s.starts_with("vpc-") => vpcs.push(s.clone()),
            Value::Array(a) => walk.extend(a.iter()),
            Value::Object(o) => walk.extend(o.values()),
            _ => {}
        }
    }
    for v in [&mut endpoints, &mut vpcs] {
        v.sort();
        v.dedup();
    }
    (endpoints, vpcs)
}

/// The endpoint ids a policy names.
pub fn named_endpoints(policy: &Value) -> Vec<String> {
    named(policy).0
}

/// The policy's statements (one statement object, or a list).
pub fn statements(policy: &Value) -> Vec<&Value> {
    match &policy["Statement"] {
        Value::Array(a) => a.iter().collect(),
        s @ Value::Object(_) => vec![s],
        _ => Vec::new(),
    }
}

/// Three-valued truth: whether a statement applies to the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tri {
    No,
    Unknown,
    Yes,
}

impl Tri {
    fn of(b: bool) -> Tri {
        if b {
            Tri::Yes
        } else {
            Tri::No
        }
    }
    fn and(self, o: Tri) -> Tri {
        match (self, o) {
            (Tri::No, _) | (_, Tri::No) => Tri::No,
            (Tri::Unknown, _) | (_, Tri::Unknown) => Tri::Unknown,
            _ => Tri::Yes,
        }
    }
    fn or(self, o: Tri) -> Tri {
        match (self, o) {
            (Tri::Yes, _) | (_, Tri::Yes) => Tri::Yes,
            (Tri::Unknown, _) | (_, Tri::Unknown) => Tri::Unknown,
            _ => Tri::No,
        }
    }
    fn not(self) -> Tri {
        match self {
            Tri::Yes => Tri::No,
            Tri::No => Tri::Yes,
            Tri::Unknown => Tri::Unknown,
        }
    }
}

fn values(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Bool(b) => vec![b.to_string()],
        Value::Array(a) => a
            .iter()
            .filter_map(|x| match x {
                Value::String(s) => Some(s.clone()),
                Value::Bool(b) => Some(b.to_string()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

fn applies(s: &Value, r: &Request) -> Tri {
    principal(s, r)
        .and(listed(s, "Action", "NotAction", |p| {
            wildcard(&p.to_ascii_lowercase(), "execute-api:invoke")
        }))
        .and(match &r.resource {
            None => Tri::Yes,
            Some(res) => listed(s, "Resource", "NotResource", |p| resource_matches(p, res)),
        })
        .and(conditions(s, r))
}

/// `Principal` `*` (or `{"AWS": "*"}`) is everyone; a named principal can be the caller only when
/// it signs, and pgw does not know who signs.
fn principal(s: &Value, r: &Request) -> Tri {
    if s.get("NotPrincipal").is_some() {
        return Tri::Unknown;
    }
    let Some(p) = s.get("Principal") else {
        return Tri::Yes;
    };
    let everyone = match p {
        Value::String(x) => x == "*",
        Value::Object(o) => o
            .get("AWS")
            .is_some_and(|a| values(a).iter().any(|x| x == "*")),
        _ => false,
    };
    match (everyone, r.signed) {
        (true, _) => Tri::Yes,
        (false, true) => Tri::Unknown,
        (false, false) => Tri::No,
    }
}

/// `key` lists patterns of which one must match; `not_key` lists patterns none may match.
/// Neither: applies.
fn listed(s: &Value, key: &str, not_key: &str, matches: impl Fn(&str) -> bool) -> Tri {
    if let Some(v) = s.get(key) {
        Tri::of(values(v).iter().any(|p| matches(p)))
    } else if let Some(v) = s.get(not_key) {
        Tri::of(!values(v).iter().any(|p| matches(p)))
    } else {
        Tri::Yes
    }
}

/// A `Resource` pattern against `{api}/{stage}/{METHOD}/{path}`: `*`, the API's own shorthand
/// `execute-api:/{stage}/{METHOD}/{path}`, or a full `arn:aws:execute-api:{region}:{account}:…`
/// (the policy is the API's own: its region and account are this API's).
fn resource_matches(pattern: &str, resource: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    if let Some(rest) = pattern.strip_prefix("execute-api:/") {
        let after_api = resource.split_once('/').map_or("", |(_, r)| r);
        return wildcard(rest, after_api);
    }
    let parts: Vec<&str> = pattern.splitn(6, ':').collect();
    match parts.as_slice() {
        ["arn", _, "execute-api", _, _, res] => wildcard(res, resource),
        _ => false,
    }
}

/// IAM wildcards: `*` any run of characters (`/` included), `?` one character.
fn wildcard(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(sp) = star {
            pi = sp + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// Every condition of the statement must hold.
fn conditions(s: &Value, r: &Request) -> Tri {
    let Some(cond) = s.get("Condition").and_then(|c| c.as_object()) else {
        return Tri::Yes;
    };
    let mut all = Tri::Yes;
    for (op, kv) in cond {
        let Some(kv) = kv.as_object() else {
            return Tri::Unknown;
        };
        for (key, v) in kv {
            all = all.and(condition(op, key, &values(v), r));
        }
    }
    all
}

/// One operator on one key.
fn condition(op: &str, key: &str, listed: &[String], r: &Request) -> Tri {
    let op = op
        .trim_start_matches("ForAnyValue:")
        .trim_start_matches("ForAllValues:");
    let if_exists = op.ends_with("IfExists");
    let op = op.trim_end_matches("IfExists");
    let value: Option<&str> = if key.eq_ignore_ascii_case("aws:SourceVpce") {
        Some(r.vpce)
    } else if key.eq_ignore_ascii_case("aws:SourceVpc") {
        match r.vpc {
            Some(v) => Some(v),
            None => return Tri::Unknown,
        }
    } else {
        // A key pgw does not know (aws:PrincipalOrgID, aws:SourceIp, …): it may or may not be
        // in the request, with any value.
        return Tri::Unknown;
    };
    let Some(value) = value else {
        return Tri::of(if_exists);
    };
    let eq = |ignore_case: bool| {
        Tri::of(listed.iter().any(|x| {
            if ignore_case {
                x.eq_ignore_ascii_case(value)
            } else {
                x == value
            }
        }))
    };
    let like = || Tri::of(listed.iter().any(|x| wildcard(x, value)));
    match op {
        "StringEquals" => eq(false),
        "StringEqualsIgnoreCase" => eq(true),
        "StringNotEquals" => eq(false).not(),
        "StringNotEqualsIgnoreCase" => eq(true).not(),
        "StringLike" => like(),
        "StringNotLike" => like().not(),
        // The key is present: `Null: true` does not hold, `Null: false` does.
        "Null" => Tri::of(listed.iter().any(|x| x == "false")),
        _ => Tri::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: &str = r#"{"Version":"2012-10-17","Statement":[
      {"Effect":"Deny","Principal":"*","Action":"execute-api:Invoke","Resource":["execute-api:/*"],
       "Condition":{"StringNotEquals":{"aws:SourceVpce":"vpce-0a1b2c3d4e5f60001"}}},
      {"Effect":"Allow","Principal":"*","Action":"execute-api:Invoke","Resource":["execute-api:/*"]}]}"#;

    #[test]
    fn seed_policy_allows_its_endpoint_and_denies_others() {
        let p = parse(SEED).unwrap();
        assert_eq!(evaluate(&p, "vpce-0a1b2c3d4e5f60001"), Decision::Allow);
        assert_eq!(
            evaluate(&p, "vpce-0000000000000000f"),
            Decision::ExplicitDeny
        );
        assert_eq!(named_endpoints(&p), vec!["vpce-0a1b2c3d4e5f60001"]);
    }

    #[test]
    fn escaped_policy_parses() {
        let escaped = SEED.replace('"', "\\\"");
        assert!(parse(&escaped).is_some());
    }

    #[test]
    fn no_allow_is_implicit_deny() {
        let p = parse(r#"{"Statement":[{"Effect":"Allow","Action":"execute-api:Invoke","Condition":{"StringEquals":{"aws:SourceVpce":"vpce-1"}}}]}"#).unwrap();
        assert_eq!(evaluate(&p, "vpce-2"), Decision::ImplicitDeny);
        assert_eq!(evaluate(&p, "vpce-1"), Decision::Allow);
    }

    const API: &str = "3eqr0osoc3";
    const MINE: &str = "vpce-0a1b2c3d4e5f60001";
    const MY_VPC: &str = "vpc-0aa11bb22cc33dd44";

    fn call<'a>(vpce: &'a str, vpc: &'a str, method: &str, path: &str) -> Request<'a> {
        Request {
            vpce,
            vpc: Some(vpc),
            resource: Some(Request::resource(API, "test", method, path)),
            signed: false,
        }
    }

    /// Real-world shapes: (name, policy, the call, what IAM decides).
    #[test]
    fn policy_shapes() {
        use Decision::*;
        let mine = || call(MINE, MY_VPC, "GET", "/orders");
        let stranger = || {
            call(
                "vpce-0ffffffffffffffff",
                "vpc-0ffffffffffffffff",
                "GET",
                "/orders",
            )
        };
        let cases: Vec<(&str, String, Request, Decision)> = vec![
            ("seed: deny unless this endpoint, then allow", SEED.into(), mine(), Allow),
            ("seed, another endpoint", SEED.into(), stranger(), ExplicitDeny),
            (
                "AWS example: allow only from one VPC",
                r#"{"Statement":[{"Effect":"Deny","Principal":"*","Action":"execute-api:Invoke","Resource":"execute-api:/*","Condition":{"StringNotEquals":{"aws:SourceVpc":"vpc-0aa11bb22cc33dd44"}}},{"Effect":"Allow","Principal":"*","Action":"execute-api:Invoke","Resource":"execute-api:/*"}]}"#.into(),
                mine(),
                Allow,
            ),
            (
                "AWS example, another VPC",
                r#"{"Statement":[{"Effect":"Deny","Principal":"*","Action":"execute-api:Invoke","Resource":"execute-api:/*","Condition":{"StringNotEquals":{"aws:SourceVpc":"vpc-0aa11bb22cc33dd44"}}},{"Effect":"Allow","Principal":"*","Action":"execute-api:Invoke","Resource":"execute-api:/*"}]}"#.into(),
                stranger(),
                ExplicitDeny,
            ),
            (
                "allow without a condition: open to every endpoint",
                r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"execute-api:Invoke","Resource":"execute-api:/*"}]}"#.into(),
                stranger(),
                Allow,
            ),
            (
                "allow with the endpoint in a list",
                r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"execute-api:Invoke","Resource":"execute-api:/*","Condition":{"StringEquals":{"aws:SourceVpce":["vpce-0bbbbbbbbbbbbbbbb","vpce-0a1b2c3d4e5f60001"]}}}]}"#.into(),
                mine(),
                Allow,
            ),
            (
                "StringEqualsIfExists on a present key",
                r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"execute-api:Invoke","Resource":"*","Condition":{"StringEqualsIfExists":{"aws:SourceVpce":"vpce-0bbbbbbbbbbbbbbbb"}}}]}"#.into(),
                mine(),
                ImplicitDeny,
            ),
            (
                "StringLike with a wildcard",
                r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"execute-api:*","Resource":"*","Condition":{"StringLike":{"aws:SourceVpce":"vpce-0a1b*"}}}]}"#.into(),
                mine(),
                Allow,
            ),
            (
                "ForAnyValue:StringEquals",
                r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"execute-api:Invoke","Resource":"*","Condition":{"ForAnyValue:StringEquals":{"aws:SourceVpce":["vpce-0a1b2c3d4e5f60001"]}}}]}"#.into(),
                mine(),
                Allow,
            ),
            (
                "resource for GET /health only: GET /orders not allowed",
                r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"execute-api:Invoke","Resource":"execute-api:/*/GET/health"}]}"#.into(),
                mine(),
                ImplicitDeny,
            ),
            (
                "resource execute-api:/*/GET/*",
                r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"execute-api:Invoke","Resource":"execute-api:/*/GET/*"}]}"#.into(),
                mine(),
                Allow,
            ),
            (
                "resource execute-api:/*/GET/* against POST",
                r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"execute-api:Invoke","Resource":"execute-api:/*/GET/*"}]}"#.into(),
                call(MINE, MY_VPC, "POST", "/orders"),
                ImplicitDeny,
            ),
            (
                "full ARN of the stage",
                r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"execute-api:Invoke","Resource":"arn:aws:execute-api:us-east-1:111122223333:3eqr0osoc3/test/*"}]}"#.into(),
                mine(),
                Allow,
            ),
            (
                "full ARN of another stage",
                r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"execute-api:Invoke","Resource":"arn:aws:execute-api:us-east-1:111122223333:3eqr0osoc3/prod/*"}]}"#.into(),
                mine(),
                ImplicitDeny,
            ),
            (
                "deny on one path beside a general allow",
                r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"execute-api:Invoke","Resource":"execute-api:/*"},{"Effect":"Deny","Principal":"*","Action":"execute-api:Invoke","Resource":"execute-api:/*/*/orders"}]}"#.into(),
                mine(),
                ExplicitDeny,
            ),
            (
                "NotResource: everything but /admin",
                r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"execute-api:Invoke","NotResource":"execute-api:/*/*/admin*"}]}"#.into(),
                mine(),
                Allow,
            ),
            (
                "an action that is not Invoke",
                r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"execute-api:ManageConnections","Resource":"*"}]}"#.into(),
                mine(),
                ImplicitDeny,
            ),
            (
                "a named principal: anonymous calls do not match",
                r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"execute-api:Invoke","Resource":"*"}]}"#.into(),
                mine(),
                ImplicitDeny,
            ),
            (
                "a condition on aws:PrincipalOrgID: pgw cannot tell",
                r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"execute-api:Invoke","Resource":"*","Condition":{"StringEquals":{"aws:PrincipalOrgID":"o-abc123"}}}]}"#.into(),
                mine(),
                Unknown,
            ),
            (
                "a deny on aws:SourceIp: unknown, never a guess",
                r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"execute-api:Invoke","Resource":"*"},{"Effect":"Deny","Principal":"*","Action":"execute-api:Invoke","Resource":"*","Condition":{"NotIpAddress":{"aws:SourceIp":"10.0.0.0/8"}}}]}"#.into(),
                mine(),
                Unknown,
            ),
            (
                "broken: Allow with Condition StringNotEquals on the endpoint (allows every other)",
                r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"execute-api:Invoke","Resource":"*","Condition":{"StringNotEquals":{"aws:SourceVpce":"vpce-0a1b2c3d4e5f60001"}}}]}"#.into(),
                mine(),
                ImplicitDeny,
            ),
            (
                "broken: the same, from a stranger",
                r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"execute-api:Invoke","Resource":"*","Condition":{"StringNotEquals":{"aws:SourceVpce":"vpce-0a1b2c3d4e5f60001"}}}]}"#.into(),
                stranger(),
                Allow,
            ),
            (
                "broken: no statement",
                r#"{"Version":"2012-10-17","Statement":[]}"#.into(),
                mine(),
                ImplicitDeny,
            ),
            (
                "a single statement object, not a list",
                r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"*","Resource":"*"}}"#.into(),
                mine(),
                Allow,
            ),
        ];
        for (name, text, req, want) in cases {
            let p = parse(&text).unwrap_or_else(|| panic!("{name}: does not parse"));
            assert_eq!(evaluate_request(&p, &req), want, "{name}");
        }
    }

    #[test]
    fn wildcards() {
        assert!(wildcard("*/GET/*", "test/GET/orders/1"));
        assert!(wildcard("test/?ET/*", "test/GET/"));
        assert!(!wildcard("test/GET/health", "test/GET/healthz"));
        assert!(wildcard("*", ""));
    }

    #[test]
    fn names_endpoints_and_vpcs() {
        let p = parse(r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"execute-api:Invoke","Resource":"*","Condition":{"StringEquals":{"aws:SourceVpce":["vpce-2","vpce-1"],"aws:SourceVpc":"vpc-9"}}}]}"#).unwrap();
        assert_eq!(
            named(&p),
            (vec!["vpce-1".into(), "vpce-2".into()], vec!["vpc-9".into()])
        );
    }
}
