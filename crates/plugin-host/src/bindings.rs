//! The only place WIT bindings are generated. The worlds import the same interfaces (the
//! WebSocket handler a few more), so the later bindings reuse the authorizer's generated ones.
//! Generated types stay inside `plugin/`.
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
