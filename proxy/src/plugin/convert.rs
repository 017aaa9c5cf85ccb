//! Conversions between the gateway's HTTP types and the WIT types plugins see.

use super::bindings::policy::ClientCert;
use super::bindings::types::{self, MultiValue, Pair};
use super::messages::{LentContext, RequestView};
use crate::body::Body;
use crate::ctx::RouteInfo;
use crate::ctx::{decoded_param, RequestCtx};
use http::{HeaderMap, HeaderName, HeaderValue, Response, StatusCode};
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// What the 0.1.0 request record and the 0.3.0 view both carry.
struct Common<'a> {
    resource_path: &'a str,
    request_id: uuid::fmt::Hyphenated,
    api_id: &'a str,
    stage: &'a str,
    user_agent: Option<&'a str>,
}

fn common<'a>(rt: &'a dyn RouteInfo, ctx: &'a RequestCtx) -> Common<'a> {
    let names = rt.names(ctx);
    Common {
        resource_path: names.resource.unwrap_or(""),
        request_id: ctx.request_id.hyphenated(),
        api_id: names.api.unwrap_or(""),
        stage: names.stage.unwrap_or(""),
        user_agent: ctx.user_agent.as_ref().and_then(|v| v.to_str().ok()),
    }
}

/// The WIT request for `ctx`'s request with `headers` and `body`.
pub fn request(
    rt: &dyn RouteInfo,
    ctx: &RequestCtx,
    headers: &HeaderMap,
    body: Vec<u8>,
) -> types::Request {
    let c = common(rt, ctx);
    let auth = ctx.authorizer.as_deref();
    types::Request {
        method: ctx.method.as_str().to_owned(),
        path: ctx.path().to_owned(),
        resource_path: c.resource_path.to_owned(),
        path_parameters: rt
            .path_parameters(ctx)
            .into_iter()
            .map(|(name, value)| Pair {
                name: name.to_owned(),
                value,
            })
            .collect(),
        query: query(ctx.query()),
        headers: with_client_cert(multi_headers(headers), ctx),
        body,
        stage_variables: pairs(rt.stage_variables(ctx)),
        context: types::RequestContext {
            request_id: c
                .request_id
                .encode_lower(&mut uuid::Uuid::encode_buffer())
                .to_owned(),
            api_id: c.api_id.to_owned(),
            stage: c.stage.to_owned(),
            source_ip: ctx.source_ip_text(),
            user_agent: c.user_agent.map(str::to_owned),
            principal_id: auth.map(|a| a.principal_id.clone()),
            authorizer: authorizer_pairs(auth),
            request_time_epoch: ctx.request_time_ms(),
        },
    }
}

/// The request as a 0.3.0 plugin is lent it: the same content as [`request`], with the
/// method ARN and the client certificate, but `headers` kept as they are and turned into text
/// only when the plugin asks.
pub fn lent_request(
    rt: &dyn RouteInfo,
    ctx: &RequestCtx,
    headers: LentHeaders,
    body: bytes::Bytes,
    method_arn: std::sync::Arc<str>,
) -> RequestView {
    let c = common(rt, ctx);
    let auth = ctx.authorizer.as_deref();
    let params = rt.path_parameter_names(ctx);
    // A decoded value is never longer than its raw text.
    let param_bytes = params
        .iter()
        .enumerate()
        .map(|(i, name)| name.len() + ctx.param_raw(i).map_or(0, str::len))
        .sum();
    let mut context = LentContext::new(
        [
            c.request_id.encode_lower(&mut uuid::Uuid::encode_buffer()),
            c.api_id,
            c.stage,
        ],
        [ctx.path(), c.resource_path],
        ctx.source_ip,
        c.user_agent,
        ctx.request_time_ms(),
        param_bytes,
    );
    for (i, name) in params.iter().enumerate() {
        context.push_path_parameter(name, &decoded_param(ctx, i));
    }
    RequestView {
        method: ctx.method.clone(),
        headers: headers.0,
        query: query(ctx.query()),
        stage_variables: pairs(rt.stage_variables(ctx)),
        context,
        method_arn,
        client_cert: client_cert(ctx),
        principal_id: auth.map(|a| a.principal_id.clone()),
        authorizer: authorizer_pairs(auth),
        body,
    }
}

/// Headers as a 0.3.0 plugin sees them: the client certificate header put in as for 0.1.0,
/// and one the client sent taken out. Only [`lent_headers`] and [`take_as_sent`] make them, so
/// no header of that name from a client reaches a plugin.
#[derive(Debug)]
pub struct LentHeaders(HeaderMap);

/// A copy of `headers` as a 0.3.0 plugin sees them.
pub fn lent_headers(ctx: &RequestCtx, headers: &HeaderMap) -> LentHeaders {
    let mut headers = headers.clone();
    headers.remove(CLIENT_CERT_HEADER);
    if let Some(cert) = ctx.client_cert.as_deref() {
        if let Ok(v) = HeaderValue::from_str(&client_cert_form(cert)) {
            headers.insert(CLIENT_CERT_HEADER, v);
        }
    }
    LentHeaders(headers)
}

/// The request's own `headers`, taken out of it (to be put back after the call), where a
/// 0.3.0 plugin would see them unchanged: no verified client certificate to put in, and no
/// header of its name from the client to take out. `None` otherwise: lend [`lent_headers`]'s
/// copy.
pub fn take_as_sent(ctx: &RequestCtx, headers: &mut HeaderMap) -> Option<LentHeaders> {
    (ctx.client_cert.is_none() && !headers.contains_key(CLIENT_CERT_HEADER))
        .then(|| LentHeaders(std::mem::take(headers)))
}

/// The verified mutual TLS client certificate, as 0.2.0 and later plugins see it.
pub fn client_cert(ctx: &RequestCtx) -> Option<ClientCert> {
    ctx.client_cert.as_deref().map(|cert| ClientCert {
        pem: cert.pem.clone(),
        subject_dn: cert.subject_dn.clone(),
        issuer_dn: cert.issuer_dn.clone(),
        serial_number: cert.serial_number.clone(),
        not_before: cert.not_before.clone(),
        not_after: cert.not_after.clone(),
    })
}

/// Applies a 0.3.0 mapper's header edits: each named header is replaced by the values given,
/// none removing it. Nothing changes if any name or value is malformed.
pub fn edit_headers(headers: &mut HeaderMap, edits: &[MultiValue]) -> Result<(), String> {
    let new = header_map(edits)?;
    for mv in edits {
        // Valid: `header_map` checked every name.
        if let Ok(name) = HeaderName::from_bytes(mv.name.as_bytes()) {
            headers.remove(name);
        }
    }
    for (name, value) in &new {
        headers.append(name.clone(), value.clone());
    }
    Ok(())
}

/// API Gateway's pair of maps for events: each name's last value (`headers`,
/// `queryStringParameters`) and all its values (`multiValueHeaders`, ...).
pub fn last_and_all(
    list: Vec<MultiValue>,
) -> (
    serde_json::Map<String, serde_json::Value>,
    serde_json::Map<String, serde_json::Value>,
) {
    let mut last = serde_json::Map::new();
    let mut all = serde_json::Map::new();
    for mv in list {
        if let Some(v) = mv.values.last() {
            last.insert(mv.name.clone(), v.as_str().into());
        }
        all.insert(mv.name, mv.values.into());
    }
    (last, all)
}

/// Name/value pairs as WIT sees them (stage variables, ...).
pub fn pairs(list: &[(Box<str>, Box<str>)]) -> Vec<Pair> {
    list.iter()
        .map(|(k, v)| Pair {
            name: k.to_string(),
            value: v.to_string(),
        })
        .collect()
}

/// An authorizer's context map as WIT pairs (empty without an authorizer).
pub fn authorizer_pairs(auth: Option<&crate::ctx::AuthContext>) -> Vec<Pair> {
    auth.map(|a| {
        let claims = a.jwt.iter().flat_map(|j| &j.claims);
        a.context
            .iter()
            .map(|(k, v)| Pair {
                name: k.clone(),
                value: v.clone(),
            })
            .chain(claims.map(|(k, v)| Pair {
                name: format!("claims.{k}"),
                value: v.clone(),
            }))
            .collect()
    })
    .unwrap_or_default()
}

fn decode(s: &str) -> String {
    percent_decode_str(s).decode_utf8_lossy().into_owned()
}

/// Query string parameters, decoded, grouped by name in first-seen order. Linear in the
/// number of parameters: every plugin call, Lambda event, mapping template and WebSocket
/// `$connect` reads the query through here, and a client chooses how many it sends.
pub fn query(q: Option<&str>) -> Vec<MultiValue> {
    let mut groups: indexmap::IndexMap<String, Vec<String>> = indexmap::IndexMap::new();
    for part in q.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        groups.entry(decode(k)).or_default().push(decode(v));
    }
    groups
        .into_iter()
        .map(|(name, values)| MultiValue { name, values })
        .collect()
}

/// The header that carries the mutual TLS client certificate to plugins.
pub const CLIENT_CERT_HEADER: &str = "x-gatehouse-client-cert";

/// Characters escaped in the form-encoded context headers.
const FORM: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

pub fn form<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut out = String::new();
    for (k, v) in pairs {
        if !out.is_empty() {
            out.push('&');
        }
        out.extend(utf8_percent_encode(k, FORM));
        out.push('=');
        out.extend(utf8_percent_encode(v, FORM));
    }
    out
}

/// The value of the [`CLIENT_CERT_HEADER`]: the certificate's fields as
/// `application/x-www-form-urlencoded` pairs.
pub fn client_cert_form(cert: &crate::ctx::ClientCert) -> String {
    let fields = crate::ctx::ClientCert::FIELDS
        .iter()
        .filter_map(|f| Some((*f, cert.field(f)?)));
    form(fields)
}

/// `headers` less any the client sent as `x-gatehouse-client-cert`, plus that header with the
/// mutual TLS client certificate (the gatehouse:plugin@0.1.0 request has no field for it), so
/// a plugin can trust it.
fn with_client_cert(mut headers: Vec<MultiValue>, ctx: &RequestCtx) -> Vec<MultiValue> {
    headers.retain(|h| h.name != CLIENT_CERT_HEADER);
    if let Some(cert) = ctx.client_cert.as_deref() {
        headers.push(MultiValue {
            name: CLIENT_CERT_HEADER.to_owned(),
            values: vec![client_cert_form(cert)],
        });
    }
    headers
}

/// Headers grouped by (lowercase) name, in one pass, as plugins see them.
pub use super::messages::multi_headers;

/// Headers from a plugin, checked.
pub fn header_map(list: &[MultiValue]) -> Result<HeaderMap, String> {
    let mut out = HeaderMap::with_capacity(list.len());
    for mv in list {
        let name = HeaderName::from_bytes(mv.name.as_bytes())
            .map_err(|_| format!("`{}` is not a valid header name", mv.name))?;
        for v in &mv.values {
            let value = HeaderValue::from_str(v).map_err(|_| {
                format!(
                    "the value of header `{}` is not a valid header value",
                    mv.name
                )
            })?;
            out.append(name.clone(), value);
        }
    }
    Ok(out)
}

/// A status code from a plugin, checked.
pub fn final_status(status: u16) -> Result<StatusCode, String> {
    StatusCode::from_u16(status)
        .ok()
        .filter(|s| (100..=599).contains(&s.as_u16()) && !s.is_informational())
        .ok_or_else(|| format!("status {status} is not a final HTTP status"))
}

/// An HTTP response from a plugin's response, checked.
pub fn http_response(resp: types::Response) -> Result<Response<Body>, String> {
    let status = final_status(resp.status)?;
    let headers = header_map(&resp.headers)?;
    let mut out = Response::new(Body::full(resp.body));
    *out.status_mut() = status;
    *out.headers_mut() = headers;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_decoded_and_grouped() {
        let q = query(Some("a=1&b=x%20y&a=2&flag"));
        assert_eq!(q.len(), 3);
        assert_eq!(q[0].name, "a");
        assert_eq!(q[0].values, vec!["1", "2"]);
        assert_eq!(q[1].values, vec!["x y"]);
        assert_eq!(q[2].values, vec![""]);
    }

    #[test]
    fn many_parameters_group_in_one_pass() {
        let q: String = (0..60_000).map(|i| format!("p{i}=v&")).collect();
        let grouped = query(Some(&format!("{q}p7=again")));
        assert_eq!(grouped.len(), 60_000);
        assert_eq!(grouped[7].values, vec!["v", "again"]);
        assert_eq!(grouped[59_999].name, "p59999");
    }

    #[test]
    fn headers_are_grouped_by_name_with_every_value() {
        let mut h = HeaderMap::new();
        h.append("x-a", HeaderValue::from_static("1"));
        h.append("x-b", HeaderValue::from_static("2"));
        h.append("x-a", HeaderValue::from_static("3"));
        h.append("x-c", HeaderValue::from_bytes(b"caf\xe9").unwrap());
        let grouped = multi_headers(&h);
        let got: Vec<(&str, Vec<&str>)> = grouped
            .iter()
            .map(|m| {
                (
                    m.name.as_str(),
                    m.values.iter().map(String::as_str).collect(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("x-a", vec!["1", "3"]),
                ("x-b", vec!["2"]),
                ("x-c", vec!["caf\u{fffd}"])
            ]
        );
    }

    #[test]
    fn malformed_plugin_responses_are_refused() {
        let bad_status = types::Response {
            status: 1000,
            headers: vec![],
            body: vec![],
        };
        assert!(http_response(bad_status)
            .unwrap_err()
            .contains("status 1000"));
        let bad_header = types::Response {
            status: 200,
            headers: vec![MultiValue {
                name: "bad name".into(),
                values: vec!["x".into()],
            }],
            body: vec![],
        };
        assert!(http_response(bad_header)
            .unwrap_err()
            .contains("`bad name`"));
    }

    #[test]
    fn headers_are_taken_as_sent_only_when_the_plugin_would_see_them_so() {
        let (parts, ()) = http::Request::new(()).into_parts();
        let mut ctx = RequestCtx::new(&parts, "127.0.0.1".parse().unwrap(), false);
        let mut h = HeaderMap::new();
        h.append("x-a", HeaderValue::from_static("1"));
        h.append("x-a", HeaderValue::from_static("2"));
        assert_eq!(lent_headers(&ctx, &h).0, h);
        let mut taken = h.clone();
        assert_eq!(take_as_sent(&ctx, &mut taken).unwrap().0, h);
        assert!(taken.is_empty(), "taken out, to be put back");

        // A client's own certificate header is taken out of what the plugin sees.
        let mut forged = h.clone();
        forged.insert(
            CLIENT_CERT_HEADER,
            HeaderValue::from_static("subjectDN=CN%3Dx"),
        );
        assert!(take_as_sent(&ctx, &mut forged).is_none());
        assert_eq!(forged.len(), 3, "left in place");
        assert_eq!(lent_headers(&ctx, &forged).0, h);

        // A verified certificate is put in.
        ctx.client_cert = Some(std::sync::Arc::new(crate::ctx::ClientCert {
            pem: String::new(),
            subject_dn: "CN=alice".into(),
            issuer_dn: "CN=ca".into(),
            serial_number: "7".into(),
            not_before: String::new(),
            not_after: String::new(),
        }));
        assert!(take_as_sent(&ctx, &mut h.clone()).is_none());
        let lent = lent_headers(&ctx, &h).0;
        assert!(lent[CLIENT_CERT_HEADER]
            .to_str()
            .unwrap()
            .contains("CN%3Dalice"));
        assert_eq!(lent.get_all("x-a").iter().count(), 2);
    }

    fn mv(name: &str, values: &[&str]) -> MultiValue {
        MultiValue {
            name: name.into(),
            values: values.iter().map(|v| v.to_string()).collect(),
        }
    }

    #[test]
    fn header_edits_replace_remove_and_refuse_as_a_whole() {
        let mut h = HeaderMap::new();
        h.append("x-a", HeaderValue::from_static("1"));
        h.append("x-a", HeaderValue::from_static("2"));
        h.append("x-keep", HeaderValue::from_static("k"));
        h.append("x-gone", HeaderValue::from_static("g"));
        let edits = [
            mv("X-A", &["3"]),
            mv("x-gone", &[]),
            mv("x-new", &["n1", "n2"]),
        ];
        edit_headers(&mut h, &edits).unwrap();
        let all =
            |n: &str| -> Vec<&str> { h.get_all(n).iter().map(|v| v.to_str().unwrap()).collect() };
        assert_eq!(
            all("x-a"),
            ["3"],
            "every value of a named header is replaced"
        );
        assert!(
            h.get("x-gone").is_none(),
            "an empty list removes the header"
        );
        assert_eq!(all("x-new"), ["n1", "n2"]);
        assert_eq!(all("x-keep"), ["k"], "a header not named is left as it was");

        let before = h.clone();
        let bad = [mv("x-keep", &[]), mv("bad name", &["x"])];
        assert!(edit_headers(&mut h, &bad)
            .unwrap_err()
            .contains("`bad name`"));
        assert_eq!(h, before, "a malformed edit changes nothing");
        let bad_value = [mv("x-a", &["line\nbreak"])];
        assert!(edit_headers(&mut h, &bad_value).is_err());
        assert_eq!(h, before);
    }
}
