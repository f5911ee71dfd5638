//! [`RequestHead`]: what of a request the token sources and the error rendering may read.

use std::fmt;

use http::header::CONTENT_TYPE;
use http::{HeaderMap, Method, Uri};

/// What reads a string from a request's head: a custom token source, a tenant resolver.
pub(crate) type FromHead = dyn Fn(&RequestHead<'_>) -> Option<String> + Send + Sync;

/// The head of the request being authenticated: its method, URI and headers. Handed to an
/// [`ErrorHandler`](crate::error::ErrorHandler), so it can answer a gRPC call or a browser in
/// their own terms, and to a [`TokenSource::custom`](crate::source::TokenSource::custom)
/// closure. Its `Debug` output shows the method and the path only: the headers and the query
/// may carry the token.
#[derive(Clone, Copy)]
pub struct RequestHead<'a> {
    method: &'a Method,
    uri: &'a Uri,
    headers: &'a HeaderMap,
}

impl<'a> RequestHead<'a> {
    /// A request's head, from its parts.
    pub fn new(method: &'a Method, uri: &'a Uri, headers: &'a HeaderMap) -> Self {
        Self {
            method,
            uri,
            headers,
        }
    }

    /// The head of `request`.
    pub fn of<B>(request: &'a http::Request<B>) -> Self {
        Self::new(request.method(), request.uri(), request.headers())
    }

    /// The request's method.
    pub fn method(&self) -> &'a Method {
        self.method
    }

    /// The request's URI, query included.
    pub fn uri(&self) -> &'a Uri {
        self.uri
    }

    /// The request's headers.
    pub fn headers(&self) -> &'a HeaderMap {
        self.headers
    }

    /// Whether this is a gRPC call (gRPC-Web included): its `content-type` starts with
    /// `application/grpc`.
    pub fn is_grpc(&self) -> bool {
        self.grpc_content_type().is_some()
    }

    /// The request's `content-type` when it is a gRPC one, for the answer to echo.
    pub(crate) fn grpc_content_type(&self) -> Option<&'a http::HeaderValue> {
        const GRPC: &[u8] = b"application/grpc";
        self.headers.get(CONTENT_TYPE).filter(|value| {
            value
                .as_bytes()
                .get(..GRPC.len())
                .is_some_and(|start| start.eq_ignore_ascii_case(GRPC))
        })
    }
}

impl fmt::Debug for RequestHead<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestHead")
            .field("method", self.method)
            .field("path", &self.uri.path())
            .finish_non_exhaustive()
    }
}
