//! `gatehouse:plugin/request@0.3.0` and `response@0.3.0`: the request and response a 0.3.0
//! plugin's call is for. The gateway builds a [`RequestView`] (and for a response mapper a
//! [`ResponseView`]); the call puts it in the store's state, where these host functions read
//! it, and takes it out again when the call returns. Each function copies only the field it
//! answers into the guest.

use crate::bindings::lent_request::{Host as RequestHost, RequestContext};
use crate::bindings::lent_response::Host as ResponseHost;
use crate::bindings::policy::ClientCert;
use crate::bindings::types::{MultiValue, Pair};
use crate::CallState;
use bytes::Bytes;
use http::HeaderMap;
use std::sync::Arc;
use wasmtime::component::{Linker, WasmStr};
use wasmtime::StoreContextMut;

/// The request as a 0.3.0 plugin reads it. Header names are looked up in any case.
#[derive(Debug)]
pub struct RequestView {
    pub method: http::Method,
    /// The client's headers, the verified client certificate among them as in 0.1.0.
    pub headers: HeaderMap,
    /// Query string parameters, percent-decoded, in the order they came.
    pub query: Vec<MultiValue>,
    pub stage_variables: Vec<Pair>,
    /// The path, the resource path, the path parameters and the context's texts.
    pub context: LentContext,
    /// Shared, not copied: the gateway evaluates the plugin's policy for it after the call,
    /// and `request.method-arn()` lowers it into the plugin from here.
    pub method_arn: Arc<str>,
    pub client_cert: Option<ClientCert>,
    pub principal_id: Option<String>,
    pub authorizer: Vec<Pair>,
    /// Empty for an authorizer.
    pub body: Bytes,
}

/// The path, resource path, path parameters and context of a lent request, their texts kept in
/// one buffer (one allocation instead of several per request); `request.context()` copies the
/// context's into the record a plugin gets, and the path parameters become a list only for a
/// plugin that asks for them all.
#[derive(Debug, Clone, Default)]
pub struct LentContext {
    /// The request id, API id, stage, source IP, user agent, path and resource path, one after
    /// the other, then each path parameter's name and value.
    texts: String,
    /// Where each of the first seven ends in `texts`.
    ends: [usize; 7],
    /// Where each path parameter's name and value end in `texts`, two by two.
    param_ends: smallvec::SmallVec<[usize; 4]>,
    has_user_agent: bool,
    /// Milliseconds since the Unix epoch when the request arrived.
    pub request_time_epoch: u64,
}

impl LentContext {
    /// `ids` are the request id, the API id and the stage; `paths` the path and the resource
    /// path; `param_bytes` what the path parameters [`push_path_parameter`]ed next will take
    /// (so the buffer is allocated once).
    ///
    /// [`push_path_parameter`]: Self::push_path_parameter
    pub fn new(
        ids: [&str; 3],
        paths: [&str; 2],
        source_ip: std::net::IpAddr,
        user_agent: Option<&str>,
        request_time_epoch: u64,
        param_bytes: usize,
    ) -> Self {
        // The longest address is `ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255`.
        let ip_len = if source_ip.is_ipv4() { 15 } else { 45 };
        let ua = user_agent.unwrap_or("");
        let len = ids.iter().chain(&paths).map(|t| t.len()).sum::<usize>();
        let mut texts = String::with_capacity(len + ip_len + ua.len() + param_bytes);
        let mut ends = [0; 7];
        for (i, part) in ids.into_iter().enumerate() {
            texts.push_str(part);
            ends[i] = texts.len();
        }
        push_ip(&mut texts, source_ip);
        ends[3] = texts.len();
        for (i, part) in [ua, paths[0], paths[1]].into_iter().enumerate() {
            texts.push_str(part);
            ends[4 + i] = texts.len();
        }
        LentContext {
            texts,
            ends,
            param_ends: smallvec::SmallVec::new(),
            has_user_agent: user_agent.is_some(),
            request_time_epoch,
        }
    }

    /// Adds the next path parameter, in path order.
    pub fn push_path_parameter(&mut self, name: &str, value: &str) {
        for part in [name, value] {
            self.texts.push_str(part);
            self.param_ends.push(self.texts.len());
        }
    }

    /// The path parameters' names and values, in path order.
    pub fn path_parameters(&self) -> impl Iterator<Item = (&str, &str)> {
        self.param_ends
            .chunks_exact(2)
            .enumerate()
            .map(move |(i, ends)| {
                let start = match i {
                    0 => self.ends[6],
                    _ => self.param_ends[2 * i - 1],
                };
                let name = self.texts.get(start..ends[0]).unwrap_or("");
                (name, self.texts.get(ends[0]..ends[1]).unwrap_or(""))
            })
    }

    fn text(&self, i: usize) -> &str {
        let start = i.checked_sub(1).map_or(0, |prev| self.ends[prev]);
        self.texts.get(start..self.ends[i]).unwrap_or("")
    }

    pub fn request_id(&self) -> &str {
        self.text(0)
    }

    pub fn api_id(&self) -> &str {
        self.text(1)
    }

    pub fn stage(&self) -> &str {
        self.text(2)
    }

    pub fn source_ip(&self) -> &str {
        self.text(3)
    }

    pub fn user_agent(&self) -> Option<&str> {
        self.has_user_agent.then(|| self.text(4))
    }

    pub fn path(&self) -> &str {
        self.text(5)
    }

    pub fn resource_path(&self) -> &str {
        self.text(6)
    }

    /// The record `request.context()` answers.
    pub fn record(&self) -> RequestContext {
        RequestContext {
            request_id: self.request_id().to_owned(),
            api_id: self.api_id().to_owned(),
            stage: self.stage().to_owned(),
            source_ip: self.source_ip().to_owned(),
            user_agent: self.user_agent().map(str::to_owned),
            request_time_epoch: self.request_time_epoch,
        }
    }
}

/// Writes `ip` as text; an IPv4 address digit by digit, where `Display` takes several hundred
/// instructions for its four numbers.
fn push_ip(texts: &mut String, ip: std::net::IpAddr) {
    match ip {
        std::net::IpAddr::V4(v4) => {
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    texts.push('.');
                }
                if octet >= 100 {
                    texts.push(char::from(b'0' + octet / 100));
                }
                if octet >= 10 {
                    texts.push(char::from(b'0' + octet / 10 % 10));
                }
                texts.push(char::from(b'0' + octet % 10));
            }
        }
        std::net::IpAddr::V6(_) => {
            use std::fmt::Write as _;
            let _ = write!(texts, "{ip}");
        }
    }
}

/// An integration's response as a 0.3.0 mapper reads it.
#[derive(Debug)]
pub struct ResponseView {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// What the running call of a 0.3.0 plugin is for.
#[derive(Debug, Default)]
pub(crate) struct Lent {
    /// Shared with the gateway, which keeps the request for the response mapper.
    pub request: Option<Arc<RequestView>>,
    pub response: Option<ResponseView>,
}

/// Bytes as text, invalid UTF-8 replaced with U+FFFD. Valid text, nearly every header value,
/// is checked by `str::from_utf8`, which takes ASCII a word at a time, where
/// `String::from_utf8_lossy` goes byte by byte: 24 against 247 ns for an 800-byte bearer token.
fn text(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_owned(),
        Err(_) => String::from_utf8_lossy(bytes).into_owned(),
    }
}

/// Headers grouped by (lowercase) name, in one pass: `HeaderMap::iter` yields every value of
/// a name right after its first.
pub fn multi_headers(h: &HeaderMap) -> Vec<MultiValue> {
    let mut out: Vec<MultiValue> = Vec::with_capacity(h.keys_len());
    for (name, value) in h {
        match out.last_mut() {
            Some(last) if last.name == name.as_str() => last.values.push(text(value.as_bytes())),
            _ => out.push(MultiValue {
                name: name.as_str().to_owned(),
                values: vec![text(value.as_bytes())],
            }),
        }
    }
    out
}

fn first_header(h: &HeaderMap, name: &str) -> Option<String> {
    h.get(name).map(|v| text(v.as_bytes()))
}

fn find(pairs: &[Pair], name: &str) -> Option<String> {
    pairs
        .iter()
        .find(|p| p.name == name)
        .map(|p| p.value.clone())
}

/// A call outside `authorize`, `map-request` or `map-response`: it traps.
fn outside(what: &str) -> wasmtime::Error {
    wasmtime::Error::msg(format!("no {what} outside a call that is for one"))
}

impl CallState {
    fn lent_request(&self) -> wasmtime::Result<&RequestView> {
        self.lent
            .request
            .as_deref()
            .ok_or_else(|| outside("request"))
    }

    fn lent_response(&self) -> wasmtime::Result<&ResponseView> {
        self.lent
            .response
            .as_ref()
            .ok_or_else(|| outside("response"))
    }
}

/// Puts in place of two generated `request` functions ones that copy less, on `linker`
/// (after the generated ones, which are still what the other functions run): `header` reads
/// the name the plugin passes where it lies in the plugin's memory, instead of copying it into
/// a `String` first, and `method-arn` lowers the shared ARN without copying it on the host.
/// An authorizer calls both on nearly every call.
pub(crate) fn add_borrowing_to_linker(linker: &mut Linker<CallState>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let mut request = linker.instance(REQUEST_INSTANCE)?;
    request.func_wrap(
        "header",
        |store: StoreContextMut<'_, CallState>, (name,): (WasmStr,)| {
            let name = name.to_str(&store)?;
            Ok((first_header(&store.data().lent_request()?.headers, &name),))
        },
    )?;
    request.func_wrap("method-arn", |store: StoreContextMut<'_, CallState>, ()| {
        Ok((store.data().lent_request()?.method_arn.clone(),))
    })?;
    linker.allow_shadowing(false);
    Ok(())
}

/// The instance name of the `request` import.
const REQUEST_INSTANCE: &str = "gatehouse:plugin/request@0.3.0";

impl RequestHost for CallState {
    fn method(&mut self) -> wasmtime::Result<String> {
        Ok(self.lent_request()?.method.as_str().to_owned())
    }

    fn path(&mut self) -> wasmtime::Result<String> {
        Ok(self.lent_request()?.context.path().to_owned())
    }

    fn resource_path(&mut self) -> wasmtime::Result<String> {
        Ok(self.lent_request()?.context.resource_path().to_owned())
    }

    // Replaced on the linker by `add_borrowing_to_linker`'s, which answer the same.
    fn header(&mut self, name: String) -> wasmtime::Result<Option<String>> {
        Ok(first_header(&self.lent_request()?.headers, &name))
    }

    fn header_values(&mut self, name: String) -> wasmtime::Result<Vec<String>> {
        let headers = &self.lent_request()?.headers;
        Ok(headers
            .get_all(name.as_str())
            .iter()
            .map(|v| text(v.as_bytes()))
            .collect())
    }

    fn headers(&mut self) -> wasmtime::Result<Vec<MultiValue>> {
        Ok(multi_headers(&self.lent_request()?.headers))
    }

    fn query(&mut self, name: String) -> wasmtime::Result<Option<String>> {
        let query = &self.lent_request()?.query;
        Ok(query
            .iter()
            .find(|m| m.name == name)
            .and_then(|m| m.values.first().cloned()))
    }

    fn query_parameters(&mut self) -> wasmtime::Result<Vec<MultiValue>> {
        Ok(self.lent_request()?.query.clone())
    }

    fn path_parameter(&mut self, name: String) -> wasmtime::Result<Option<String>> {
        let context = &self.lent_request()?.context;
        let mut params = context.path_parameters();
        Ok(params.find(|(n, _)| *n == name).map(|(_, v)| v.to_owned()))
    }

    fn path_parameters(&mut self) -> wasmtime::Result<Vec<Pair>> {
        let context = &self.lent_request()?.context;
        Ok(context
            .path_parameters()
            .map(|(name, value)| Pair {
                name: name.to_owned(),
                value: value.to_owned(),
            })
            .collect())
    }

    fn stage_variable(&mut self, name: String) -> wasmtime::Result<Option<String>> {
        Ok(find(&self.lent_request()?.stage_variables, &name))
    }

    fn stage_variables(&mut self) -> wasmtime::Result<Vec<Pair>> {
        Ok(self.lent_request()?.stage_variables.clone())
    }

    fn context(&mut self) -> wasmtime::Result<RequestContext> {
        Ok(self.lent_request()?.context.record())
    }

    // Replaced on the linker by `add_borrowing_to_linker`'s, which answer the same.
    fn method_arn(&mut self) -> wasmtime::Result<String> {
        Ok(self.lent_request()?.method_arn.to_string())
    }

    fn client_certificate(&mut self) -> wasmtime::Result<Option<ClientCert>> {
        Ok(self.lent_request()?.client_cert.clone())
    }

    fn principal_id(&mut self) -> wasmtime::Result<Option<String>> {
        Ok(self.lent_request()?.principal_id.clone())
    }

    fn authorizer_context(&mut self) -> wasmtime::Result<Vec<Pair>> {
        Ok(self.lent_request()?.authorizer.clone())
    }

    fn body(&mut self) -> wasmtime::Result<Vec<u8>> {
        Ok(self.lent_request()?.body.to_vec())
    }
}

impl ResponseHost for CallState {
    fn status(&mut self) -> wasmtime::Result<u16> {
        Ok(self.lent_response()?.status)
    }

    fn header(&mut self, name: String) -> wasmtime::Result<Option<String>> {
        Ok(first_header(&self.lent_response()?.headers, &name))
    }

    fn headers(&mut self) -> wasmtime::Result<Vec<MultiValue>> {
        Ok(multi_headers(&self.lent_response()?.headers))
    }

    fn body(&mut self) -> wasmtime::Result<Vec<u8>> {
        Ok(self.lent_response()?.body.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::LentContext;

    #[test]
    fn a_lent_context_gives_back_each_text() {
        for (ip, ua) in [
            ("127.0.0.1", Some("curl/8")),
            ("0.10.100.255", Some("curl/8")),
            ("203.0.113.9", None),
            ("::ffff:10.0.0.1", None),
            ("1::2", Some("")),
        ] {
            let paths = ["/prod/items/7/a%2Fb", "/items/{id}/{name}"];
            let params = [("id", "7"), ("name", "a/b"), ("empty", "")];
            let mut c = LentContext::new(
                ["id-1", "shop", "prod"],
                paths,
                ip.parse().unwrap(),
                ua,
                7,
                15,
            );
            for (name, value) in params {
                c.push_path_parameter(name, value);
            }
            assert_eq!(c.path_parameters().collect::<Vec<_>>(), params);
            assert_eq!(c.request_id(), "id-1");
            assert_eq!(c.api_id(), "shop");
            assert_eq!(c.stage(), "prod");
            assert_eq!(c.source_ip(), ip);
            assert_eq!(c.user_agent(), ua);
            assert_eq!([c.path(), c.resource_path()], paths);
            let r = c.record();
            assert_eq!((r.source_ip.as_str(), r.request_time_epoch), (ip, 7));
            assert_eq!(r.user_agent.as_deref(), ua);
        }
        assert_eq!(LentContext::default().record().request_id, "");
        assert_eq!(LentContext::default().path_parameters().count(), 0);
    }
}
