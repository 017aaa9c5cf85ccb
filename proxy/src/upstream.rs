//! Pooled HTTP clients for backends, shared by every config (pools survive reloads).
//!
//! Plain-`http` HTTP/1.1 backends go through `gatehouse_upstream`, which runs each exchange on
//! the request's own task; TLS, HTTP/2 and upgrades go through hyper's client.

use crate::body::Body;
use gatehouse_upstream::{PoolConfig, Pools};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use std::time::Duration;

type Connector = HttpsConnector<HttpConnector>;

/// The backend clients: plain HTTP/1.1 pools, one hyper client negotiating HTTP/1.1 or
/// HTTP/2 (ALPN on https), one HTTP/2 only (h2c prior knowledge on http).
#[derive(Debug)]
pub struct Upstreams {
    pub h1: Pools,
    pub auto: Client<Connector, Body>,
    pub h2: Client<Connector, Body>,
}

impl Upstreams {
    pub fn new(config: &PoolConfig) -> Self {
        let connector = connector(config.connect_timeout);
        let mut builder = Client::builder(TokioExecutor::new());
        builder
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .pool_idle_timeout(config.idle_timeout)
            .pool_max_idle_per_host(config.max_idle);
        let auto = builder.build(connector.clone());
        builder.http2_only(true);
        let h2 = builder.build(connector);
        Self {
            h1: Pools::new(config.clone()),
            auto,
            h2,
        }
    }
}

impl Default for Upstreams {
    fn default() -> Self {
        Self::new(&PoolConfig::default())
    }
}

fn connector(connect_timeout: Duration) -> Connector {
    gatehouse_upstream::https_connector(connect_timeout, "backends")
}
