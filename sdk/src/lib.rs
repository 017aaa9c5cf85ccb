//! # gatehouse-sdk
//!
//! Write Gatehouse plugins in Rust. A plugin is a WebAssembly component implementing one world
//! of the WIT package `gatehouse:plugin@0.1.0` (`wit/gatehouse.wit`): an [`Authorizer`], a
//! [`Mapper`], an [`Integration`] or a [`WebSocketHandler`]; the authorizer of
//! `gatehouse:plugin@0.2.0` (`wit/0.2.0/`), which answers a policy: [`v0_2`]; or the authorizer
//! or mapper of `gatehouse:plugin@0.3.0` (`wit/0.3.0/`), which read the request through
//! imports: [`v0_3`]. With this crate
//! a plugin is one function and one export line:
//!
//! ```no_run
//! use gatehouse_sdk::{Integration, Request, Response};
//!
//! struct Hello;
//!
//! impl Integration for Hello {
//!     fn handle(request: Request) -> Result<Response, String> {
//!         let name = request.query("name").unwrap_or("world");
//!         Ok(Response::json(200, &serde_json::json!({ "hello": name })))
//!     }
//! }
//!
//! gatehouse_sdk::export_integration!(Hello);
//! # fn main() {}
//! ```
//!
//! Build it for `wasm32-unknown-unknown` as a `cdylib` and turn the module into a component
//! with `wasm-tools component new` (the repository's `scripts/build-plugins.sh` does both).
//!
//! The helpers on [`Request`], [`Response`] and [`Decision`] are plain Rust and work on any
//! target; the host functions in [`host`] exist only inside Gatehouse.

pub mod host;
mod types;
pub mod v0_2;
pub mod v0_3;

/// The generated bindings, one module per world. The `types` interface and the host imports
/// are generated once (with the authorizer world) and shared by the others, so a
/// [`Request`] is the same type in every world.
pub mod world {
    // Generated ABI glue: wit-bindgen's output is the one place this crate uses `unsafe`.
    #![allow(unsafe_code, missing_debug_implementations, clippy::all)]

    /// The `authorizer` world.
    pub mod authorizer {
        wit_bindgen::generate!({
            world: "authorizer",
            path: "wit",
            pub_export_macro: true,
            export_macro_name: "__export_authorizer_world",
            default_bindings_module: "gatehouse_sdk::world::authorizer",
        });
    }

    /// The `authorizer` world of `gatehouse:plugin@0.2.0` (`wit/0.2.0/`): its request and
    /// decision are its own, its imports those of 0.1.0. wit-bindgen names its exported
    /// macros after the world, so the world is included under another name here, which does
    /// not clash with the 0.1.0 `authorizer`'s.
    pub mod authorizer_v0_2 {
        wit_bindgen::generate!({
            inline: "
                package gatehouse:sdk;
                world policy-authorizer { include gatehouse:plugin/authorizer@0.2.0; }
            ",
            world: "gatehouse:sdk/policy-authorizer",
            path: "wit/0.2.0",
            with: {
                "gatehouse:plugin/types@0.1.0": crate::world::authorizer::gatehouse::plugin::types,
                "gatehouse:plugin/log@0.1.0": crate::world::authorizer::gatehouse::plugin::log,
                "gatehouse:plugin/kv@0.1.0": crate::world::authorizer::gatehouse::plugin::kv,
                "gatehouse:plugin/clock@0.1.0": crate::world::authorizer::gatehouse::plugin::clock,
                "gatehouse:plugin/config@0.1.0": crate::world::authorizer::gatehouse::plugin::config,
                "gatehouse:plugin/types@0.2.0": generate,
            },
            pub_export_macro: true,
            export_macro_name: "__export_authorizer_v0_2_world",
            default_bindings_module: "gatehouse_sdk::world::authorizer_v0_2",
        });
    }

    /// The `authorizer` world of `gatehouse:plugin@0.3.0` (`wit/0.3.0/`): it reads the request
    /// through the `request` import and answers 0.2.0's decision. Included under another name,
    /// as 0.2.0's is.
    pub mod authorizer_v0_3 {
        wit_bindgen::generate!({
            inline: "
                package gatehouse:sdk;
                world lent-authorizer { include gatehouse:plugin/authorizer@0.3.0; }
            ",
            world: "gatehouse:sdk/lent-authorizer",
            path: "wit/0.3.0",
            with: {
                "gatehouse:plugin/types@0.1.0": crate::world::authorizer::gatehouse::plugin::types,
                "gatehouse:plugin/log@0.1.0": crate::world::authorizer::gatehouse::plugin::log,
                "gatehouse:plugin/kv@0.1.0": crate::world::authorizer::gatehouse::plugin::kv,
                "gatehouse:plugin/clock@0.1.0": crate::world::authorizer::gatehouse::plugin::clock,
                "gatehouse:plugin/config@0.1.0": crate::world::authorizer::gatehouse::plugin::config,
                "gatehouse:plugin/types@0.2.0": crate::world::authorizer_v0_2::gatehouse::plugin0_2_0::types,
                "gatehouse:plugin/request@0.3.0": generate,
            },
            pub_export_macro: true,
            export_macro_name: "__export_authorizer_v0_3_world",
            default_bindings_module: "gatehouse_sdk::world::authorizer_v0_3",
        });
    }

    /// The `mapper` world of `gatehouse:plugin@0.3.0`: it reads the request and the response
    /// through imports and answers its changes.
    pub mod mapper_v0_3 {
        wit_bindgen::generate!({
            inline: "
                package gatehouse:sdk;
                world lent-mapper { include gatehouse:plugin/mapper@0.3.0; }
            ",
            world: "gatehouse:sdk/lent-mapper",
            path: "wit/0.3.0",
            with: {
                "gatehouse:plugin/types@0.1.0": crate::world::authorizer::gatehouse::plugin::types,
                "gatehouse:plugin/log@0.1.0": crate::world::authorizer::gatehouse::plugin::log,
                "gatehouse:plugin/kv@0.1.0": crate::world::authorizer::gatehouse::plugin::kv,
                "gatehouse:plugin/clock@0.1.0": crate::world::authorizer::gatehouse::plugin::clock,
                "gatehouse:plugin/config@0.1.0": crate::world::authorizer::gatehouse::plugin::config,
                "gatehouse:plugin/types@0.2.0": crate::world::authorizer_v0_2::gatehouse::plugin0_2_0::types,
                "gatehouse:plugin/request@0.3.0": crate::world::authorizer_v0_3::gatehouse::plugin0_3_0::request,
                "gatehouse:plugin/response@0.3.0": generate,
            },
            pub_export_macro: true,
            export_macro_name: "__export_mapper_v0_3_world",
            default_bindings_module: "gatehouse_sdk::world::mapper_v0_3",
        });
    }

    /// The `request-handler` world of `gatehouse:plugin@0.3.0`: an integration that reads the
    /// request through the `request` import.
    pub mod request_handler_v0_3 {
        wit_bindgen::generate!({
            inline: "
                package gatehouse:sdk;
                world lent-request-handler { include gatehouse:plugin/request-handler@0.3.0; }
            ",
            world: "gatehouse:sdk/lent-request-handler",
            path: "wit/0.3.0",
            with: {
                "gatehouse:plugin/types@0.1.0": crate::world::authorizer::gatehouse::plugin::types,
                "gatehouse:plugin/log@0.1.0": crate::world::authorizer::gatehouse::plugin::log,
                "gatehouse:plugin/kv@0.1.0": crate::world::authorizer::gatehouse::plugin::kv,
                "gatehouse:plugin/clock@0.1.0": crate::world::authorizer::gatehouse::plugin::clock,
                "gatehouse:plugin/config@0.1.0": crate::world::authorizer::gatehouse::plugin::config,
                "gatehouse:plugin/types@0.2.0": crate::world::authorizer_v0_2::gatehouse::plugin0_2_0::types,
                "gatehouse:plugin/request@0.3.0": crate::world::authorizer_v0_3::gatehouse::plugin0_3_0::request,
            },
            pub_export_macro: true,
            export_macro_name: "__export_request_handler_v0_3_world",
            default_bindings_module: "gatehouse_sdk::world::request_handler_v0_3",
        });
    }

    /// The `mapper` world.
    pub mod mapper {
        wit_bindgen::generate!({
            world: "mapper",
            path: "wit",
            with: {
                "gatehouse:plugin/types@0.1.0": crate::world::authorizer::gatehouse::plugin::types,
                "gatehouse:plugin/log@0.1.0": crate::world::authorizer::gatehouse::plugin::log,
                "gatehouse:plugin/kv@0.1.0": crate::world::authorizer::gatehouse::plugin::kv,
                "gatehouse:plugin/clock@0.1.0": crate::world::authorizer::gatehouse::plugin::clock,
                "gatehouse:plugin/config@0.1.0": crate::world::authorizer::gatehouse::plugin::config,
            },
            pub_export_macro: true,
            export_macro_name: "__export_mapper_world",
            default_bindings_module: "gatehouse_sdk::world::mapper",
        });
    }

    /// The `integration` world.
    pub mod integration {
        wit_bindgen::generate!({
            world: "integration",
            path: "wit",
            with: {
                "gatehouse:plugin/types@0.1.0": crate::world::authorizer::gatehouse::plugin::types,
                "gatehouse:plugin/log@0.1.0": crate::world::authorizer::gatehouse::plugin::log,
                "gatehouse:plugin/kv@0.1.0": crate::world::authorizer::gatehouse::plugin::kv,
                "gatehouse:plugin/clock@0.1.0": crate::world::authorizer::gatehouse::plugin::clock,
                "gatehouse:plugin/config@0.1.0": crate::world::authorizer::gatehouse::plugin::config,
            },
            pub_export_macro: true,
            export_macro_name: "__export_integration_world",
            default_bindings_module: "gatehouse_sdk::world::integration",
        });
    }

    /// The `websocket-handler` world.
    pub mod websocket_handler {
        wit_bindgen::generate!({
            world: "websocket-handler",
            path: "wit",
            with: {
                "gatehouse:plugin/types@0.1.0": crate::world::authorizer::gatehouse::plugin::types,
                "gatehouse:plugin/log@0.1.0": crate::world::authorizer::gatehouse::plugin::log,
                "gatehouse:plugin/kv@0.1.0": crate::world::authorizer::gatehouse::plugin::kv,
                "gatehouse:plugin/clock@0.1.0": crate::world::authorizer::gatehouse::plugin::clock,
                "gatehouse:plugin/config@0.1.0": crate::world::authorizer::gatehouse::plugin::config,
            },
            pub_export_macro: true,
            export_macro_name: "__export_websocket_handler_world",
            default_bindings_module: "gatehouse_sdk::world::websocket_handler",
        });
    }
}

pub use world::authorizer::gatehouse::plugin::types::{
    AuthorizerError, Decision, MultiValue, Pair, Request, RequestContext, Response,
};

/// An authorizer: decides whether a request may go on, like an API Gateway Lambda authorizer.
///
/// Return `Ok(Decision::allow(..))` or `Ok(Decision::deny(..))`; `Err(AuthorizerError::Unauthorized)`
/// answers 401, `Err(AuthorizerError::Failed(reason))` answers 500 and logs the reason.
pub use world::authorizer::Guest as Authorizer;

/// A mapper: rewrites the request before the integration (`map_request`) and the response
/// after it (`map_response`). An `Err` answers 500 and logs the reason.
pub use world::mapper::Guest as Mapper;

/// An integration: answers the request itself, like a Lambda proxy integration. An `Err`
/// answers 502 and logs the reason.
pub use world::integration::Guest as Integration;

/// A WebSocket handler: handles `$connect`, `$disconnect` and message events of WebSocket API
/// routes. Return `Ok(Some(bytes))` to answer the caller of a message; an `Err` on connect
/// rejects the handshake, on a message sends API Gateway's `Internal server error` message.
pub use world::websocket_handler::Guest as WebSocketHandler;

pub use world::websocket_handler::gatehouse::plugin::websocket::{Event, EventType};

/// Exports a type implementing [`WebSocketHandler`] as the plugin's `handle-event` function.
#[macro_export]
macro_rules! export_websocket_handler {
    ($t:ident) => {
        $crate::world::websocket_handler::__export_websocket_handler_world!($t with_types_in $crate::world::websocket_handler);
    };
}

/// Exports a type implementing [`Authorizer`] as the plugin's `authorize` function.
#[macro_export]
macro_rules! export_authorizer {
    ($t:ident) => {
        $crate::world::authorizer::__export_authorizer_world!($t with_types_in $crate::world::authorizer);
    };
}

/// Exports a type implementing [`v0_2::Authorizer`] as the plugin's `authorize` function of
/// `gatehouse:plugin@0.2.0`.
#[macro_export]
macro_rules! export_authorizer_v0_2 {
    ($t:ident) => {
        $crate::world::authorizer_v0_2::__export_authorizer_v0_2_world!($t with_types_in $crate::world::authorizer_v0_2);
    };
}

/// Exports a type implementing [`v0_3::Authorizer`] as the plugin's `authorize` function of
/// `gatehouse:plugin@0.3.0`.
#[macro_export]
macro_rules! export_authorizer_v0_3 {
    ($t:ident) => {
        $crate::world::authorizer_v0_3::__export_authorizer_v0_3_world!($t with_types_in $crate::world::authorizer_v0_3);
    };
}

/// Exports a type implementing [`v0_3::Mapper`] as the plugin's `map-request` and
/// `map-response` of `gatehouse:plugin@0.3.0`.
#[macro_export]
macro_rules! export_mapper_v0_3 {
    ($t:ident) => {
        $crate::world::mapper_v0_3::__export_mapper_v0_3_world!($t with_types_in $crate::world::mapper_v0_3);
    };
}

/// Exports a type implementing [`v0_3::RequestHandler`] as the plugin's `handle` function of
/// `gatehouse:plugin@0.3.0`'s `request-handler` world.
#[macro_export]
macro_rules! export_request_handler_v0_3 {
    ($t:ident) => {
        $crate::world::request_handler_v0_3::__export_request_handler_v0_3_world!($t with_types_in $crate::world::request_handler_v0_3);
    };
}

/// Exports a type implementing [`Mapper`] as the plugin's `map-request` and `map-response`.
#[macro_export]
macro_rules! export_mapper {
    ($t:ident) => {
        $crate::world::mapper::__export_mapper_world!($t with_types_in $crate::world::mapper);
    };
}

/// Exports a type implementing [`Integration`] as the plugin's `handle` function.
#[macro_export]
macro_rules! export_integration {
    ($t:ident) => {
        $crate::world::integration::__export_integration_world!($t with_types_in $crate::world::integration);
    };
}
