//! OpenAPI (feature `utoipa`): the layer's token sources as security schemes, the guards'
//! scopes and roles as requirements, in a document a real OpenAPI 3.1 parser (`oas3`) reads.

#![cfg(feature = "utoipa")]

mod common;

use common::*;
use oas3::spec::{ObjectOrReference, SecurityScheme};
use serde_json::{Value, json};
use tower_jwt_auth::dpop::DpopVerifier;
use tower_jwt_auth::layer::DpopMode;
use tower_jwt_auth::openapi::{
    BEARER_SCHEME, COOKIE_SCHEME, DPOP_SCHEME, HEADER_SCHEME, QUERY_SCHEME,
};
use tower_jwt_auth::{JwtLayer, Key, RequireRoles, RequireScope, TokenSource};
use utoipa::openapi::path::{HttpMethod, OperationBuilder, PathItem, PathsBuilder};
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::{InfoBuilder, OpenApi, OpenApiBuilder};

fn layer(source: TokenSource) -> JwtLayer {
    JwtLayer::builder()
        .key(Key::hmac(SECRET))
        .source(source)
        .build()
        .unwrap()
}

fn names(layer: &JwtLayer) -> Vec<&'static str> {
    layer
        .security_schemes()
        .into_iter()
        .map(|(name, _)| name)
        .collect()
}

#[test]
fn each_token_source_is_its_scheme() {
    let cases = [
        (TokenSource::Header, vec![BEARER_SCHEME]),
        (
            TokenSource::Cookie {
                name: "session".into(),
            },
            vec![COOKIE_SCHEME],
        ),
        (
            TokenSource::header_or_cookie(),
            vec![BEARER_SCHEME, COOKIE_SCHEME],
        ),
        (
            TokenSource::query_on_upgrades("access_token"),
            vec![QUERY_SCHEME],
        ),
        (
            TokenSource::named_header_with_scheme("X-Api-Token", "Token"),
            vec![HEADER_SCHEME],
        ),
        (TokenSource::websocket_protocol(), vec![]),
        (
            TokenSource::Header
                .or(TokenSource::query("access_token"))
                .or(TokenSource::Header),
            vec![BEARER_SCHEME, QUERY_SCHEME],
        ),
    ];
    for (source, expected) in cases {
        assert_eq!(names(&layer(source.clone())), expected, "{source:?}");
    }
}

#[test]
fn a_dpop_layer_adds_its_scheme_and_a_required_one_is_alone() {
    let with = |mode| {
        JwtLayer::builder()
            .key(Key::hmac(SECRET))
            .source(TokenSource::header_or_cookie())
            .dpop(mode, DpopVerifier::builder().build().unwrap())
            .build()
            .unwrap()
    };
    assert_eq!(
        names(&with(DpopMode::Allowed)),
        [BEARER_SCHEME, COOKIE_SCHEME, DPOP_SCHEME]
    );
    let required = with(DpopMode::Required);
    assert_eq!(names(&required), [DPOP_SCHEME]);
    let scheme = serde_json::to_value(&required.security_schemes()[0].1).unwrap();
    assert_eq!(scheme["type"], "apiKey");
    assert_eq!(scheme["in"], "header");
    assert_eq!(scheme["name"], "Authorization");
    // A cookie layer that refuses bound tokens takes no DPoP token: no scheme.
    let cookie = JwtLayer::builder()
        .key(Key::hmac(SECRET))
        .source(TokenSource::cookie())
        .dpop(DpopMode::Allowed, DpopVerifier::builder().build().unwrap())
        .build()
        .unwrap();
    assert_eq!(names(&cookie), [COOKIE_SCHEME]);
}

/// A document of one operation per guard, behind a layer reading the header or the cookie
/// `session`.
fn document() -> OpenApi {
    let layer = layer(TokenSource::HeaderOrCookie {
        name: "session".into(),
    });
    let readers = RequireScope::any(["orders:read", "orders:admin"]).unwrap();
    let writers = RequireScope::all(["orders:write", "orders:audit"]).unwrap();
    let admins = RequireRoles::any(["admin"]).unwrap();
    let operation = |guard: Option<&dyn tower_jwt_auth::openapi::RequiredScopes>| {
        OperationBuilder::new()
            .response("200", ResponseBuilder::new().description("OK"))
            .securities(Some(layer.security_requirements(guard)))
            .build()
    };
    let paths = PathsBuilder::new()
        .path("/me", PathItem::new(HttpMethod::Get, operation(None)))
        .path(
            "/orders",
            PathItem::new(HttpMethod::Get, operation(Some(&readers))),
        )
        .path(
            "/orders/audit",
            PathItem::new(HttpMethod::Post, operation(Some(&writers))),
        )
        .path(
            "/admin",
            PathItem::new(HttpMethod::Get, operation(Some(&admins))),
        )
        .build();
    let mut openapi = OpenApiBuilder::new()
        .info(InfoBuilder::new().title("orders").version("1").build())
        .paths(paths)
        .build();
    layer.add_security_schemes(&mut openapi);
    openapi
}

#[test]
fn an_optional_layer_lets_requests_without_a_token_in() {
    let optional = JwtLayer::builder()
        .key(Key::hmac(SECRET))
        .optional()
        .build()
        .unwrap();
    let requirements = serde_json::to_value(optional.security_requirements(None)).unwrap();
    assert_eq!(requirements, json!([{ "bearer_jwt": [] }, {}]));
    let admins = RequireRoles::any(["admin"]).unwrap();
    let guarded = serde_json::to_value(optional.security_requirements(Some(&admins))).unwrap();
    assert_eq!(guarded, json!([{ "bearer_jwt": ["admin"] }]));
}

#[test]
fn the_document_reads_as_openapi_3_1_with_the_schemes_and_each_guards_requirements() {
    let json = serde_json::to_string(&document()).unwrap();
    let spec = oas3::from_json(&json).expect("a valid OpenAPI document");
    spec.validate_version().expect("an OpenAPI 3.1 document");

    let schemes = &spec.components.as_ref().unwrap().security_schemes;
    match &schemes[BEARER_SCHEME] {
        ObjectOrReference::Object(SecurityScheme::Http {
            scheme,
            bearer_format,
            ..
        }) => {
            assert_eq!(scheme, "bearer");
            assert_eq!(bearer_format.as_deref(), Some("JWT"));
        }
        other => panic!("bearer scheme: {other:?}"),
    }
    match &schemes[COOKIE_SCHEME] {
        ObjectOrReference::Object(SecurityScheme::ApiKey { name, location, .. }) => {
            assert_eq!((name.as_str(), location.as_str()), ("session", "cookie"));
        }
        other => panic!("cookie scheme: {other:?}"),
    }

    let requirements = |method: http::Method, path: &str| -> Vec<Value> {
        let operation = spec.operation(&method, path).expect(path);
        operation
            .security
            .iter()
            .map(|requirement| serde_json::to_value(&requirement.0).unwrap())
            .collect()
    };
    // Any scheme; no guard, no scope.
    assert_eq!(
        requirements(http::Method::GET, "/me"),
        [json!({ "bearer_jwt": [] }), json!({ "cookie_jwt": [] })]
    );
    // `any`: each scope is one way in, through either scheme.
    assert_eq!(
        requirements(http::Method::GET, "/orders"),
        [
            json!({ "bearer_jwt": ["orders:read"] }),
            json!({ "cookie_jwt": ["orders:read"] }),
            json!({ "bearer_jwt": ["orders:admin"] }),
            json!({ "cookie_jwt": ["orders:admin"] }),
        ]
    );
    // `all`: one way in, with every scope.
    assert_eq!(
        requirements(http::Method::POST, "/orders/audit"),
        [
            json!({ "bearer_jwt": ["orders:write", "orders:audit"] }),
            json!({ "cookie_jwt": ["orders:write", "orders:audit"] }),
        ]
    );
    assert_eq!(
        requirements(http::Method::GET, "/admin"),
        [
            json!({ "bearer_jwt": ["admin"] }),
            json!({ "cookie_jwt": ["admin"] })
        ]
    );
}
