//! The response of a `wasi:http/proxy` plugin. When the plugin's call has returned before
//! the response leaves, its body is whole and of known length; otherwise the body drives the
//! rest of the call, and streams as the plugin writes it.

use bytes::Bytes;
use http_body::{Body as _, Frame, SizeHint};
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

/// A response of a `wasi:http/proxy` plugin.
pub type HttpResponse = http::Response<HttpBody>;

/// The rest of a plugin's call, run while its response body is read.
pub(crate) type Call = Pin<Box<dyn Future<Output = Result<(), crate::PluginFailure>> + Send>>;

/// The body of an [`HttpResponse`] (also of a plugin's outbound request).
pub struct HttpBody {
    inner: sync_wrapper::SyncWrapper<Inner>,
    hint: SizeHint,
    ended: bool,
}

enum Inner {
    /// Written by a call that has returned: nothing is left to wait for.
    Whole(Option<Bytes>),
    /// Still being written, or whole but with trailers or an error: the frames already read,
    /// then the rest from the plugin.
    Streaming {
        read: VecDeque<Result<Frame<Bytes>, wasmtime_wasi_http::Error>>,
        call: Option<Call>,
        /// How the call failed, if it did before the body ended: the body then ends in an
        /// error, not as if it were whole.
        failure: Option<crate::PluginFailure>,
        body: HyperOutgoingBody,
        body_ended: bool,
    },
}

impl HttpBody {
    /// A body still being written by `call`, which it runs as it is read; dropped unread (the
    /// client went away), it leaves the call to finish on a task of its own.
    pub(crate) fn streaming(body: HyperOutgoingBody, call: Option<Call>) -> Self {
        Self::unfinished(VecDeque::new(), call, body, false)
    }

    /// A body of unknown length: the frames `read` already, then the rest of `body`.
    fn unfinished(
        read: VecDeque<Result<Frame<Bytes>, wasmtime_wasi_http::Error>>,
        call: Option<Call>,
        body: HyperOutgoingBody,
        body_ended: bool,
    ) -> Self {
        Self {
            inner: sync_wrapper::SyncWrapper::new(Inner::Streaming {
                read,
                call,
                failure: None,
                body,
                body_ended,
            }),
            hint: SizeHint::default(),
            ended: false,
        }
    }

    /// The body of a call that has returned: what it wrote is read at once, and when that is
    /// the whole body, with no trailers, it is one buffer of known length.
    pub(crate) fn written(mut body: HyperOutgoingBody) -> Self {
        let mut cx = Context::from_waker(Waker::noop());
        let mut read = VecDeque::new();
        let ended = loop {
            match Pin::new(&mut body).poll_frame(&mut cx) {
                Poll::Ready(Some(frame)) => read.push_back(frame),
                Poll::Ready(None) => break true,
                Poll::Pending => break false,
            }
        };
        let all_data = read
            .iter()
            .all(|f| matches!(f, Ok(frame) if frame.is_data()));
        if !(ended && all_data) {
            return Self::unfinished(read, None, body, ended);
        }
        let mut chunks = read
            .into_iter()
            .filter_map(|f| f.ok().and_then(|f| f.into_data().ok()))
            .filter(|d| !d.is_empty());
        let data = match (chunks.next(), chunks.next()) {
            (None, _) => None,
            (Some(one), None) => Some(one),
            (Some(first), Some(second)) => {
                let mut all = bytes::BytesMut::from(first);
                all.extend_from_slice(&second);
                chunks.for_each(|c| all.extend_from_slice(&c));
                Some(all.freeze())
            }
        };
        let len = data.as_ref().map_or(0, |d| d.len() as u64);
        Self {
            ended: data.is_none(),
            inner: sync_wrapper::SyncWrapper::new(Inner::Whole(data)),
            hint: SizeHint::with_exact(len),
        }
    }

    /// Lets `call` finish on a task of its own; with no runtime to run it, it is dropped
    /// (and its instance with it).
    pub(crate) fn detach(call: Call) {
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(call);
        }
    }
}

impl Drop for HttpBody {
    fn drop(&mut self) {
        if let Inner::Streaming { call, .. } = self.inner.get_mut() {
            if let Some(call) = call.take() {
                Self::detach(call);
            }
        }
    }
}

impl std::fmt::Debug for HttpBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HttpBody")
    }
}

fn failed(code: wasmtime_wasi_http::Error) -> std::io::Error {
    std::io::Error::other(format!("the plugin's body failed: {code:?}"))
}

impl http_body::Body for HttpBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        let next = match this.inner.get_mut() {
            Inner::Whole(data) => {
                let next = data.take();
                this.ended = true;
                return Poll::Ready(next.map(|d| Ok(Frame::data(d))));
            }
            Inner::Streaming {
                read,
                call,
                failure,
                body,
                body_ended,
            } => {
                // The call goes on as far as it can before the body is read: it may be about
                // to write the next frame.
                if let Some(running) = call {
                    if let Poll::Ready(result) = running.as_mut().poll(cx) {
                        *call = None;
                        *failure = result.err();
                    }
                }
                if let Some(frame) = read.pop_front() {
                    Poll::Ready(Some(frame.map_err(failed)))
                } else if *body_ended {
                    Poll::Ready(None)
                } else {
                    match Pin::new(body).poll_frame(cx) {
                        Poll::Ready(None) => {
                            *body_ended = true;
                            match failure.take() {
                                Some(f) => Poll::Ready(Some(Err(std::io::Error::other(format!(
                                    "the plugin's call {f} before its body ended"
                                ))))),
                                None => Poll::Ready(None),
                            }
                        }
                        next => next.map(|f| f.map(|f| f.map_err(failed))),
                    }
                }
            }
        };
        if let Poll::Ready(None) = next {
            this.ended = true;
        }
        next
    }

    fn is_end_stream(&self) -> bool {
        self.ended
    }

    fn size_hint(&self) -> SizeHint {
        self.hint
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body::Body;
    use http_body_util::BodyExt;
    use wasmtime_wasi_http::Error;

    /// One answer of a body to a poll.
    type Answer = Poll<Option<Result<Frame<Bytes>, Error>>>;

    /// A plugin's body as the channel gives it: these answers to its polls, in order.
    struct Polls(VecDeque<Answer>);

    impl Body for Polls {
        type Data = Bytes;
        type Error = Error;

        fn poll_frame(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Answer {
            self.0.pop_front().unwrap_or(Poll::Ready(None))
        }
    }

    fn body(polls: Vec<Answer>) -> HyperOutgoingBody {
        Polls(polls.into()).boxed_unsync()
    }

    fn data(s: &'static str) -> Answer {
        Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(s.as_bytes())))))
    }

    /// Every frame of `b`, polled to its end (none of these bodies waits).
    fn frames(mut b: HttpBody) -> Vec<Result<Frame<Bytes>, std::io::Error>> {
        let mut cx = Context::from_waker(Waker::noop());
        let mut out = Vec::new();
        while let Poll::Ready(Some(f)) = Pin::new(&mut b).poll_frame(&mut cx) {
            out.push(f);
        }
        assert!(b.is_end_stream());
        out
    }

    #[test]
    fn a_written_body_is_one_buffer_of_known_length() {
        let b = HttpBody::written(body(vec![data("hello, "), data(""), data("world")]));
        assert_eq!(b.size_hint().exact(), Some(12));
        assert!(!b.is_end_stream());
        let got = frames(b);
        assert_eq!(got.len(), 1);
        let one = got
            .into_iter()
            .next()
            .unwrap()
            .unwrap()
            .into_data()
            .unwrap();
        assert_eq!(one, "hello, world");

        let empty = HttpBody::written(body(vec![]));
        assert_eq!(empty.size_hint().exact(), Some(0));
        assert!(empty.is_end_stream());
        assert!(frames(empty).is_empty());
    }

    #[test]
    fn a_body_with_trailers_an_error_or_more_to_come_keeps_its_frames_in_order() {
        let mut trailers = http::HeaderMap::new();
        trailers.insert("x-sum", http::HeaderValue::from_static("7"));
        let with_trailers = HttpBody::written(body(vec![
            data("a"),
            Poll::Ready(Some(Ok(Frame::trailers(trailers)))),
        ]));
        assert_eq!(with_trailers.size_hint().exact(), None);
        let got = frames(with_trailers);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].as_ref().unwrap().data_ref().unwrap(), "a");
        assert_eq!(
            got[1].as_ref().unwrap().trailers_ref().unwrap()["x-sum"],
            "7"
        );

        let failed = HttpBody::written(body(vec![
            data("a"),
            Poll::Ready(Some(Err(Error::HttpProtocolError))),
        ]));
        let got = frames(failed);
        assert_eq!(got.len(), 2);
        assert!(got[0].is_ok() && got[1].is_err());

        // Not all written yet: what was read comes first, then the rest as it arrives.
        let unfinished = HttpBody::written(body(vec![data("a"), Poll::Pending, data("b")]));
        assert_eq!(unfinished.size_hint().exact(), None);
        let got: Vec<Bytes> = frames(unfinished)
            .into_iter()
            .map(|f| f.unwrap().into_data().unwrap())
            .collect();
        assert_eq!(got, ["a", "b"]);
    }
}
