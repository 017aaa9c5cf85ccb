//! `state:` with `backend: redis`: where Redis is (one server's `url`; a cluster's seed nodes,
//! `url` or `urls`; or the sentinels of `sentinel:`), its password and certificates, the
//! timeout, the key prefix and what to do while it is unavailable.

use gatehouse_config::raw::{RawOnUnavailable, RawSentinel, RawState};
use gatehouse_config::{duration, Errors};
use gatehouse_state::redis_store::{OnUnavailable, RedisConfig};
use gatehouse_state::SentinelConfig;
use std::path::Path;

/// The Redis settings of `raw` (whose `backend` is `redis`), every error recorded at its path.
pub(super) fn redis(raw: &RawState, dir: &Path, e: &mut Errors) -> Option<RedisConfig> {
    let cluster = raw.cluster.unwrap_or(false);
    let (urls, sentinel) = match &raw.sentinel {
        Some(s) => {
            not_with_sentinel(raw, cluster, e);
            match e.at("sentinel", |e| sentinel(s, e)) {
                Some((urls, s)) => (Some(urls), Some(s)),
                None => (None, None),
            }
        }
        None => (addresses(raw, cluster, e), None),
    };
    let password = env_password(raw.password_env.as_deref(), "password_env", e);
    let tls_ca = e.at("tls_ca_file", |e| redis_ca(raw, dir, e));
    let timeout = duration(e, "timeout", raw.timeout.as_deref(), 250, 10, 60_000);
    let key_prefix = raw.key_prefix.clone().unwrap_or_else(|| "gatehouse".into());
    if key_prefix.is_empty() || !key_prefix.chars().all(|c| c.is_ascii_graphic()) {
        e.push_at(
            "key_prefix",
            format!("expected visible ASCII characters, found `{key_prefix}`"),
        );
    }
    if cluster && raw.sentinel.is_none() {
        cluster_checks(raw, &key_prefix, e);
    }
    let (on_unavailable, throttles_unavailable) = e.at("on_unavailable", |e| {
        policies(raw.on_unavailable.as_ref(), e)
    });
    let urls = urls?;
    Some(RedisConfig {
        url: urls.first()?.clone(),
        urls,
        cluster,
        sentinel,
        password,
        password_env: raw.password_env.clone(),
        tls_ca,
        timeout,
        key_prefix,
        on_unavailable,
        throttles_unavailable,
    })
}

/// With `cluster: true`: each seed node's URL names database 0, and the key prefix holds no
/// hash tag (said once).
fn cluster_checks(raw: &RawState, key_prefix: &str, e: &mut Errors) {
    let given: Vec<(Option<usize>, &String)> = match (&raw.url, &raw.urls) {
        (Some(url), _) => vec![(None, url)],
        (None, Some(urls)) => urls.iter().enumerate().map(|(i, u)| (Some(i), u)).collect(),
        (None, None) => Vec::new(),
    };
    for (n, (index, url)) in given.into_iter().enumerate() {
        for (field, msg) in RedisConfig::check_cluster(url, key_prefix) {
            match (field, index) {
                ("url", Some(i)) => e.at("urls", |e| e.index(i, |e| e.push(msg))),
                ("url", None) => e.push_at("url", msg),
                _ if n == 0 => e.push_at(field, msg),
                _ => {}
            }
        }
    }
}

/// `url`, or with `cluster: true` `url` or `urls` (the seed nodes), checked.
fn addresses(raw: &RawState, cluster: bool, e: &mut Errors) -> Option<Vec<String>> {
    match (&raw.url, &raw.urls) {
        (Some(_), Some(_)) => {
            e.push_at(
                "urls",
                "expected url (one node) or urls (several seed nodes), not both",
            );
            None
        }
        (_, Some(_)) if !cluster => {
            e.push_at(
                "urls",
                "only used with cluster: true (one server: url; Redis Sentinel: sentinel.urls)",
            );
            None
        }
        (None, None) if cluster => {
            e.push_at(
                "url",
                "expected one seed node's redis:// or rediss:// URL (url) or several (urls) with cluster: true",
            );
            None
        }
        (None, None) => {
            e.push_at(
                "url",
                "expected a redis:// or rediss:// URL (or a sentinel: section) with backend: redis",
            );
            None
        }
        (Some(u), None) => match RedisConfig::check_url(u) {
            Ok(()) => Some(vec![u.clone()]),
            Err(msg) => {
                e.push_at("url", msg);
                None
            }
        },
        (None, Some(seeds)) => e.at("urls", |e| url_list(seeds, "seed node", e)),
    }
}

/// Each of `urls` checked (at its index), and the same scheme for all; `None` when any is
/// wrong or there is none.
fn url_list(urls: &[String], what: &str, e: &mut Errors) -> Option<Vec<String>> {
    if urls.is_empty() {
        e.push(format!(
            "expected a list of at least one {what}'s redis:// or rediss:// URL"
        ));
        return None;
    }
    let mut ok = true;
    let tls = urls[0].starts_with("rediss://");
    for (i, url) in urls.iter().enumerate() {
        e.index(i, |e| match RedisConfig::check_url(url) {
            Err(msg) => {
                e.push(msg);
                ok = false;
            }
            Ok(()) if url.starts_with("rediss://") != tls => {
                e.push(format!(
                    "expected the scheme of the first {what} ({}), found `{url}`",
                    if tls { "rediss://" } else { "redis://" }
                ));
                ok = false;
            }
            Ok(()) => {}
        });
    }
    ok.then(|| urls.to_vec())
}

/// `url`, `urls` and `cluster: true` are refused beside `sentinel`.
fn not_with_sentinel(raw: &RawState, cluster: bool, e: &mut Errors) {
    if raw.url.is_some() {
        e.push_at(
            "url",
            "not used with sentinel (the sentinels name the master; list them in sentinel.urls)",
        );
    }
    if raw.urls.is_some() {
        e.push_at(
            "urls",
            "not used with sentinel (list the sentinels in sentinel.urls)",
        );
    }
    if cluster {
        e.push_at(
            "cluster",
            "expected no cluster: true with sentinel (Sentinel watches one master and its replicas; a Redis Cluster fails over by itself)",
        );
    }
}

/// The sentinels' URLs and the master's name, checked.
fn sentinel(raw: &RawSentinel, e: &mut Errors) -> Option<(Vec<String>, SentinelConfig)> {
    let master_name = match raw.master_name.as_deref().map(str::trim) {
        Some(name) if !name.is_empty() => Some(name.to_owned()),
        _ => {
            e.push_at(
                "master_name",
                "expected the name the sentinels know the master by (sentinel monitor NAME ...)",
            );
            None
        }
    };
    let urls = match &raw.urls {
        None => {
            e.push_at(
                "urls",
                "expected a list of the sentinels' redis:// or rediss:// URLs",
            );
            None
        }
        Some(urls) => e.at("urls", |e| {
            let checked = url_list(urls, "sentinel", e);
            let wrong = RedisConfig::check_sentinels(urls);
            for (i, msg) in &wrong {
                e.index(*i, |e| e.push(msg.clone()));
            }
            checked.filter(|_| wrong.is_empty())
        }),
    };
    let password = env_password(raw.password_env.as_deref(), "password_env", e);
    let username = user_name(raw.username.as_deref(), "username", e);
    let master_username = user_name(raw.master_username.as_deref(), "master_username", e);
    Some((
        urls?,
        SentinelConfig {
            master_name: master_name?,
            username: username?,
            master_username: master_username?,
            password,
            password_env: raw.password_env.clone(),
        },
    ))
}

/// An ACL user name (given by `field`): `Some(None)` when none is given, `None` when the one
/// given is empty or has spaces.
fn user_name(given: Option<&str>, field: &str, e: &mut Errors) -> Option<Option<String>> {
    match given {
        None => Some(None),
        Some(user) if !user.is_empty() && !user.contains(char::is_whitespace) => {
            Some(Some(user.to_owned()))
        }
        Some(user) => {
            e.push_at(
                field,
                format!("expected an ACL user name (no spaces), found `{user}`"),
            );
            None
        }
    }
}

/// The value of the environment variable `name` (given by `field`), which must be set.
fn env_password(name: Option<&str>, field: &str, e: &mut Errors) -> Option<String> {
    let name = name?;
    match std::env::var(name) {
        Ok(p) if !p.is_empty() => Some(p),
        _ => {
            e.push_at(
                field,
                format!("the environment variable `{name}` is not set"),
            );
            None
        }
    }
}

/// What quota checks and throttles do while Redis is unavailable.
fn policies(given: Option<&RawOnUnavailable>, e: &mut Errors) -> (OnUnavailable, OnUnavailable) {
    let policy = |e: &mut Errors, given: Option<&str>, default| match given {
        None => default,
        Some("fail_closed") => OnUnavailable::FailClosed,
        Some("fail_open") => OnUnavailable::FailOpen,
        Some(other) => {
            e.push(format!(
                "expected fail_open or fail_closed, found `{other}`"
            ));
            default
        }
    };
    match given {
        None => (OnUnavailable::FailClosed, OnUnavailable::FailOpen),
        Some(RawOnUnavailable::Quotas(q)) => (
            policy(e, Some(q), OnUnavailable::FailClosed),
            OnUnavailable::FailOpen,
        ),
        Some(RawOnUnavailable::PerFeature(p)) => (
            e.at("quotas", |e| {
                policy(e, p.quotas.as_deref(), OnUnavailable::FailClosed)
            }),
            e.at("throttles", |e| {
                policy(e, p.throttles.as_deref(), OnUnavailable::FailOpen)
            }),
        ),
    }
}

/// The PEM certificates `tls_ca_file` names (relative to the config's folder); only with
/// `rediss://` URLs (the server's, the seeds' or the sentinels').
fn redis_ca(raw: &RawState, dir: &Path, e: &mut Errors) -> Option<Vec<u8>> {
    let file = raw.tls_ca_file.as_ref()?;
    let first = raw
        .url
        .as_ref()
        .or(raw.urls.as_ref().and_then(|u| u.first()))
        .or(raw
            .sentinel
            .as_ref()
            .and_then(|s| s.urls.as_ref())
            .and_then(|u| u.first()));
    if !first.is_some_and(|u| u.starts_with("rediss://")) {
        e.push("only used with a rediss:// URL");
        return None;
    }
    match std::fs::read(dir.join(file)) {
        Ok(pem) if pem.windows(27).any(|w| w == b"-----BEGIN CERTIFICATE-----") => Some(pem),
        Ok(_) => {
            e.push(format!("expected PEM certificates in `{}`", file.display()));
            None
        }
        Err(err) => {
            e.push(format!("cannot read `{}`: {err}", file.display()));
            None
        }
    }
}
