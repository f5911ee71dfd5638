//! [`ResponseFuture`] and [`ResponseBody`]: the inner service's answer, or the refusal.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use crate::BoxFuture;
use axum_core::body::Body;
use axum_core::response::Response as AxumResponse;
use bytes::Bytes;
use http::{HeaderValue, Response};
use http_body::{Frame, SizeHint};
use pin_project_lite::pin_project;

use crate::dpop::DPOP_NONCE;
use crate::error::{AuthError, BoxError};
use crate::session::CookieSessions;
use crate::source::BearerToken;

/// What a response gets on its way out: the session cookies, and a DPoP client's next nonce.
pub(crate) struct Reply {
    pub(super) sessions: Option<Arc<CookieSessions>>,
    /// The cookie token to renew, when it is due (see `Authenticated::renew`).
    pub(super) renew: Option<Box<BearerToken>>,
    /// The `DPoP-Nonce` to send, when the client's is about to expire.
    pub(super) nonce: Option<Box<HeaderValue>>,
}

/// The inner service's response, with the session cookies written when configured; a 500 when
/// a session the handler asked for cannot be issued.
pub(super) fn finish_response<B>(
    response: Response<B>,
    reply: Option<Reply>,
) -> Response<ResponseBody<B>> {
    let mut response = response.map(ResponseBody::inner);
    let Some(reply) = reply else {
        return response;
    };
    if let Some(sessions) = &reply.sessions
        && sessions
            .apply(&mut response, reply.renew.as_deref())
            .is_err()
    {
        return AuthError::KeyUnavailable
            .to_response(None)
            .map(ResponseBody::rejection);
    }
    if let Some(nonce) = reply.nonce {
        response.headers_mut().insert(DPOP_NONCE, *nonce);
    }
    response
}

pin_project! {
    /// The response future of [`JwtService`] and [`GuardService`](crate::guard::GuardService): the
    /// inner service's future, a rejection, or the asynchronous checks followed by the inner
    /// service.
    pub struct ResponseFuture<F, B, E> {
        #[pin]
        kind: Kind<F, B, E>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F, B, E> {
        Inner { #[pin] future: F, session: Option<Reply> },
        Rejected { response: Option<AxumResponse> },
        Slow { future: BoxFuture<'static, Result<Response<ResponseBody<B>>, E>> },
    }
}

impl<F, B, E> ResponseFuture<F, B, E> {
    pub(crate) fn inner(future: F, session: Option<Reply>) -> Self {
        Self {
            kind: Kind::Inner { future, session },
        }
    }

    pub(crate) fn rejected(response: AxumResponse) -> Self {
        Self {
            kind: Kind::Rejected {
                response: Some(response),
            },
        }
    }

    pub(super) fn slow(future: BoxFuture<'static, Result<Response<ResponseBody<B>>, E>>) -> Self {
        Self {
            kind: Kind::Slow { future },
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F, B, E>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<ResponseBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Inner { future, session } => {
                let response = ready!(future.poll(cx))?;
                Poll::Ready(Ok(finish_response(response, session.take())))
            }
            KindProj::Rejected { response } => {
                // Polling again after `Ready` is a contract violation; answer an empty 500
                // rather than panic.
                let response = response
                    .take()
                    .unwrap_or_else(|| AuthError::KeyUnavailable.to_response(None));
                Poll::Ready(Ok(response.map(ResponseBody::rejection)))
            }
            KindProj::Slow { future } => future.as_mut().poll(cx),
        }
    }
}

pin_project! {
    /// The body of a response that went through [`JwtService`]: the inner service's body,
    /// untouched, or the body of a rejection.
    pub struct ResponseBody<B> {
        #[pin]
        kind: BodyKind<B>,
    }
}

pin_project! {
    #[project = BodyKindProj]
    enum BodyKind<B> {
        Inner { #[pin] body: B },
        Rejection { #[pin] body: Body },
    }
}

impl<B> ResponseBody<B> {
    pub(crate) fn inner(body: B) -> Self {
        Self {
            kind: BodyKind::Inner { body },
        }
    }

    pub(crate) fn rejection(body: Body) -> Self {
        Self {
            kind: BodyKind::Rejection { body },
        }
    }
}

impl<B> http_body::Body for ResponseBody<B>
where
    B: http_body::Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        match self.project().kind.project() {
            BodyKindProj::Inner { body } => body.poll_frame(cx).map_err(Into::into),
            BodyKindProj::Rejection { body } => body.poll_frame(cx).map_err(Into::into),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            BodyKind::Inner { body } => body.is_end_stream(),
            BodyKind::Rejection { body } => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            BodyKind::Inner { body } => body.size_hint(),
            BodyKind::Rejection { body } => body.size_hint(),
        }
    }
}
