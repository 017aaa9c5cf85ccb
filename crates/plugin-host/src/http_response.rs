//! The response of a `wasi:http/proxy` plugin, whose body streams from the plugin's call.

use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

/// A response of a `wasi:http/proxy` plugin; its body streams as the plugin writes it.
pub type HttpResponse = http::Response<HttpBody>;

/// The body of an [`HttpResponse`]. Frames come from the plugin's call, which goes on (on its
/// own task) until the plugin has written the whole body or the call's deadline passes.
pub struct HttpBody(pub(crate) sync_wrapper::SyncWrapper<HyperOutgoingBody>);

impl std::fmt::Debug for HttpBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HttpBody")
    }
}

impl http_body::Body for HttpBody {
    type Data = bytes::Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<bytes::Bytes>, Self::Error>>> {
        std::pin::Pin::new(self.get_mut().0.get_mut())
            .poll_frame(cx)
            .map_err(|code| std::io::Error::other(format!("the plugin's body failed: {code:?}")))
    }
}
