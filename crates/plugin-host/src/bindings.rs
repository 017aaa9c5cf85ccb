//! The only place WIT bindings are generated. The worlds import the same interfaces (the
//! WebSocket handler a few more), so the later bindings reuse the authorizer's generated ones.
//! Generated types stay inside `plugin/`.
//!
//! Two versions of `gatehouse:plugin` are bound: 0.1.0 (`wit/gatehouse.wit`, every world) and
//! the 0.2.0 authorizer (`wit/0.2.0/`), whose request and decision are its own and whose
//! imports are 0.1.0's interfaces, so the same host functions serve both.
//!
//! Every import and export is async on the host side: exports are called with `call_async` on
//! a fiber that yields at each epoch tick, and imports that do I/O (`kv`) await it instead of
//! blocking the worker thread.

pub mod authorizer {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "authorizer",
        imports: { default: async },
        exports: { default: async },
    });
}

pub mod mapper {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "mapper",
        imports: { default: async },
        exports: { default: async },
        with: {
            "gatehouse:plugin/types": super::authorizer::gatehouse::plugin::types,
            "gatehouse:plugin/log": super::authorizer::gatehouse::plugin::log,
            "gatehouse:plugin/kv": super::authorizer::gatehouse::plugin::kv,
            "gatehouse:plugin/clock": super::authorizer::gatehouse::plugin::clock,
            "gatehouse:plugin/config": super::authorizer::gatehouse::plugin::config,
        },
    });
}

pub mod integration {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "integration",
        imports: { default: async },
        exports: { default: async },
        with: {
            "gatehouse:plugin/types": super::authorizer::gatehouse::plugin::types,
            "gatehouse:plugin/log": super::authorizer::gatehouse::plugin::log,
            "gatehouse:plugin/kv": super::authorizer::gatehouse::plugin::kv,
            "gatehouse:plugin/clock": super::authorizer::gatehouse::plugin::clock,
            "gatehouse:plugin/config": super::authorizer::gatehouse::plugin::config,
        },
    });
}

pub use authorizer::gatehouse::plugin::{clock, config, kv, log, types};

/// The 0.2.0 `authorizer` world: a policy decision, and the method ARN in the request.
pub mod authorizer_v0_2 {
    wasmtime::component::bindgen!({
        path: "../../wit/0.2.0",
        world: "authorizer",
        imports: { default: async },
        exports: { default: async },
        with: {
            "gatehouse:plugin/types@0.1.0": super::authorizer::gatehouse::plugin::types,
            "gatehouse:plugin/log@0.1.0": super::authorizer::gatehouse::plugin::log,
            "gatehouse:plugin/kv@0.1.0": super::authorizer::gatehouse::plugin::kv,
            "gatehouse:plugin/clock@0.1.0": super::authorizer::gatehouse::plugin::clock,
            "gatehouse:plugin/config@0.1.0": super::authorizer::gatehouse::plugin::config,
        },
    });
}

/// The request and decision of the 0.2.0 authorizer.
pub use authorizer_v0_2::gatehouse::plugin0_2_0::types as policy;

pub mod websocket_handler {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "websocket-handler",
        imports: { default: async },
        exports: { default: async },
        with: {
            "gatehouse:plugin/types": super::authorizer::gatehouse::plugin::types,
            "gatehouse:plugin/log": super::authorizer::gatehouse::plugin::log,
            "gatehouse:plugin/kv": super::authorizer::gatehouse::plugin::kv,
            "gatehouse:plugin/clock": super::authorizer::gatehouse::plugin::clock,
            "gatehouse:plugin/config": super::authorizer::gatehouse::plugin::config,
        },
    });
}

pub use websocket_handler::gatehouse::plugin::{connections, kv_keys, websocket};

/// The 0.3.0 `authorizer` world: it reads the request of the call through the `request`
/// import instead of being sent it; the decision is 0.2.0's policy. The `request` and
/// `response` functions are plain (not async) host functions: each copies one field.
pub mod authorizer_v0_3 {
    wasmtime::component::bindgen!({
        path: "../../wit/0.3.0",
        world: "authorizer",
        imports: {
            "gatehouse:plugin/request": trappable,
            default: async,
        },
        exports: { default: async },
        with: {
            "gatehouse:plugin/types@0.1.0": super::authorizer::gatehouse::plugin::types,
            "gatehouse:plugin/types@0.2.0": super::authorizer_v0_2::gatehouse::plugin0_2_0::types,
            "gatehouse:plugin/log@0.1.0": super::authorizer::gatehouse::plugin::log,
            "gatehouse:plugin/kv@0.1.0": super::authorizer::gatehouse::plugin::kv,
            "gatehouse:plugin/clock@0.1.0": super::authorizer::gatehouse::plugin::clock,
            "gatehouse:plugin/config@0.1.0": super::authorizer::gatehouse::plugin::config,
        },
    });
}

/// The 0.3.0 `mapper` world: it reads the request and the response through imports and
/// answers the changes it makes.
pub mod mapper_v0_3 {
    wasmtime::component::bindgen!({
        path: "../../wit/0.3.0",
        world: "mapper",
        imports: {
            "gatehouse:plugin/response": trappable,
            default: async,
        },
        exports: { default: async },
        with: {
            "gatehouse:plugin/types@0.1.0": super::authorizer::gatehouse::plugin::types,
            "gatehouse:plugin/types@0.2.0": super::authorizer_v0_2::gatehouse::plugin0_2_0::types,
            "gatehouse:plugin/log@0.1.0": super::authorizer::gatehouse::plugin::log,
            "gatehouse:plugin/kv@0.1.0": super::authorizer::gatehouse::plugin::kv,
            "gatehouse:plugin/clock@0.1.0": super::authorizer::gatehouse::plugin::clock,
            "gatehouse:plugin/config@0.1.0": super::authorizer::gatehouse::plugin::config,
            "gatehouse:plugin/request@0.3.0": super::authorizer_v0_3::gatehouse::plugin0_3_0::request,
        },
    });
}

/// The 0.3.0 `request-handler` world: an integration that reads the request through the
/// `request` import.
pub mod request_handler_v0_3 {
    wasmtime::component::bindgen!({
        path: "../../wit/0.3.0",
        world: "request-handler",
        imports: { default: async },
        exports: { default: async },
        with: {
            "gatehouse:plugin/types@0.1.0": super::authorizer::gatehouse::plugin::types,
            "gatehouse:plugin/types@0.2.0": super::authorizer_v0_2::gatehouse::plugin0_2_0::types,
            "gatehouse:plugin/log@0.1.0": super::authorizer::gatehouse::plugin::log,
            "gatehouse:plugin/kv@0.1.0": super::authorizer::gatehouse::plugin::kv,
            "gatehouse:plugin/clock@0.1.0": super::authorizer::gatehouse::plugin::clock,
            "gatehouse:plugin/config@0.1.0": super::authorizer::gatehouse::plugin::config,
            "gatehouse:plugin/request@0.3.0": super::authorizer_v0_3::gatehouse::plugin0_3_0::request,
        },
    });
}

/// The `request` and `response` imports of 0.3.0, with a mapper's edits.
pub use authorizer_v0_3::gatehouse::plugin0_3_0::request as lent_request;
pub use mapper_v0_3::gatehouse::plugin0_3_0::response as lent_response;
