//! Calls of the 0.1.0 and 0.2.0 worlds (and of the 0.1.0 WebSocket handler, which 0.3.0
//! includes): the request, response or event is sent to the plugin as a record argument.

use crate::bindings::{self, types};
use crate::{engine, Exports, Plugin, PluginFailure, PluginKind, PluginPre};

impl Plugin {
    /// Whether the plugin is an authorizer of `gatehouse:plugin@0.2.0`, which answers a policy
    /// ([`Plugin::authorize_policy`]) rather than allow or deny ([`Plugin::authorize`]).
    pub fn answers_policy(&self) -> bool {
        matches!(self.pre, PluginPre::AuthorizerV0_2(_))
    }

    /// Calls an authorizer of 0.2.0.
    pub async fn authorize_policy(
        &self,
        request_id: &str,
        req: &bindings::policy::Request,
    ) -> Result<Result<bindings::policy::Decision, types::AuthorizerError>, PluginFailure> {
        let _running = engine::Running::start();
        let mut live = self.instance(request_id, PluginKind::Authorizer).await?;
        let result = match &live.exports {
            Exports::AuthorizerV0_2(e) => e.call_authorize(&mut live.store, req).await,
            _ => return Err(self.wrong_kind(PluginKind::Authorizer)),
        };
        self.finish(live, result)
    }

    /// Calls an authorizer of 0.1.0.
    pub async fn authorize(
        &self,
        request_id: &str,
        req: &types::Request,
    ) -> Result<Result<types::Decision, types::AuthorizerError>, PluginFailure> {
        let _running = engine::Running::start();
        let mut live = self.instance(request_id, PluginKind::Authorizer).await?;
        let result = match &live.exports {
            Exports::Authorizer(e) => e.call_authorize(&mut live.store, req).await,
            _ => return Err(self.wrong_kind(PluginKind::Authorizer)),
        };
        self.finish(live, result)
    }

    /// Calls a mapper's `map-request`.
    pub async fn map_request(
        &self,
        request_id: &str,
        req: &types::Request,
    ) -> Result<Result<types::Request, String>, PluginFailure> {
        let _running = engine::Running::start();
        let mut live = self.instance(request_id, PluginKind::Mapper).await?;
        let result = match &live.exports {
            Exports::Mapper(e) => e.call_map_request(&mut live.store, req).await,
            _ => return Err(self.wrong_kind(PluginKind::Mapper)),
        };
        self.finish(live, result)
    }

    /// Calls a mapper's `map-response`.
    pub async fn map_response(
        &self,
        request_id: &str,
        req: &types::Request,
        resp: &types::Response,
    ) -> Result<Result<types::Response, String>, PluginFailure> {
        let _running = engine::Running::start();
        let mut live = self.instance(request_id, PluginKind::Mapper).await?;
        let result = match &live.exports {
            Exports::Mapper(e) => e.call_map_response(&mut live.store, req, resp).await,
            _ => return Err(self.wrong_kind(PluginKind::Mapper)),
        };
        self.finish(live, result)
    }

    /// Calls an integration's `handle`.
    pub async fn handle(
        &self,
        request_id: &str,
        req: &types::Request,
    ) -> Result<Result<types::Response, String>, PluginFailure> {
        let _running = engine::Running::start();
        let mut live = self.instance(request_id, PluginKind::Integration).await?;
        let result = match &live.exports {
            Exports::Integration(e) => e.call_handle(&mut live.store, req).await,
            _ => return Err(self.wrong_kind(PluginKind::Integration)),
        };
        self.finish(live, result)
    }

    /// Calls a WebSocket handler's `handle-event`.
    pub async fn handle_event(
        &self,
        request_id: &str,
        event: &bindings::websocket::Event,
    ) -> Result<Result<Option<Vec<u8>>, String>, PluginFailure> {
        let _running = engine::Running::start();
        let mut live = self
            .instance(request_id, PluginKind::WebsocketHandler)
            .await?;
        let result = match &live.exports {
            Exports::WebsocketHandler(e) => e.call_handle_event(&mut live.store, event).await,
            _ => return Err(self.wrong_kind(PluginKind::WebsocketHandler)),
        };
        self.finish(live, result)
    }
}
