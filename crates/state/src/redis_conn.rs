//! Where the shared store is ([`RedisConfig`], `state:` with `backend: redis`) and the
//! connection to it behind one type, [`Conn`]: one server (a [`ConnectionManager`]), a
//! Redis Cluster (a [`ClusterConnection`], which sends each command to the master serving
//! its key's slot and follows the cluster's topology by itself), or the master that Redis
//! Sentinel names (a [`sentinel::SentinelConn`], which follows it through failovers).
//!
//! In a cluster, every command, pipeline and script must keep its keys in one slot; the store
//! names the keys that go together with one hash tag (see the store's `keys_key`), and
//! [`Conn::run_groups`] runs groups of unrelated writes one group per call. Pub/sub uses the
//! sharded commands there (`SPUBLISH`, `SSUBSCRIBE`), whose subscriber count is exact: the
//! channel lives on the master of its slot, where the subscribers are.

use super::StoreError;
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::{ClusterClient, ClusterClientBuilder};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, IntoConnectionInfo, Pipeline, RedisFuture, RedisResult, Value};
use std::sync::Arc;
use std::time::Duration;

mod sentinel;

/// What a quota check does when Redis cannot be reached or does not answer in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnUnavailable {
    /// A quota check admits the request without counting it; a throttle admits from the
    /// node's own bucket.
    FailOpen,
    /// A quota check answers 503; a throttle answers 429.
    #[default]
    FailClosed,
}

/// Where the shared store is and how to talk to it (`state:` with `backend: redis`).
#[derive(Clone, PartialEq, Eq)]
pub struct RedisConfig {
    /// `redis://` or `rediss://` (TLS) URL, without a password: the server; with `cluster`,
    /// the first seed node of the cluster; with `sentinel`, the first sentinel. Messages name
    /// the store by it.
    pub url: String,
    /// Every URL the config names, `url` first: the cluster's seed nodes (the client learns
    /// the other nodes from the first that answers), or the sentinels. Empty: `url` alone.
    pub urls: Vec<String>,
    /// Whether the URLs are nodes of a Redis Cluster.
    pub cluster: bool,
    /// With Redis Sentinel: the URLs are the sentinels, which name the master.
    pub sentinel: Option<SentinelConfig>,
    /// The password (of the server, every node of a cluster, or the master and its replicas
    /// with `sentinel`), read from the environment variable `password_env` names.
    pub password: Option<String>,
    pub password_env: Option<String>,
    /// With a `rediss://` URL: the certificates (PEM) to trust instead of the system's roots,
    /// as read from `tls_ca_file`.
    pub tls_ca: Option<Vec<u8>>,
    /// The longest any one call may take.
    pub timeout: Duration,
    pub key_prefix: String,
    /// For quota checks.
    pub on_unavailable: OnUnavailable,
    /// For stage, method, account and per-key throttles.
    pub throttles_unavailable: OnUnavailable,
}

/// `state.sentinel`: which master the sentinels are asked for, and their own password.
#[derive(Clone, PartialEq, Eq)]
pub struct SentinelConfig {
    /// The master's name as the sentinels know it (`sentinel monitor NAME ...`).
    pub master_name: String,
    /// The sentinels' ACL user; `None`: their default user.
    pub username: Option<String>,
    /// The ACL user on the master (and its replicas); `None`: their default user.
    pub master_username: Option<String>,
    /// The sentinels' password (`requirepass` in their config, or their ACL user's), read
    /// from the environment variable `password_env` names.
    pub password: Option<String>,
    pub password_env: Option<String>,
}

impl std::fmt::Debug for SentinelConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SentinelConfig")
            .field("master_name", &self.master_name)
            .field("username", &self.username)
            .field("master_username", &self.master_username)
            .field("password_env", &self.password_env)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the password itself: this may end up in a log.
        f.debug_struct("RedisConfig")
            .field("url", &self.url)
            .field("urls", &self.urls)
            .field("cluster", &self.cluster)
            .field("sentinel", &self.sentinel)
            .field("password_env", &self.password_env)
            .field("tls_ca", &self.tls_ca.is_some())
            .field("timeout", &self.timeout)
            .field("key_prefix", &self.key_prefix)
            .field("on_unavailable", &self.on_unavailable)
            .field("throttles_unavailable", &self.throttles_unavailable)
            .finish_non_exhaustive()
    }
}

impl RedisConfig {
    /// The URLs to connect to: `urls`, or `url` alone when `urls` is empty.
    pub fn addresses(&self) -> Vec<&str> {
        match self.urls.is_empty() {
            true => vec![self.url.as_str()],
            false => self.urls.iter().map(String::as_str).collect(),
        }
    }

    /// Checks a `url` as the config gives it; the message says what is expected.
    pub fn check_url(url: &str) -> Result<(), String> {
        let parsed = redis::parse_redis_url(url)
            .ok_or_else(|| format!("expected a redis:// or rediss:// URL, found `{url}`"))?;
        if !matches!(parsed.scheme(), "redis" | "rediss") {
            return Err(format!(
                "expected a redis:// or rediss:// URL, found scheme `{}`",
                parsed.scheme()
            ));
        }
        if parsed.password().is_some() {
            return Err(
                "a password in the URL would show in logs; name an environment variable with password_env instead"
                    .into(),
            );
        }
        url.into_connection_info()
            .map(|_| ())
            .map_err(|e| format!("expected a Redis URL: {e}"))
    }

    /// With `cluster: true`: what the config gets wrong, as (field, message).
    pub fn check_cluster(url: &str, key_prefix: &str) -> Vec<(&'static str, String)> {
        let mut wrong = Vec::new();
        if let Ok(info) = url.into_connection_info() {
            if info.redis_settings().db() != 0 {
                let db = info.redis_settings().db();
                wrong.push((
                    "url",
                    format!("a Redis Cluster has only database 0, found {db}"),
                ));
            }
        }
        if key_prefix.contains(['{', '}']) {
            wrong.push((
                "key_prefix",
                format!("expected no {{ or }} with cluster: true (the store adds hash tags), found `{key_prefix}`"),
            ));
        }
        wrong
    }

    /// With `sentinel`: what is wrong with the sentinels' URLs, as (index, message): they
    /// name no database (the master's is 0) and no user (the users are `sentinel.username`
    /// and `sentinel.master_username`, the passwords `sentinel.password_env` and
    /// `password_env`).
    pub fn check_sentinels(urls: &[String]) -> Vec<(usize, String)> {
        let mut wrong = Vec::new();
        for (i, url) in urls.iter().enumerate() {
            let Ok(info) = url.as_str().into_connection_info() else {
                continue;
            };
            let settings = info.redis_settings();
            if settings.db() != 0 {
                let db = settings.db();
                wrong.push((
                    i,
                    format!(
                        "expected no database in a sentinel's URL (the master's is 0), found {db}"
                    ),
                ));
            }
            if let Some(user) = settings.username() {
                wrong.push((
                    i,
                    format!("expected no user name in a sentinel's URL, found `{user}` (name the sentinels' ACL user with sentinel.username, the master's with sentinel.master_username)"),
                ));
            }
        }
        wrong
    }
}

pub(crate) fn err(e: impl std::fmt::Display) -> StoreError {
    StoreError(format!("redis: {e}"))
}

/// A connection to one Redis server or to a Redis Cluster; cheap to clone (it is multiplexed).
#[derive(Clone)]
pub(crate) enum Conn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
    Sentinel(sentinel::SentinelConn),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Single(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
            Conn::Sentinel(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Single(c) => c.req_packed_commands(cmd, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(cmd, offset, count),
            Conn::Sentinel(c) => c.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
            Conn::Sentinel(c) => c.get_db(),
        }
    }
}

impl Conn {
    /// `PUBLISH channel message`, or on a cluster `SPUBLISH` (see the module's doc).
    pub(crate) fn publish(&self, channel: &str, message: impl redis::ToRedisArgs) -> Cmd {
        let mut cmd = redis::cmd(self.publish_command());
        cmd.arg(channel).arg(message);
        cmd
    }

    /// `PUBLISH`, or `SPUBLISH` on a cluster.
    pub(crate) fn publish_command(&self) -> &'static str {
        match self {
            Conn::Single(_) | Conn::Sentinel(_) => "PUBLISH",
            Conn::Cluster(_) => "SPUBLISH",
        }
    }

    /// Runs `groups` of commands whose answers are not needed, each group's keys in one slot:
    /// on one server (or a sentinel's master) in one pipeline (a transaction when `atomic`), on a cluster one pipeline
    /// per group (each a transaction when `atomic`), all at once.
    pub(crate) async fn run_groups(
        &mut self,
        groups: Vec<Vec<Cmd>>,
        atomic: bool,
    ) -> RedisResult<()> {
        let pipeline = |cmds: Vec<Cmd>| {
            let mut pipe = redis::pipe();
            if atomic {
                pipe.atomic();
            }
            for cmd in cmds {
                pipe.add_command(cmd).ignore();
            }
            pipe
        };
        match self {
            Conn::Single(_) | Conn::Sentinel(_) => {
                pipeline(groups.into_iter().flatten().collect())
                    .query_async(self)
                    .await
            }
            Conn::Cluster(c) => {
                let calls = groups.into_iter().map(|cmds| {
                    let (pipe, mut c) = (pipeline(cmds), c.clone());
                    async move { pipe.query_async::<()>(&mut c).await }
                });
                futures_util::future::try_join_all(calls).await.map(drop)
            }
        }
    }
}

/// Where subscriptions connect: a client of the one server, the cluster's settings (each
/// subscription makes its own cluster connection, which delivers its messages), or the
/// sentinels (each subscription asks them for the master).
#[derive(Clone)]
pub(crate) enum Subscriber {
    Single(redis::Client),
    Cluster(RedisConfig),
    Sentinel(Arc<sentinel::Finder>, sentinel::MasterMoves),
}

impl Subscriber {
    /// A client of the server to subscribe on now: the one server, or the master the
    /// sentinels name; `None` on a cluster.
    pub(crate) async fn server(&self) -> Option<redis::RedisResult<redis::Client>> {
        match self {
            Subscriber::Single(client) => Some(Ok(client.clone())),
            Subscriber::Sentinel(finder, _) => Some(finder.master().await),
            Subscriber::Cluster(_) => None,
        }
    }

    /// Returns when a subscription on the server at `addr` should move: with Sentinel, once
    /// the store's connection moved to another master; never otherwise.
    pub(crate) async fn moved_from(&self, addr: &str) {
        match self {
            Subscriber::Sentinel(_, moves) => moves.away_from(addr).await,
            _ => std::future::pending().await,
        }
    }

    /// Returns when a subscription waiting to try again may stop waiting: with Sentinel, once
    /// the store's connection found a master (a failover is over); never otherwise.
    pub(crate) async fn master_found(&self) {
        match self {
            Subscriber::Sentinel(_, moves) => moves.connected(|_| true).await,
            _ => std::future::pending().await,
        }
    }
}

/// Connects to what `config` names (failing when it does not answer within the timeout), and
/// says where subscriptions connect.
pub(crate) async fn open(config: &RedisConfig) -> Result<(Conn, Subscriber), StoreError> {
    let timeout = config.timeout;
    if config.sentinel.is_some() {
        let finder = Arc::new(sentinel::Finder::new(config)?);
        let conn = sentinel::SentinelConn::open(finder.clone()).await?;
        let moves = conn.moves();
        return Ok((Conn::Sentinel(conn), Subscriber::Sentinel(finder, moves)));
    }
    if config.cluster {
        let client = config.cluster_builder()?.build().map_err(err)?;
        let conn = within(timeout, client.get_async_connection()).await?;
        return Ok((Conn::Cluster(conn), Subscriber::Cluster(config.clone())));
    }
    let client = config.client()?;
    // One plain connection first: the manager below retries a refused AUTH until the
    // timeout, which would hide why (a wrong password) behind "no answer".
    let mut first = within(timeout, client.get_multiplexed_async_connection()).await?;
    // A node of a cluster would answer MOVED for the keys of other nodes' slots. (A server
    // that does not answer INFO is taken as it is.)
    let mut info = redis::cmd("INFO");
    info.arg("cluster");
    if let Ok(info) = within(timeout, info.query_async::<String>(&mut first)).await {
        if info.lines().any(|l| l.trim() == "cluster_enabled:1") {
            return Err(err(
                "the server is a node of a Redis Cluster; set state.cluster: true",
            ));
        }
    }
    let manager = manager_config(timeout);
    let conn = within(timeout, client.get_connection_manager_with_config(manager)).await?;
    Ok((Conn::Single(conn), Subscriber::Single(client)))
}

/// How a [`ConnectionManager`] reconnects: with backoff from 50 ms to 2 s.
fn manager_config(timeout: Duration) -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_connection_timeout(Some(timeout))
        .set_response_timeout(Some(timeout))
        .set_min_delay(Duration::from_millis(50))
        .set_max_delay(Duration::from_secs(2))
        .set_number_of_retries(6)
}

/// Opens one more command connection, of a worker's own, whose I/O runs on the runtime that
/// polls this future (the connection's task is spawned there): to one server or to a
/// cluster. `None` with Sentinel, whose connection follows the master from the store's own
/// runtime; the worker uses the store's connection then. [`open`] has already checked what
/// the server is, so this does not ask again.
pub(crate) async fn open_for_worker(config: &RedisConfig) -> Option<Result<Conn, StoreError>> {
    let timeout = config.timeout;
    if config.sentinel.is_some() {
        return None;
    }
    let opened = async {
        if config.cluster {
            let client = config.cluster_builder()?.build().map_err(err)?;
            let conn = within(timeout, client.get_async_connection()).await?;
            return Ok(Conn::Cluster(conn));
        }
        let client = config.client()?;
        let manager = manager_config(timeout);
        let conn = within(timeout, client.get_connection_manager_with_config(manager)).await?;
        Ok(Conn::Single(conn))
    };
    Some(opened.await)
}

/// `fut`'s answer, or an error when it fails or does not answer within `timeout`.
pub(crate) async fn within<T>(
    timeout: Duration,
    fut: impl std::future::Future<Output = RedisResult<T>>,
) -> Result<T, StoreError> {
    match tokio::time::timeout(timeout, fut).await {
        Ok(r) => r.map_err(err),
        Err(_) => Err(err(format!("no answer within {timeout:?}"))),
    }
}

impl RedisConfig {
    /// A client of the one server `url` names, with the password and certificates.
    pub(crate) fn client(&self) -> Result<redis::Client, StoreError> {
        use err;
        let mut info = self.url.as_str().into_connection_info().map_err(err)?;
        if let Some(p) = &self.password {
            let settings = info.redis_settings().clone().set_password(p);
            info = info.set_redis_settings(settings);
        }
        match &self.tls_ca {
            None => redis::Client::open(info),
            Some(pem) => redis::Client::build_with_tls(
                info,
                redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(pem.clone()),
                },
            ),
        }
        .map_err(err)
    }

    /// The settings of a cluster client with the URLs as its seeds: the password, the
    /// certificates, the timeout for each connection and answer, and reconnection with
    /// backoff (50 ms to 2 s).
    pub(crate) fn cluster_builder(&self) -> Result<ClusterClientBuilder, StoreError> {
        let mut seeds = Vec::new();
        for url in self.addresses() {
            seeds.push(url.into_connection_info().map_err(err)?);
        }
        let mut builder = ClusterClient::builder(seeds)
            .connection_timeout(self.timeout)
            .response_timeout(self.timeout)
            .min_retry_wait(50)
            .max_retry_wait(2000);
        if let Some(p) = &self.password {
            builder = builder.password(p);
        }
        if let Some(pem) = &self.tls_ca {
            builder = builder.certs(redis::TlsCertificates {
                client_tls: None,
                root_cert: Some(pem.clone()),
            });
        }
        Ok(builder)
    }
}

#[cfg(test)]
impl RedisConfig {
    /// One server at `url`, no password or TLS, a 250 ms timeout, prefix `gatehouse`, quotas
    /// `fail_closed` and throttles `fail_open`.
    pub(crate) fn for_tests(url: &str) -> RedisConfig {
        RedisConfig {
            url: url.into(),
            urls: Vec::new(),
            cluster: false,
            sentinel: None,
            password: None,
            password_env: None,
            tls_ca: None,
            timeout: Duration::from_millis(250),
            key_prefix: "gatehouse".into(),
            on_unavailable: OnUnavailable::FailClosed,
            throttles_unavailable: OnUnavailable::FailOpen,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(url: &str) -> RedisConfig {
        RedisConfig::for_tests(url)
    }

    #[test]
    fn the_addresses_are_the_list_or_else_the_one_url() {
        let mut c = config("redis://10.0.0.1:7000");
        assert_eq!(c.addresses(), ["redis://10.0.0.1:7000"]);
        c.urls = vec![
            "redis://10.0.0.1:7000".into(),
            "redis://10.0.0.2:7000".into(),
        ];
        assert_eq!(c.addresses().len(), 2);
    }

    #[test]
    fn sentinel_urls_name_no_database_and_no_user() {
        let urls = [
            "redis://127.0.0.1:26379",
            "redis://127.0.0.1:26380/0",
            "redis://127.0.0.1:26381/4",
            "redis://ops@127.0.0.1:26382",
        ]
        .map(String::from);
        let wrong = RedisConfig::check_sentinels(&urls);
        let at: Vec<usize> = wrong.iter().map(|(i, _)| *i).collect();
        assert_eq!(at, [2, 3], "{wrong:?}");
        assert!(wrong[0].1.contains("found 4"), "{wrong:?}");
        assert!(wrong[1].1.contains("`ops`"), "{wrong:?}");
    }

    #[test]
    fn neither_password_shows_in_the_debug_form() {
        let mut c = config("redis://127.0.0.1:26379");
        c.password = Some("data-secret".into());
        c.password_env = Some("REDIS_PASSWORD".into());
        c.sentinel = Some(SentinelConfig {
            master_name: "main".into(),
            username: Some("gate-watch".into()),
            master_username: Some("gate".into()),
            password: Some("sentinel-secret".into()),
            password_env: Some("SENTINEL_PASSWORD".into()),
        });
        let shown = format!("{c:?}");
        assert!(shown.contains("SENTINEL_PASSWORD") && shown.contains("main"));
        assert!(!shown.contains("secret"), "{shown}");
    }
}
