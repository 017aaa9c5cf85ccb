//! An OpenID-style issuer on loopback that serves a JSON Web Key Set at
//! `/.well-known/jwks.json`, where JWT authorizers look by default. The set
//! can be replaced while it runs (key rotation); every fetch is counted.

use bytes::Bytes;
use http_body_util::Full;
use hyper::Response;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

#[derive(Debug)]
pub struct JwksServer {
    pub addr: SocketAddr,
    set: Arc<Mutex<serde_json::Value>>,
    fetches: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl JwksServer {
    pub async fn start(keys: Vec<serde_json::Value>) -> JwksServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind jwks server");
        let addr = listener.local_addr().expect("jwks addr");
        let set = Arc::new(Mutex::new(serde_json::json!({ "keys": keys })));
        let fetches = Arc::new(AtomicUsize::new(0));
        let (s, f) = (set.clone(), fetches.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let (s, f) = (s.clone(), f.clone());
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req: hyper::Request<_>| {
                        let (s, f) = (s.clone(), f.clone());
                        async move {
                            let resp = if req.uri().path() == "/.well-known/jwks.json" {
                                f.fetch_add(1, Ordering::SeqCst);
                                let doc = s.lock().expect("set").to_string();
                                Response::builder()
                                    .header("content-type", "application/json")
                                    .body(Full::new(Bytes::from(doc)))
                            } else {
                                Response::builder()
                                    .status(404)
                                    .body(Full::new(Bytes::new()))
                            };
                            Ok::<_, std::convert::Infallible>(resp.expect("response"))
                        }
                    });
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        JwksServer {
            addr,
            set,
            fetches,
            task,
        }
    }

    /// `http://ADDR`: the issuer URL.
    pub fn issuer(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Replaces the key set.
    pub fn set_keys(&self, keys: Vec<serde_json::Value>) {
        *self.set.lock().expect("set") = serde_json::json!({ "keys": keys });
    }

    /// How many times the key set was fetched.
    pub fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

impl Drop for JwksServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}
