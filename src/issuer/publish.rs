//! Publishing an issuer's keys: the JWKS and discovery documents as ready tower services.

use std::convert::Infallible;
use std::fmt;
use std::future::{Ready, ready};
use std::task::{Context, Poll};

use std::time::Duration;

use axum_core::body::Body;
use bytes::Bytes;
use http::header::{ALLOW, CACHE_CONTROL, CONTENT_TYPE};
use http::{HeaderValue, Method, Request, Response, StatusCode};
use tower_service::Service;

use super::JwtIssuer;
use crate::error::ConfigError;

/// Where verifiers look for the keys, under the issuer's URL.
pub const JWKS_PATH: &str = "/.well-known/jwks.json";

/// Where OpenID Connect discovery looks for the issuer's metadata, under the issuer's URL.
pub const DISCOVERY_PATH: &str = "/.well-known/openid-configuration";

/// Which document a [`PublishedDocument`] answers.
#[derive(Clone, Debug)]
enum Document {
    /// The issuer's, read at each request.
    Jwks(JwtIssuer),
    Discovery(JwtIssuer),
    /// One written once (protected-resource metadata), and how long clients may keep it.
    Fixed {
        json: Bytes,
        max_age: Duration,
    },
}

/// A tower service answering `GET` (and `HEAD`) with one of an issuer's published documents,
/// read at each request, so a rotation shows at once: `application/json` with
/// `Cache-Control: public, max-age=…`. Other methods get 405. Mount it where verifiers look:
///
/// ```
/// use axum::Router;
/// use tower_jwt_auth::issuer::{DISCOVERY_PATH, JWKS_PATH, JwtIssuer, SigningKey};
///
/// # fn main() -> Result<(), tower_jwt_auth::error::ConfigError> {
/// # // A test-only key: never use it elsewhere.
/// # let pem = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIHmqqp2GfDtH/WSOg/7ouRcFZLQB5Lcxfq0VLoanrv/0\n-----END PRIVATE KEY-----\n";
/// let issuer = JwtIssuer::builder()
///     .key(SigningKey::ed_pem(pem)?)
///     .issuer("https://auth.example.com")
///     .build()?;
/// let app: Router = Router::new()
///     .route_service(JWKS_PATH, issuer.jwks_service())
///     .route_service(DISCOVERY_PATH, issuer.discovery_service()?);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct PublishedDocument {
    document: Document,
}

impl fmt::Debug for PublishedDocument {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublishedDocument")
            .field("document", &self.document)
            .finish_non_exhaustive()
    }
}

impl JwtIssuer {
    /// The service answering [`jwks`](Self::jwks), to mount at [`JWKS_PATH`].
    pub fn jwks_service(&self) -> PublishedDocument {
        PublishedDocument {
            document: Document::Jwks(self.clone()),
        }
    }

    /// The service answering [`discovery_document`](Self::discovery_document), to mount at
    /// [`DISCOVERY_PATH`]. Needs an issuer ([`JwtIssuerBuilder::issuer`](super::JwtIssuerBuilder::issuer)).
    pub fn discovery_service(&self) -> Result<PublishedDocument, ConfigError> {
        self.discovery_document()?;
        Ok(PublishedDocument {
            document: Document::Discovery(self.clone()),
        })
    }
}

impl PublishedDocument {
    /// A document written once: `json`, kept by clients for `max_age`.
    pub(crate) fn fixed(json: String, max_age: Duration) -> Self {
        Self {
            document: Document::Fixed {
                json: Bytes::from(json),
                max_age,
            },
        }
    }

    fn answer(&self, method: &Method) -> Response<Body> {
        if method != Method::GET && method != Method::HEAD {
            let mut response = Response::new(Body::empty());
            *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
            response
                .headers_mut()
                .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
            return response;
        }
        let (document, max_age) = match &self.document {
            Document::Jwks(issuer) => (
                Ok(Bytes::from(issuer.jwks().to_string())),
                issuer.shared.documents_max_age,
            ),
            Document::Discovery(issuer) => (
                issuer
                    .discovery_document()
                    .map(|document| Bytes::from(document.to_string())),
                issuer.shared.documents_max_age,
            ),
            Document::Fixed { json, max_age } => (Ok(json.clone()), *max_age),
        };
        let Ok(document) = document else {
            // Checked when the service was made; an issuer's URL never goes away.
            let mut response = Response::new(Body::empty());
            *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
            return response;
        };
        let body = if method == Method::HEAD {
            Body::empty()
        } else {
            Body::from(document)
        };
        let mut response = Response::new(body);
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let max_age = max_age.as_secs();
        if let Ok(cache) = HeaderValue::try_from(format!("public, max-age={max_age}")) {
            headers.insert(CACHE_CONTROL, cache);
        }
        response
    }
}

impl<B> Service<Request<B>> for PublishedDocument {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Ready<Result<Response<Body>, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        ready(Ok(self.answer(request.method())))
    }
}
