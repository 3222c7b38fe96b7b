//! Resource policy evaluation, just enough for private APIs: would a call arriving through
//! endpoint `vpce` be explicitly denied, allowed, or implicitly denied by this policy?
//! Conditions other than `aws:SourceVpce` make a statement "unknown" (treated as not applying).

use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    ExplicitDeny,
    ImplicitDeny,
}

/// Parse a policy as GetRestApi returns it: plain JSON, or JSON with `\"` / `\/` escapes.
pub fn parse(policy: &str) -> Option<Value> {
    serde_json::from_str(policy).ok().or_else(|| {
        let unescaped = policy.replace("\\\"", "\"").replace("\\/", "/");
        serde_json::from_str(&unescaped).ok()
    })
}

/// Evaluate `policy` for an `execute-api:Invoke` arriving through `vpce`.
pub fn evaluate(policy: &Value, vpce: &str) -> Decision {
    let statements: Vec<&Value> = match &policy["Statement"] {
        Value::Array(a) => a.iter().collect(),
        Value::Object(_) => vec![&policy["Statement"]],
        _ => Vec::new(),
    };
    let mut allowed = false;
    for s in statements {
        if !applies(s, vpce) {
            continue;
        }
        match s["Effect"].as_str() {
            Some("Deny") => return Decision::ExplicitDeny,
            Some("Allow") => allowed = true,
            _ => {}
        }
    }
    if allowed {
        Decision::Allow
    } else {
        Decision::ImplicitDeny
    }
}

/// The endpoint ids a policy names in `aws:SourceVpce` conditions.
pub fn named_endpoints(policy: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let text = policy.to_string();
    for part in text.split('"') {
        if part.starts_with("vpce-") && !out.contains(&part.to_string()) {
            out.push(part.to_string());
        }
    }
    out
}

fn values(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a
            .iter()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}

fn applies(s: &Value, vpce: &str) -> bool {
    let Some(cond) = s.get("Condition").and_then(|c| c.as_object()) else {
        return true;
    };
    for (op, kv) in cond {
        let Some(kv) = kv.as_object() else {
            return false;
        };
        for (key, v) in kv {
            if !key.eq_ignore_ascii_case("aws:SourceVpce") {
                return false;
            }
            let listed = values(v).iter().any(|x| x == vpce);
            let ok = match op.as_str() {
                "StringEquals" | "StringEqualsIgnoreCase" => listed,
                "StringNotEquals" | "StringNotEqualsIgnoreCase" => !listed,
                _ => return false,
            };
            if !ok {
                return false;
            }
        }
    }
    true
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
}
