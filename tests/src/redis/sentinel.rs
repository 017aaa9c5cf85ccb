//! A master, one replica and three sentinels watching them, each a `redis-server` on a free
//! loopback port in its own temporary folder; the data nodes and the sentinels each ask for
//! a password of their own, and each also has an ACL user ([`DATA_USER`], [`SENTINEL_USER`])
//! with another password. With [`RedisSentinel::start_tls`], each also listens with TLS on a
//! second port, which replication, the sentinels and the gateway use (the plain ports stay
//! for the test's own queries). Everything is killed when dropped.

use super::{redis_server_bin, start_with_retries, RedisServer};
use crate::free_port;
use crate::tls::TestCa;
use std::cell::Cell;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The master's name as the sentinels know it.
pub const MASTER_NAME: &str = "gh-main";
/// The password of the master and the replica (`requirepass`, `masterauth`).
pub const DATA_PASSWORD: &str = "data-pass-7f3c";
/// The sentinels' own password.
pub const SENTINEL_PASSWORD: &str = "sentinel-pass-91ab";
/// An ACL user of the master and the replica, and its password.
pub const DATA_USER: &str = "gate";
pub const DATA_USER_PASSWORD: &str = "gate-pass-4d21";
/// An ACL user of the sentinels, and its password.
pub const SENTINEL_USER: &str = "gate-watch";
pub const SENTINEL_USER_PASSWORD: &str = "watch-pass-c06e";

/// A master, its replica and three sentinels (quorum 2) that fail over one second after the
/// master stops answering.
#[derive(Debug)]
pub struct RedisSentinel {
    /// The master at start (after a failover, a dead server or a replica).
    pub master: RedisServer,
    /// The replica at start, which a failover promotes.
    pub replica: RedisServer,
    pub sentinels: Vec<RedisServer>,
    /// With TLS: the TLS ports and the CA file.
    tls: Option<Tls>,
}

/// The TLS side of a [`RedisSentinel::start_tls`] setup: the files, and the TLS ports the
/// replica and the sentinels listen on.
#[derive(Debug)]
struct Tls {
    /// Holds `ca.pem`, `cert.pem` and `key.pem`.
    dir: tempfile::TempDir,
    replica: u16,
    sentinels: Vec<u16>,
}

/// A server's TLS settings ([`super::tls_settings`]); replication and a sentinel's
/// connections go over TLS too.
fn tls_settings(dir: &Path, port: u16) -> Vec<(String, String)> {
    let mut settings = super::tls_settings(dir, port);
    settings.push(("tls-replication".into(), "yes".into()));
    settings
}

impl RedisSentinel {
    /// Starts the master, the replica and the sentinels, and waits (at most 20 s) until the
    /// replica is in sync and every sentinel knows the replica and the two other sentinels.
    pub fn start() -> RedisSentinel {
        Self::start_with(None)
    }

    /// As [`RedisSentinel::start`], every server also listening with TLS (a certificate from
    /// `ca`): the replica replicates, and the sentinels watch, over TLS, and [`urls`] names the
    /// sentinels' TLS ports (`rediss://`).
    ///
    /// [`urls`]: RedisSentinel::urls
    pub fn start_tls(ca: &TestCa) -> RedisSentinel {
        let dir = tempfile::tempdir().expect("tempdir");
        super::write_tls_files(ca, dir.path());
        Self::start_with(Some(dir))
    }

    /// Starts everything, with TLS when `tls_dir` (holding the TLS files) is given. Like the
    /// plain port, a TLS port can be taken between the probe and the server's bind, so each
    /// try at starting a server probes a TLS port of its own.
    fn start_with(tls_dir: Option<tempfile::TempDir>) -> RedisSentinel {
        let tls_path = tls_dir.as_ref().map(|d| d.path());
        let data = |extra: &[&str]| {
            let user = format!(">{DATA_USER_PASSWORD}");
            let mut args: Vec<String> = ["--requirepass", DATA_PASSWORD]
                .iter()
                .chain(["--masterauth", DATA_PASSWORD].iter())
                .chain(["--user", DATA_USER, "on", &user, "~*", "&*", "+@all"].iter())
                .map(|a| a.to_string())
                .collect();
            args.extend(extra.iter().map(|a| a.to_string()));
            let tls_port = Cell::new(0);
            let server = RedisServer::start_on_free_port(|_, _| {
                let mut args = args.clone();
                if let Some(dir) = tls_path {
                    tls_port.set(free_port());
                    for (name, value) in tls_settings(dir, tls_port.get()) {
                        args.extend([format!("--{name}"), value]);
                    }
                }
                args
            });
            (server, tls_port.get())
        };
        let (master, master_tls) = data(&[]);
        // Over TLS, the replica and the sentinels reach the master on its TLS port.
        let watched = match tls_path {
            Some(_) => SocketAddr::from(([127, 0, 0, 1], master_tls)),
            None => master.addr,
        };
        let port = watched.port().to_string();
        let (replica, replica_tls) = data(&["--replicaof", "127.0.0.1", &port]);
        let (sentinels, sentinels_tls): (Vec<_>, Vec<_>) =
            (0..3).map(|_| start_sentinel(watched, tls_path)).unzip();
        let all = RedisSentinel {
            master,
            replica,
            sentinels,
            tls: tls_dir.map(|dir| Tls {
                dir,
                replica: replica_tls,
                sentinels: sentinels_tls,
            }),
        };
        all.wait_until_ready();
        all
    }

    /// The file of the CA that signed the servers' certificates, with TLS.
    pub fn ca_file(&self) -> Option<std::path::PathBuf> {
        self.tls.as_ref().map(|t| t.dir.path().join("ca.pem"))
    }

    /// The port the sentinels name the replica by (its TLS port, with TLS).
    fn replica_port(&self) -> u16 {
        self.tls
            .as_ref()
            .map_or(self.replica.addr.port(), |t| t.replica)
    }

    fn wait_until_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let synced = self
                .data(&self.replica, &["INFO", "replication"])
                .is_some_and(|info| info.contains("master_link_status:up"));
            let known = self.sentinels.iter().all(|s| {
                let master = sentinel_query(s, &["SENTINEL", "MASTER", MASTER_NAME]);
                let field = |name: &str| {
                    let at = master.iter().position(|f| f == name)?;
                    master.get(at + 1)?.parse::<u32>().ok()
                };
                field("num-slaves") == Some(1) && field("num-other-sentinels") == Some(2)
            });
            if synced && known {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the sentinels are not ready (replica in sync: {synced})"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The sentinels' URLs, for `state.sentinel.urls` (a YAML flow sequence).
    pub fn urls(&self) -> String {
        let urls: Vec<String> = match &self.tls {
            Some(t) => t
                .sentinels
                .iter()
                .map(|p| format!("\"rediss://127.0.0.1:{p}\""))
                .collect(),
            None => self
                .sentinels
                .iter()
                .map(|s| format!("\"redis://{}\"", s.addr))
                .collect(),
        };
        format!("[{}]", urls.join(", "))
    }

    /// The `state:` fields that name it, for a YAML flow mapping; the passwords are in the
    /// environment variables [`RedisSentinel::env`] sets.
    pub fn fields(&self) -> String {
        format!(
            "sentinel: {{ master_name: {MASTER_NAME}, urls: {}, password_env: TEST_SENTINEL_PASSWORD }}, password_env: TEST_REDIS_PASSWORD",
            self.urls()
        )
    }

    /// The environment a gateway using [`RedisSentinel::fields`] needs.
    pub fn env() -> [(&'static str, &'static str); 2] {
        [
            ("TEST_REDIS_PASSWORD", DATA_PASSWORD),
            ("TEST_SENTINEL_PASSWORD", SENTINEL_PASSWORD),
        ]
    }

    /// The port of the master the first sentinel that answers names.
    pub fn named_master(&self) -> Option<u16> {
        self.sentinels.iter().find_map(|s| {
            let addr = sentinel_query(s, &["SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER_NAME]);
            addr.get(1)?.parse().ok()
        })
    }

    /// Waits (at most `within`) until every sentinel names the replica as the master and
    /// the replica says it is one.
    pub fn wait_for_failover(&self, within: Duration) {
        let deadline = Instant::now() + within;
        let replica = self.replica_port();
        loop {
            let named = self.sentinels.iter().all(|s| {
                let addr = sentinel_query(s, &["SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER_NAME]);
                addr.get(1).and_then(|p| p.parse().ok()) == Some(replica)
            });
            let role = self.data(&self.replica, &["ROLE"]).unwrap_or_default();
            if named && role.starts_with("master") {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "no failover to the replica within {within:?} (its role: {role})"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// A command on a data node (with the password); its answer's parts, joined by `\n`.
    pub fn data(&self, server: &RedisServer, args: &[&str]) -> Option<String> {
        Some(server.query(Some(DATA_PASSWORD), args)?.join("\n"))
    }
}

/// A command on a sentinel (with its password); its answer's parts (empty when it cannot be
/// reached).
fn sentinel_query(sentinel: &RedisServer, args: &[&str]) -> Vec<String> {
    sentinel
        .query(Some(SENTINEL_PASSWORD), args)
        .unwrap_or_default()
}

/// Starts a sentinel watching the master at `master` (its config in a file it may rewrite,
/// in its own folder), listening with TLS as well when `tls_dir` holds the TLS files, and
/// waits until it answers; returns it and its TLS port (0 without TLS). A sentinel that exits
/// before it answers is started again on new ports ([`start_with_retries`]).
fn start_sentinel(master: SocketAddr, tls_dir: Option<&Path>) -> (RedisServer, u16) {
    start_with_retries(|| {
        let tls_port = tls_dir.map_or(0, |_| free_port());
        let settings = tls_dir.map_or_else(Vec::new, |dir| tls_settings(dir, tls_port));
        match try_sentinel(master, &settings) {
            Ok(sentinel) => Ok((sentinel, tls_port)),
            Err((port, status)) if tls_dir.is_some() => {
                Err((format!("ports {port} and {tls_port} (TLS)"), status))
            }
            Err((port, status)) => Err((format!("port {port}"), status)),
        }
    })
}

/// Starts a sentinel watching the master at `master`, with `more` config lines, on a free
/// port, and waits until it answers; its port and exit status when it exits first.
fn try_sentinel(
    master: SocketAddr,
    more: &[(String, String)],
) -> Result<RedisServer, (u16, std::process::ExitStatus)> {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let conf = dir.path().join("sentinel.conf");
    let m = MASTER_NAME;
    let text = format!(
        "port {port}\nbind 127.0.0.1\ndir {dir}\nrequirepass {SENTINEL_PASSWORD}\n\
         user {SENTINEL_USER} on >{SENTINEL_USER_PASSWORD} ~* &* +@all\n\
         sentinel sentinel-pass {SENTINEL_PASSWORD}\n\
         sentinel monitor {m} {ip} {mport} 2\n\
         sentinel auth-pass {m} {DATA_PASSWORD}\n\
         sentinel down-after-milliseconds {m} 1000\n\
         sentinel failover-timeout {m} 5000\n\
         sentinel parallel-syncs {m} 1\n",
        dir = dir.path().display(),
        ip = master.ip(),
        mport = master.port(),
    );
    let more: String = more.iter().map(|(k, v)| format!("{k} {v}\n")).collect();
    std::fs::write(&conf, text + &more).expect("write sentinel.conf");
    let bin = redis_server_bin();
    let child = Command::new(&bin)
        .current_dir(dir.path())
        .arg(&conf)
        .arg("--sentinel")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run `{bin} --sentinel` ({e})"));
    let mut sentinel = RedisServer {
        child: Some(child),
        dir,
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
        tls: false,
        args: Vec::new(),
    };
    sentinel.wait_for_ping().map_err(|status| (port, status))?;
    Ok(sentinel)
}
