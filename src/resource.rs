//! Protected-resource metadata (RFC 9728): the document a client reads to learn which
//! authorization servers a resource trusts, which scopes it knows and how it takes a token.
//!
//! Clients find it at [`PROTECTED_RESOURCE_PATH`] under the resource's origin, or through the
//! `resource_metadata` parameter the layer adds to its challenges when built with
//! [`JwtLayerBuilder::resource_metadata`](crate::layer::JwtLayerBuilder::resource_metadata).
//! MCP clients, for one, start there.
//!
//! ```
//! use axum::Router;
//! use tower_jwt_auth::{JwtLayer, Key};
//! use tower_jwt_auth::resource::PROTECTED_RESOURCE_PATH;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let layer = JwtLayer::builder()
//!     .key(Key::hmac(b"a secret of at least thirty-two bytes"))
//!     .issuer("https://auth.example.com")
//!     .resource_metadata("https://api.example.com/.well-known/oauth-protected-resource")
//!     .build()?;
//! let metadata = layer
//!     .protected_resource_metadata("https://api.example.com")
//!     .scopes_supported(["read", "write"]);
//! let app: Router = Router::new()
//!     .route_service(PROTECTED_RESOURCE_PATH, metadata.service()?);
//! # Ok(())
//! # }
//! ```

use std::time::Duration;

use http::Uri;
use serde_json::{Map, Value, json};

use jsonwebtoken::Algorithm;

use crate::dpop::DpopVerifier;
use crate::error::ConfigError;
use crate::issuer::PublishedDocument;

/// Where RFC 9728 clients look for a resource's metadata, under its origin (for a resource
/// with a path, before that path: see [`ProtectedResourceMetadata::well_known_path`]).
pub const PROTECTED_RESOURCE_PATH: &str = "/.well-known/oauth-protected-resource";

/// How long clients may keep the document by default (`Cache-Control: max-age`).
const DEFAULT_MAX_AGE: Duration = Duration::from_secs(3600);

/// The bearer methods of RFC 6750 a resource may list.
const BEARER_METHODS: [&str; 3] = ["header", "body", "query"];

/// The metadata of a protected resource (RFC 9728), served as a JSON document by
/// [`service`](Self::service).
///
/// [`JwtLayer::protected_resource_metadata`](crate::JwtLayer::protected_resource_metadata)
/// starts one with what the layer knows: the issuers it trusts and where it reads the token.
#[derive(Clone, Debug)]
#[must_use = "metadata is served only through its service"]
pub struct ProtectedResourceMetadata {
    resource: String,
    authorization_servers: Vec<String>,
    scopes_supported: Vec<String>,
    bearer_methods_supported: Vec<String>,
    resource_name: Option<String>,
    resource_documentation: Option<String>,
    dpop_algorithms: Vec<Algorithm>,
    dpop_required: bool,
    max_age: Duration,
}

impl ProtectedResourceMetadata {
    /// The metadata of the resource identified by `resource`: an `https` URL (`http` only on a
    /// loopback host) without query or fragment. It lists `header` as the only bearer method
    /// until told otherwise.
    pub fn new(resource: impl Into<String>) -> Self {
        Self {
            resource: resource.into(),
            authorization_servers: Vec::new(),
            scopes_supported: Vec::new(),
            bearer_methods_supported: vec!["header".to_owned()],
            resource_name: None,
            resource_documentation: None,
            dpop_algorithms: Vec::new(),
            dpop_required: false,
            max_age: DEFAULT_MAX_AGE,
        }
    }

    /// Adds the issuer identifier of an authorization server whose tokens the resource takes.
    pub fn authorization_server(mut self, issuer: impl Into<String>) -> Self {
        let issuer = issuer.into();
        if !self.authorization_servers.contains(&issuer) {
            self.authorization_servers.push(issuer);
        }
        self
    }

    /// The scopes the resource knows (what its `RequireScope` guards ask for).
    pub fn scopes_supported<S: Into<String>>(
        mut self,
        scopes: impl IntoIterator<Item = S>,
    ) -> Self {
        self.scopes_supported = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// How clients may send the token, among RFC 6750's `header`, `body` and `query`; an empty
    /// list says none of them (a cookie, say).
    pub fn bearer_methods_supported<S: Into<String>>(
        mut self,
        methods: impl IntoIterator<Item = S>,
    ) -> Self {
        self.bearer_methods_supported = methods.into_iter().map(Into::into).collect();
        self
    }

    /// A name for people (`resource_name`).
    pub fn resource_name(mut self, name: impl Into<String>) -> Self {
        self.resource_name = Some(name.into());
        self
    }

    /// Where people read about the resource (`resource_documentation`, a URL).
    pub fn resource_documentation(mut self, url: impl Into<String>) -> Self {
        self.resource_documentation = Some(url.into());
        self
    }

    /// The algorithms the resource takes DPoP proofs in (`dpop_signing_alg_values_supported`),
    /// those of the [`DpopVerifier`] that checks them.
    pub fn dpop(mut self, verifier: &DpopVerifier) -> Self {
        self.dpop_algorithms = verifier.algorithms().to_vec();
        self
    }

    /// Whether the resource takes only DPoP-bound tokens (`dpop_bound_access_tokens_required`).
    /// Default: `false`.
    pub fn dpop_bound_access_tokens_required(mut self, required: bool) -> Self {
        self.dpop_required = required;
        self
    }

    /// How long clients may keep the document (`Cache-Control: public, max-age=…`). Default:
    /// an hour.
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = max_age;
        self
    }

    /// The document, as RFC 9728 §2 names its members; an error names what is not valid.
    pub fn document(&self) -> Result<Value, ConfigError> {
        resource_uri(&self.resource)?;
        for server in &self.authorization_servers {
            absolute_url("an authorization server", server)?;
        }
        if let Some(url) = &self.resource_documentation {
            absolute_url("the resource documentation", url)?;
        }
        if let Some(method) = self
            .bearer_methods_supported
            .iter()
            .find(|method| !BEARER_METHODS.contains(&method.as_str()))
        {
            return Err(ConfigError::InvalidMetadata(format!(
                "the bearer method {method:?} is none of RFC 6750's: header, body, query"
            )));
        }
        let mut document = Map::new();
        document.insert("resource".into(), json!(self.resource));
        if !self.authorization_servers.is_empty() {
            document.insert(
                "authorization_servers".into(),
                json!(self.authorization_servers),
            );
        }
        if !self.scopes_supported.is_empty() {
            document.insert("scopes_supported".into(), json!(self.scopes_supported));
        }
        document.insert(
            "bearer_methods_supported".into(),
            json!(self.bearer_methods_supported),
        );
        if let Some(name) = &self.resource_name {
            document.insert("resource_name".into(), json!(name));
        }
        if let Some(url) = &self.resource_documentation {
            document.insert("resource_documentation".into(), json!(url));
        }
        if !self.dpop_algorithms.is_empty() {
            let names: Vec<String> = self
                .dpop_algorithms
                .iter()
                .map(|alg| format!("{alg:?}"))
                .collect();
            document.insert("dpop_signing_alg_values_supported".into(), json!(names));
        }
        if self.dpop_required {
            if self.dpop_algorithms.is_empty() {
                return Err(ConfigError::InvalidMetadata(
                    "dpop_bound_access_tokens_required without the DPoP algorithms: give the \
                     verifier with dpop(..)"
                        .to_owned(),
                ));
            }
            document.insert("dpop_bound_access_tokens_required".into(), json!(true));
        }
        Ok(Value::Object(document))
    }

    /// The path to serve the document at: [`PROTECTED_RESOURCE_PATH`], followed by the
    /// resource's path when it has one (RFC 9728 §3.1: `https://api.example.com/v1` is
    /// described at `/.well-known/oauth-protected-resource/v1`).
    pub fn well_known_path(&self) -> Result<String, ConfigError> {
        Ok(well_known_path_of(&resource_uri(&self.resource)?))
    }

    /// The document's URL: the resource's origin and [`well_known_path`](Self::well_known_path),
    /// what [`JwtLayerBuilder::resource_metadata`](crate::layer::JwtLayerBuilder::resource_metadata)
    /// takes.
    pub fn metadata_url(&self) -> Result<String, ConfigError> {
        let uri = resource_uri(&self.resource)?;
        // Both parts were checked by `resource_uri`.
        let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) else {
            return Err(not_a_resource(&self.resource, "it is not an absolute URL"));
        };
        Ok(format!(
            "{scheme}://{authority}{}",
            well_known_path_of(&uri)
        ))
    }

    /// A tower service answering `GET` and `HEAD` with the document (`application/json`,
    /// `Cache-Control: public, max-age=…`), 405 to other methods. Mount it at
    /// [`well_known_path`](Self::well_known_path). Fails on a document that is not valid.
    pub fn service(&self) -> Result<PublishedDocument, ConfigError> {
        Ok(PublishedDocument::fixed(
            self.document()?.to_string(),
            self.max_age,
        ))
    }
}

/// [`PROTECTED_RESOURCE_PATH`] followed by the path of the resource `uri`, if any.
fn well_known_path_of(uri: &Uri) -> String {
    format!(
        "{PROTECTED_RESOURCE_PATH}{}",
        uri.path().trim_end_matches('/')
    )
}

/// The resource identifier, checked: `https` (or `http` on a loopback host), a host, no query
/// and no fragment.
fn resource_uri(resource: &str) -> Result<Uri, ConfigError> {
    if resource.contains('#') {
        return Err(not_a_resource(resource, "it has a fragment"));
    }
    let uri = absolute_url("the resource", resource)?;
    if uri.query().is_some() {
        return Err(not_a_resource(resource, "it has a query"));
    }
    Ok(uri)
}

/// `url`, when it is an absolute `https` URL (or `http` on a loopback host).
fn absolute_url(what: &str, url: &str) -> Result<Uri, ConfigError> {
    https_url(url).map_err(|why| ConfigError::InvalidMetadata(format!("{what} {url:?}: {why}")))
}

/// `url` parsed, when it is an absolute `https` URL (or `http` on a loopback host, for
/// development); else why not. The one URL policy of what the crate publishes or compares
/// with a client's view: the metadata's URLs, the DPoP origin.
pub(crate) fn https_url(url: &str) -> Result<Uri, &'static str> {
    let uri = Uri::try_from(url).map_err(|_| "not a URL")?;
    let Some(host) = uri.host() else {
        return Err("not an absolute URL");
    };
    match uri.scheme_str() {
        Some("https") => Ok(uri),
        Some("http") if is_loopback(host) => Ok(uri),
        Some("http") => Err("http only on a loopback host; use https"),
        _ => Err("not an https URL"),
    }
}

/// `url`, checked as the layer's `resource_metadata`: an absolute `https` URL (or `http` on a
/// loopback host), without the characters a challenge's quoted string cannot hold.
pub(crate) fn metadata_url(url: &str) -> Result<(), ConfigError> {
    absolute_url("the resource_metadata URL", url)?;
    if url.contains(['"', '\\']) {
        return Err(ConfigError::InvalidMetadata(format!(
            "the resource_metadata URL {url:?}: a quote or backslash cannot be sent in a challenge"
        )));
    }
    Ok(())
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn not_a_resource(resource: &str, why: &str) -> ConfigError {
    ConfigError::InvalidMetadata(format!("the resource {resource:?}: {why}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_well_known_path_goes_before_the_resource_path() {
        let at = |resource: &str| ProtectedResourceMetadata::new(resource).well_known_path();
        assert_eq!(
            at("https://api.example.com").unwrap(),
            "/.well-known/oauth-protected-resource"
        );
        assert_eq!(
            at("https://api.example.com/").unwrap(),
            "/.well-known/oauth-protected-resource"
        );
        assert_eq!(
            at("https://api.example.com/v1/").unwrap(),
            "/.well-known/oauth-protected-resource/v1"
        );
        assert_eq!(
            ProtectedResourceMetadata::new("http://127.0.0.1:8080/api")
                .metadata_url()
                .unwrap(),
            "http://127.0.0.1:8080/.well-known/oauth-protected-resource/api"
        );
    }

    #[test]
    fn a_resource_must_be_an_https_url_without_query_or_fragment() {
        for resource in [
            "api.example.com",
            "/v1",
            "http://api.example.com",
            "ftp://api.example.com",
            "https://api.example.com/v1?tenant=a",
            "https://api.example.com/v1#top",
            "",
        ] {
            let error = ProtectedResourceMetadata::new(resource)
                .document()
                .unwrap_err();
            assert!(
                matches!(&error, ConfigError::InvalidMetadata(why) if why.contains("resource")),
                "{resource}: {error}"
            );
        }
        for resource in [
            "https://api.example.com",
            "http://localhost:3000",
            "http://127.0.0.1:3000/api",
            "http://[::1]:3000",
        ] {
            assert!(
                ProtectedResourceMetadata::new(resource).document().is_ok(),
                "{resource}"
            );
        }
    }

    #[test]
    fn the_document_names_its_members_as_rfc_9728_does() {
        let document = ProtectedResourceMetadata::new("https://api.example.com")
            .authorization_server("https://auth.example.com")
            .authorization_server("https://auth.example.com")
            .scopes_supported(["read", "write"])
            .bearer_methods_supported(["header", "query"])
            .resource_name("Example API")
            .resource_documentation("https://docs.example.com/api")
            .document()
            .unwrap();
        assert_eq!(
            document,
            json!({
                "resource": "https://api.example.com",
                "authorization_servers": ["https://auth.example.com"],
                "scopes_supported": ["read", "write"],
                "bearer_methods_supported": ["header", "query"],
                "resource_name": "Example API",
                "resource_documentation": "https://docs.example.com/api",
            })
        );
        let minimal = ProtectedResourceMetadata::new("https://api.example.com")
            .document()
            .unwrap();
        assert_eq!(
            minimal,
            json!({
                "resource": "https://api.example.com",
                "bearer_methods_supported": ["header"],
            })
        );
    }

    #[test]
    fn the_dpop_members_name_the_verifiers_algorithms() {
        let verifier = DpopVerifier::builder()
            .algorithms([Algorithm::ES256, Algorithm::EdDSA])
            .build()
            .unwrap();
        let document = ProtectedResourceMetadata::new("https://api.example.com")
            .dpop(&verifier)
            .dpop_bound_access_tokens_required(true)
            .document()
            .unwrap();
        assert_eq!(
            document["dpop_signing_alg_values_supported"],
            json!(["ES256", "EdDSA"])
        );
        assert_eq!(document["dpop_bound_access_tokens_required"], json!(true));
        let without_algorithms = ProtectedResourceMetadata::new("https://api.example.com")
            .dpop_bound_access_tokens_required(true)
            .document();
        assert!(matches!(
            without_algorithms,
            Err(ConfigError::InvalidMetadata(_))
        ));
    }

    #[test]
    fn an_unknown_bearer_method_or_a_bad_server_url_is_refused() {
        let base = || ProtectedResourceMetadata::new("https://api.example.com");
        for metadata in [
            base().bearer_methods_supported(["cookie"]),
            base().authorization_server("auth.example.com"),
            base().authorization_server("http://auth.example.com"),
            base().resource_documentation("docs"),
        ] {
            assert!(
                matches!(metadata.document(), Err(ConfigError::InvalidMetadata(_))),
                "{metadata:?}"
            );
            assert!(metadata.service().is_err());
        }
    }
}
