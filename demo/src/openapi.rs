//! `/openapi.json`: the demo's API described from the layers and guards that protect its
//! routes, so the security of each operation is what the routes enforce.

use axum::http::Method;
use tower_jwt_auth::JwtLayer;
use tower_jwt_auth::openapi::RequiredScopes;
use utoipa::openapi::path::{HttpMethod, OperationBuilder, PathItem, PathsBuilder};
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::{InfoBuilder, OpenApi, OpenApiBuilder};

/// The document being written: one call per route, next to the route.
pub(crate) struct ApiDoc {
    paths: PathsBuilder,
    openapi: OpenApi,
}

impl ApiDoc {
    pub(crate) fn new() -> Self {
        let info = InfoBuilder::new()
            .title("tower-jwt-auth demo")
            .version(env!("CARGO_PKG_VERSION"))
            .description(Some(
                "Log in at /auth/login; send the access token as `Authorization: Bearer` or \
                 the session cookie.",
            ))
            .build();
        Self {
            paths: PathsBuilder::new(),
            openapi: OpenApiBuilder::new().info(info).build(),
        }
    }

    /// An operation anyone may call.
    pub(crate) fn public(self, method: Method, path: &str, summary: &str) -> Self {
        self.operation(method, path, summary, Vec::new(), false, "200")
    }

    /// An operation behind `layer` (and `guard`): its security requirements come from them, and
    /// the layer's schemes join the document's components.
    pub(crate) fn secured<C>(
        mut self,
        method: Method,
        path: &str,
        summary: &str,
        layer: &JwtLayer<C>,
        guard: Option<&dyn RequiredScopes>,
        success: &str,
    ) -> Self {
        layer.add_security_schemes(&mut self.openapi);
        let requirements = layer.security_requirements(guard);
        self.operation(
            method,
            path,
            summary,
            requirements,
            guard.is_some(),
            success,
        )
    }

    fn operation(
        mut self,
        method: Method,
        path: &str,
        summary: &str,
        security: Vec<utoipa::openapi::security::SecurityRequirement>,
        guarded: bool,
        success: &str,
    ) -> Self {
        let mut operation = OperationBuilder::new()
            .summary(Some(summary))
            .response(success, ResponseBuilder::new().description("Success"));
        if guarded {
            operation = operation.response(
                "403",
                ResponseBuilder::new()
                    .description("A role or scope is missing (`insufficient_scope`)"),
            );
        }
        if !security.is_empty() {
            operation = operation
                .response(
                    "401",
                    ResponseBuilder::new()
                        .description("No valid token (`invalid_request` or `invalid_token`)"),
                )
                .securities(Some(security));
        }
        let method = match method {
            Method::POST => HttpMethod::Post,
            Method::DELETE => HttpMethod::Delete,
            _ => HttpMethod::Get,
        };
        self.paths = self
            .paths
            .path(path, PathItem::new(method, operation.build()));
        self
    }

    /// The document as JSON.
    pub(crate) fn into_json(mut self) -> String {
        self.openapi.paths = self.paths.build();
        serde_json::to_string(&self.openapi).expect("utoipa's documents serialize to JSON")
    }
}
