//! Calls of the 0.3.0 worlds: the request (and for `map-response` the response) is put in the
//! instance's state for the call, where the `request` and `response` imports read it, and
//! taken out again when the call ends, whether it returned or failed.

use crate::bindings::lent_request::RequestEdits;
use crate::bindings::lent_response::ResponseEdits;
use crate::bindings::policy::Decision;
use crate::bindings::types::{AuthorizerError, Response};
use crate::messages::{Lent, RequestView, ResponseView};
use crate::{engine, Exports, Live, Plugin, PluginFailure, PluginKind, PluginPre};
use std::sync::Arc;

/// Takes back what the call was lent.
fn take_back(live: &mut Live) -> Lent {
    std::mem::take(&mut live.store.data_mut().lent)
}

impl Plugin {
    /// Whether the plugin is an authorizer, mapper or request handler of
    /// `gatehouse:plugin@0.3.0`, which reads the request through imports rather than being
    /// sent it ([`Plugin::authorize_lent`], [`Plugin::map_request_lent`],
    /// [`Plugin::map_response_lent`], [`Plugin::handle_lent`]).
    pub fn reads_lent_request(&self) -> bool {
        matches!(
            self.pre,
            PluginPre::AuthorizerV0_3(_)
                | PluginPre::MapperV0_3(_)
                | PluginPre::RequestHandlerV0_3(_)
        )
    }

    /// Calls a request handler's `handle` (0.3.0's integration).
    pub async fn handle_lent(
        &self,
        request_id: &str,
        req: Arc<RequestView>,
    ) -> Result<Result<Response, String>, PluginFailure> {
        let _running = engine::Running::start();
        let mut live = self.instance(request_id, PluginKind::Integration).await?;
        live.store.data_mut().lent.request = Some(req);
        let result = match &live.exports {
            Exports::RequestHandlerV0_3(e) => e.call_handle(&mut live.store).await,
            _ => return Err(self.wrong_kind(PluginKind::Integration)),
        };
        take_back(&mut live);
        self.finish(live, result)
    }

    /// Calls an authorizer of 0.3.0.
    pub async fn authorize_lent(
        &self,
        request_id: &str,
        req: Arc<RequestView>,
    ) -> Result<Result<Decision, AuthorizerError>, PluginFailure> {
        let _running = engine::Running::start();
        let mut live = self.instance(request_id, PluginKind::Authorizer).await?;
        live.store.data_mut().lent.request = Some(req);
        let result = match &live.exports {
            Exports::AuthorizerV0_3(e) => e.call_authorize(&mut live.store).await,
            _ => return Err(self.wrong_kind(PluginKind::Authorizer)),
        };
        take_back(&mut live);
        self.finish(live, result)
    }

    /// Calls a mapper's `map-request` of 0.3.0.
    pub async fn map_request_lent(
        &self,
        request_id: &str,
        req: Arc<RequestView>,
    ) -> Result<Result<RequestEdits, String>, PluginFailure> {
        let _running = engine::Running::start();
        let mut live = self.instance(request_id, PluginKind::Mapper).await?;
        live.store.data_mut().lent.request = Some(req);
        let result = match &live.exports {
            Exports::MapperV0_3(e) => e.call_map_request(&mut live.store).await,
            _ => return Err(self.wrong_kind(PluginKind::Mapper)),
        };
        take_back(&mut live);
        self.finish(live, result)
    }

    /// Calls a mapper's `map-response` of 0.3.0; `resp` comes back with the result (unless
    /// no instance could be had), for the edits to be applied to.
    pub async fn map_response_lent(
        &self,
        request_id: &str,
        req: Arc<RequestView>,
        resp: ResponseView,
    ) -> (
        Option<ResponseView>,
        Result<Result<ResponseEdits, String>, PluginFailure>,
    ) {
        let _running = engine::Running::start();
        let mut live = match self.instance(request_id, PluginKind::Mapper).await {
            Ok(live) => live,
            Err(f) => return (Some(resp), Err(f)),
        };
        live.store.data_mut().lent = Lent {
            request: Some(req),
            response: Some(resp),
        };
        let result = match &live.exports {
            Exports::MapperV0_3(e) => e.call_map_response(&mut live.store).await,
            _ => return (None, Err(self.wrong_kind(PluginKind::Mapper))),
        };
        let lent = take_back(&mut live);
        (lent.response, self.finish(live, result))
    }
}
