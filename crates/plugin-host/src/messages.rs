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
    pub path: String,
    pub resource_path: String,
    /// The client's headers, the verified client certificate among them as in 0.1.0.
    pub headers: HeaderMap,
    /// Query string parameters, percent-decoded, in the order they came.
    pub query: Vec<MultiValue>,
    pub path_parameters: Vec<Pair>,
    pub stage_variables: Vec<Pair>,
    pub context: LentContext,
    /// Shared, not copied: the gateway evaluates the plugin's policy for it after the call,
    /// and `request.method-arn()` lowers it into the plugin from here.
    pub method_arn: Arc<String>,
    pub client_cert: Option<ClientCert>,
    pub principal_id: Option<String>,
    pub authorizer: Vec<Pair>,
    /// Empty for an authorizer.
    pub body: Bytes,
}

/// The context of a lent request, its texts kept in one buffer (one allocation instead of one
/// per text); `request.context()` copies them into the record a plugin gets.
#[derive(Debug, Clone, Default)]
pub struct LentContext {
    /// The request id, API id, stage, source IP and user agent, one after the other.
    texts: String,
    /// Where each of those five ends in `texts`.
    ends: [usize; 5],
    has_user_agent: bool,
    /// Milliseconds since the Unix epoch when the request arrived.
    pub request_time_epoch: u64,
}

impl LentContext {
    pub fn new(
        request_id: &str,
        api_id: &str,
        stage: &str,
        source_ip: std::net::IpAddr,
        user_agent: Option<&str>,
        request_time_epoch: u64,
    ) -> Self {
        use std::fmt::Write as _;
        // The longest address is `ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255`.
        let ip_len = if source_ip.is_ipv4() { 15 } else { 45 };
        let ua = user_agent.unwrap_or("");
        let mut texts = String::with_capacity(
            request_id.len() + api_id.len() + stage.len() + ip_len + ua.len(),
        );
        let mut ends = [0; 5];
        for (i, part) in [request_id, api_id, stage].into_iter().enumerate() {
            texts.push_str(part);
            ends[i] = texts.len();
        }
        let _ = write!(texts, "{source_ip}");
        ends[3] = texts.len();
        texts.push_str(ua);
        ends[4] = texts.len();
        LentContext {
            texts,
            ends,
            has_user_agent: user_agent.is_some(),
            request_time_epoch,
        }
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
        Ok(self.lent_request()?.path.clone())
    }

    fn resource_path(&mut self) -> wasmtime::Result<String> {
        Ok(self.lent_request()?.resource_path.clone())
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
        Ok(find(&self.lent_request()?.path_parameters, &name))
    }

    fn path_parameters(&mut self) -> wasmtime::Result<Vec<Pair>> {
        Ok(self.lent_request()?.path_parameters.clone())
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
        Ok(String::clone(&self.lent_request()?.method_arn))
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
            ("::ffff:10.0.0.1", None),
            ("1::2", Some("")),
        ] {
            let c = LentContext::new("id-1", "shop", "prod", ip.parse().unwrap(), ua, 7);
            assert_eq!(c.request_id(), "id-1");
            assert_eq!(c.api_id(), "shop");
            assert_eq!(c.stage(), "prod");
            assert_eq!(c.source_ip(), ip);
            assert_eq!(c.user_agent(), ua);
            let r = c.record();
            assert_eq!((r.source_ip.as_str(), r.request_time_epoch), (ip, 7));
            assert_eq!(r.user_agent.as_deref(), ua);
        }
        assert_eq!(LentContext::default().record().request_id, "");
    }
}
