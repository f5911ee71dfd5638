//! OpenAPI descriptions (cargo feature `utoipa`): the security schemes a layer reads tokens
//! through, and the requirements its guards add to an operation, as [`utoipa`] types.
//!
//! The layer knows where it reads a token ([`TokenSource`]), so it names the schemes;
//! a guard knows what it requires, so it gives the scopes (or roles) of the operation's
//! requirement. Both come from the values that protect the routes, and cannot drift from them.
//!
//! ```
//! use tower_jwt_auth::{JwtLayer, Key, RequireScope, TokenSource};
//! use utoipa::openapi::OpenApiBuilder;
//! use utoipa::openapi::path::{HttpMethod, OperationBuilder, PathItem, PathsBuilder};
//! use utoipa::openapi::response::ResponseBuilder;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let layer = JwtLayer::builder()
//!     .key(Key::hmac("x".repeat(32)))
//!     .source(TokenSource::header_or_cookie())
//!     .build()?;
//! let writers = RequireScope::all(["orders:write"])?;
//!
//! let operation = OperationBuilder::new()
//!     .response("201", ResponseBuilder::new().description("Created"))
//!     .securities(Some(layer.security_requirements(Some(&writers))))
//!     .build();
//! let mut openapi = OpenApiBuilder::new()
//!     .paths(PathsBuilder::new().path("/orders", PathItem::new(HttpMethod::Post, operation)))
//!     .build();
//! layer.add_security_schemes(&mut openapi);
//!
//! let json = serde_json::to_value(&openapi)?;
//! assert_eq!(json["components"]["securitySchemes"]["bearer_jwt"]["scheme"], "bearer");
//! assert_eq!(json["components"]["securitySchemes"]["cookie_jwt"]["in"], "cookie");
//! assert_eq!(
//!     json["paths"]["/orders"]["post"]["security"][0]["bearer_jwt"][0],
//!     "orders:write"
//! );
//! # Ok(())
//! # }
//! ```

use utoipa::openapi::OpenApi;
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};

use crate::JwtLayer;
use crate::layer::{DpopMode, Mode};
use crate::source::TokenSource;

/// The scheme of `Authorization: Bearer <token>`.
pub const BEARER_SCHEME: &str = "bearer_jwt";
/// The scheme of a token in a cookie.
pub const COOKIE_SCHEME: &str = "cookie_jwt";
/// The scheme of a token in a query parameter.
pub const QUERY_SCHEME: &str = "query_jwt";
/// The scheme of a token in a header of the application's choice.
pub const HEADER_SCHEME: &str = "header_jwt";

/// The name of the scheme of a layer that takes DPoP tokens: `Authorization: DPoP <JWT>` with a
/// proof in the `DPoP` header (OpenAPI has no DPoP scheme of its own, so an API key in the
/// `Authorization` header, described).
pub const DPOP_SCHEME: &str = "dpop_jwt";

/// What a guard requires, as OpenAPI sees it: each list is one way to pass (all its scopes
/// or roles together), and passing any one list is enough.
///
/// OpenAPI's requirement lists name OAuth2 scopes for OAuth2 and OpenID Connect schemes, and
/// "role names" for the other kinds (OpenAPI 3.1, Security Requirement Object): the scopes of
/// [`RequireScope`](crate::RequireScope) and the roles of
/// [`RequireRoles`](crate::RequireRoles) both fit.
pub trait RequiredScopes {
    /// The alternatives: `any(["a", "b"])` is `[["a"], ["b"]]`, `all(["a", "b"])` is
    /// `[["a", "b"]]`.
    fn required_scopes(&self) -> Vec<Vec<String>>;
}

impl<C> JwtLayer<C> {
    /// The OpenAPI security schemes of the layer's token sources, each under its name:
    /// [`BEARER_SCHEME`] for the `Authorization` header, [`COOKIE_SCHEME`] for a cookie,
    /// [`QUERY_SCHEME`] for a query parameter, [`HEADER_SCHEME`] for a named header, and
    /// [`DPOP_SCHEME`] for a layer that takes DPoP tokens (alone when it requires them).
    /// A WebSocket subprotocol or a closure has no OpenAPI form and adds none.
    pub fn security_schemes(&self) -> Vec<(&'static str, SecurityScheme)> {
        let mut schemes = Vec::new();
        add_schemes(self.source(), &mut schemes);
        // A source that never reads `Authorization` never sees a DPoP token.
        if let Some(mode) = self.dpop_mode()
            && self.source().reads_authorization()
        {
            // Required DPoP takes no token any other way.
            if mode == DpopMode::Required {
                schemes.clear();
            }
            schemes.push((DPOP_SCHEME, dpop()));
        }
        schemes
    }

    /// Adds [`security_schemes`](Self::security_schemes) to `openapi`'s components.
    pub fn add_security_schemes(&self, openapi: &mut OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        for (name, scheme) in self.security_schemes() {
            components.add_security_scheme(name, scheme);
        }
    }

    /// The security requirements of an operation behind this layer, and behind `guard` if
    /// any: a token through any of the layer's schemes, carrying one of the guard's
    /// alternatives; and for an [optional](crate::layer::JwtLayerBuilder::optional) layer
    /// without a guard, the empty requirement too (no token at all). Put them on the
    /// operation (`OperationBuilder::securities`).
    pub fn security_requirements(
        &self,
        guard: Option<&dyn RequiredScopes>,
    ) -> Vec<SecurityRequirement> {
        let alternatives = guard.map_or_else(|| vec![Vec::new()], RequiredScopes::required_scopes);
        let schemes = self.security_schemes();
        let mut requirements: Vec<SecurityRequirement> = alternatives
            .iter()
            .flat_map(|scopes| {
                schemes
                    .iter()
                    .map(move |(name, _)| SecurityRequirement::new(*name, scopes.iter()))
            })
            .collect();
        // A guard refuses a request without claims: only a lone optional layer lets one in.
        if guard.is_none() && self.mode() == Mode::Optional {
            requirements.push(SecurityRequirement::default());
        }
        requirements
    }
}

fn add_schemes(source: &TokenSource, schemes: &mut Vec<(&'static str, SecurityScheme)>) {
    let mut add = |name: &'static str, scheme: SecurityScheme| {
        // The first source of a kind names it: a scheme name is one entry of the components.
        if !schemes.iter().any(|(known, _)| *known == name) {
            schemes.push((name, scheme));
        }
    };
    let cookie = |name: &str| {
        SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
            name,
            "A JWT in the cookie",
        )))
    };
    match source {
        TokenSource::Header => add(BEARER_SCHEME, bearer()),
        TokenSource::Cookie { name } => add(COOKIE_SCHEME, cookie(name)),
        TokenSource::HeaderOrCookie { name } => {
            add(BEARER_SCHEME, bearer());
            add(COOKIE_SCHEME, cookie(name));
        }
        TokenSource::Query { name, .. } => add(
            QUERY_SCHEME,
            SecurityScheme::ApiKey(ApiKey::Query(ApiKeyValue::with_description(
                name.as_str(),
                "A JWT in the query parameter",
            ))),
        ),
        TokenSource::NamedHeader { name, scheme } => {
            let description = match scheme {
                Some(scheme) => format!("`{scheme} <JWT>`"),
                None => "A JWT".to_owned(),
            };
            add(
                HEADER_SCHEME,
                SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                    name.clone(),
                    description,
                ))),
            );
        }
        TokenSource::WebSocketProtocol { .. } | TokenSource::Custom(_) => {}
        TokenSource::AnyOf(sources) => {
            for source in sources {
                add_schemes(source, schemes);
            }
        }
    }
}

fn dpop() -> SecurityScheme {
    SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
        "Authorization",
        "`DPoP <JWT>`, a token bound to the client's key (RFC 9449), with a proof of that key \
         in the `DPoP` header",
    )))
}

fn bearer() -> SecurityScheme {
    SecurityScheme::Http(
        HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .bearer_format("JWT")
            .build(),
    )
}
