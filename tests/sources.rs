//! Where the token comes from: header rules, the auth cookie, both sources, both modes.

mod common;

use common::*;
use tower_jwt_auth::{JwtLayer, Key, TokenSource};

const BAD_SCHEME: &str = "Expected a bearer token. Scheme is Authorization: Bearer <token>.";

fn layer(source: TokenSource, optional: bool) -> JwtLayer {
    let builder = JwtLayer::builder().key(Key::hmac(SECRET)).source(source);
    if optional {
        builder.optional()
    } else {
        builder
    }
    .build()
    .unwrap()
}

/// What the cookie source (required mode) answers to a GET with `headers`.
async fn through_the_cookie_source(headers: &[(&str, &str)]) -> Answer {
    send(app(layer(TokenSource::cookie(), false)), get_with(headers)).await
}

#[tokio::test]
async fn scheme_is_case_insensitive_and_extra_spaces_are_allowed() {
    let token = hs256(&claims());
    for value in [
        format!("Bearer {token}"),
        format!("bearer {token}"),
        format!("BEARER {token}"),
        format!("bEaReR {token}"),
        format!("Bearer    {token}"),
        format!("  Bearer {token}  "),
    ] {
        let answer = send(app(hs256_layer()), get_with(&[("authorization", &value)])).await;
        answer.assert_user(Some("alice"));
    }
}

#[tokio::test]
async fn tab_separator_garbage_and_empty_headers_are_refused() {
    let token = hs256(&claims());
    for value in [
        format!("Bearer\t{token}"),
        format!("Bearer {token} extra"),
        format!("Bearer {token},"),
        format!("Bearer \"{token}\""),
        format!("Basic {token}"),
        format!("Bearer{token}"),
        "Bearer ".to_owned(),
        " ".to_owned(),
    ] {
        let answer = send(app(hs256_layer()), get_with(&[("authorization", &value)])).await;
        answer.assert_rejected(400, "invalid_request", BAD_SCHEME);
    }
}

#[tokio::test]
async fn obs_text_in_the_header_is_refused_without_panic() {
    let mut request = get_with(&[]);
    request.headers_mut().insert(
        "authorization",
        http::HeaderValue::from_bytes(b"Bearer \xff\xfe.a.b").unwrap(),
    );
    send(app(hs256_layer()), request)
        .await
        .assert_rejected(400, "invalid_request", BAD_SCHEME);
}

#[tokio::test]
async fn cookie_source_reads_the_auth_cookie() {
    let token = hs256(&claims());
    let cookie = format!("theme=dark; auth={token}; lang=en");
    let answer = through_the_cookie_source(&[("cookie", &cookie)]).await;
    answer.assert_user(Some("alice"));
}

#[tokio::test]
async fn cookie_name_is_configurable() {
    let token = hs256(&claims());
    let source = TokenSource::Cookie {
        name: "session".into(),
    };
    let cookie = format!("auth=garbage; session={token}");
    let answer = send(app(layer(source, false)), get_with(&[("cookie", &cookie)])).await;
    answer.assert_user(Some("alice"));
}

#[tokio::test]
async fn cookie_source_ignores_the_authorization_header() {
    let token = hs256(&claims());
    let answer = through_the_cookie_source(&[("authorization", &format!("Bearer {token}"))]).await;
    answer.assert_rejected(400, "invalid_request", "Auth cookie not found.");
}

#[tokio::test]
async fn two_auth_cookies_are_multiple_tokens() {
    let token = hs256(&claims());
    let in_one_header = format!("auth={token}; auth={token}");
    let answer = through_the_cookie_source(&[("cookie", &in_one_header)]).await;
    answer.assert_rejected(400, "invalid_request", "Multiple tokens in request.");

    let cookie = format!("auth={token}");
    let answer = through_the_cookie_source(&[("cookie", &cookie), ("cookie", &cookie)]).await;
    answer.assert_rejected(400, "invalid_request", "Multiple tokens in request.");
}

#[tokio::test]
async fn cookie_split_across_headers_is_found() {
    let token = hs256(&claims());
    let answer =
        through_the_cookie_source(&[("cookie", "a=1"), ("cookie", &format!("auth={token}"))]).await;
    answer.assert_user(Some("alice"));
}

#[tokio::test]
async fn quoted_cookie_value_is_accepted() {
    let token = hs256(&claims());
    let cookie = format!("auth=\"{token}\"");
    let answer = through_the_cookie_source(&[("cookie", &cookie)]).await;
    answer.assert_user(Some("alice"));
}

#[tokio::test]
async fn garbage_in_the_auth_cookie_is_jwt_malformed() {
    for cookie in ["auth=not-a-jwt", "auth=a.b.c.d", "auth=%7Ba%7D.b.c"] {
        let answer = through_the_cookie_source(&[("cookie", cookie)]).await;
        answer.assert_rejected(401, "invalid_token", "jwt malformed");
    }
}

#[tokio::test]
async fn non_utf8_cookie_header_counts_as_no_cookie() {
    let mut request = get_with(&[]);
    request.headers_mut().insert(
        "cookie",
        http::HeaderValue::from_bytes(b"auth=\xff\xfe").unwrap(),
    );
    let answer = send(app(layer(TokenSource::cookie(), false)), request).await;
    answer.assert_rejected(400, "invalid_request", "Auth cookie not found.");
}

/// Another application's cookie that is not UTF-8 hides nothing: each cookie is decoded on its
/// own (it used to fail the whole header: 400 "Auth cookie not found.").
#[tokio::test]
async fn an_undecodable_cookie_beside_the_auth_cookie_is_skipped() {
    let token = hs256(&claims());
    for value in [
        [b"x=\xff\xfe; auth=", token.as_bytes()].concat(),
        [b"auth=", token.as_bytes(), b"; theme=\xe9"].concat(),
        [b"\xff; auth=", token.as_bytes(), b"; \xfe\xfd=1"].concat(),
    ] {
        let mut request = get_with(&[]);
        request
            .headers_mut()
            .insert("cookie", http::HeaderValue::from_bytes(&value).unwrap());
        let answer = send(app(layer(TokenSource::cookie(), false)), request).await;
        answer.assert_user(Some("alice"));
    }
}

#[tokio::test]
async fn two_auth_cookies_are_refused_even_around_an_undecodable_one() {
    let token = hs256(&claims());
    let value = [
        b"auth=",
        token.as_bytes(),
        b"; x=\xff\xfe; auth=",
        token.as_bytes(),
    ]
    .concat();
    let mut request = get_with(&[]);
    request
        .headers_mut()
        .insert("cookie", http::HeaderValue::from_bytes(&value).unwrap());
    let answer = send(app(layer(TokenSource::cookie(), false)), request).await;
    answer.assert_rejected(400, "invalid_request", "Multiple tokens in request.");
}

#[tokio::test]
async fn both_sources_accept_either_one() {
    let token = hs256(&claims());
    let header = format!("Bearer {token}");
    let cookie = format!("auth={token}");
    let answer = send(
        app(layer(TokenSource::header_or_cookie(), false)),
        get_with(&[("authorization", &header)]),
    )
    .await;
    answer.assert_user(Some("alice"));
    let answer = send(
        app(layer(TokenSource::header_or_cookie(), false)),
        get_with(&[("cookie", &cookie)]),
    )
    .await;
    answer.assert_user(Some("alice"));
}

#[tokio::test]
async fn both_sources_refuse_a_token_in_header_and_cookie() {
    let token = hs256(&claims());
    let header = format!("Bearer {token}");
    let cookie = format!("auth={token}");
    let answer = send(
        app(layer(TokenSource::header_or_cookie(), true)),
        get_with(&[("authorization", &header), ("cookie", &cookie)]),
    )
    .await;
    answer.assert_rejected(400, "invalid_request", "Multiple tokens in request.");
}

#[tokio::test]
async fn both_sources_without_any_token_report_the_missing_header() {
    let answer = send(
        app(layer(TokenSource::header_or_cookie(), false)),
        get_with(&[]),
    )
    .await;
    answer.assert_rejected(400, "invalid_request", "Authorization header not found.");
}

#[tokio::test]
async fn optional_mode_lets_a_request_without_token_through() {
    for source in [
        TokenSource::Header,
        TokenSource::cookie(),
        TokenSource::header_or_cookie(),
    ] {
        let answer = send(app(layer(source, true)), get_with(&[("cookie", "other=1")])).await;
        answer.assert_user(None);
    }
}

#[tokio::test]
async fn optional_mode_still_refuses_a_bad_token() {
    let expired = hs256(&serde_json::json!({ "sub": "alice", "exp": now() - 1 }));
    let answer = send(app(layer(TokenSource::Header, true)), bearer(&expired)).await;
    answer.assert_rejected(401, "invalid_token", "jwt expired");

    let cookie = format!("auth={expired}");
    let answer = send(
        app(layer(TokenSource::cookie(), true)),
        get_with(&[("cookie", &cookie)]),
    )
    .await;
    answer.assert_rejected(401, "invalid_token", "jwt expired");

    let answer = send(
        app(layer(TokenSource::Header, true)),
        get_with(&[("authorization", "Basic abc")]),
    )
    .await;
    answer.assert_rejected(400, "invalid_request", BAD_SCHEME);
}

#[tokio::test]
async fn optional_mode_with_a_good_token_sets_claims() {
    let token = hs256(&claims());
    send(app(layer(TokenSource::Header, true)), bearer(&token))
        .await
        .assert_user(Some("alice"));
}

#[test]
fn invalid_cookie_names_are_refused_at_build() {
    for name in ["", "a b", "a;b", "a=b"] {
        let result = JwtLayer::builder()
            .key(Key::hmac(SECRET))
            .source(TokenSource::Cookie { name: name.into() })
            .build();
        assert_eq!(
            result.unwrap_err(),
            tower_jwt_auth::error::ConfigError::InvalidCookieName,
            "{name:?}"
        );
    }
}

/// RFC 6750 syntax is judged before anything about the token: a header token that is not a
/// `b64token` is a 400 whatever else is wrong with the request (the layer only looks at its
/// characters once something failed, which must not change the verdict).
#[tokio::test]
async fn a_header_token_that_is_no_b64token_is_refused_for_that_first() {
    let token = hs256(&claims());
    let not_b64token = [
        format!("{token},"),
        format!("{token} extra"),
        format!("a,{token}"),
        "a.b\"c".to_owned(),
        // Over the size cap as well: the syntax still comes first.
        format!("{}!", "a".repeat(9000)),
    ];
    for bad in &not_b64token {
        let bearer = format!("Bearer {bad}");
        for source in [TokenSource::Header, TokenSource::header_or_cookie()] {
            let answer = send(
                app(layer(source, false)),
                get_with(&[("authorization", &bearer)]),
            )
            .await;
            answer.assert_rejected(400, "invalid_request", BAD_SCHEME);
        }
        // With a cookie too, or a malformed cookie: still the header's syntax first.
        for cookie in [format!("auth={token}"), "auth=a,b".to_owned()] {
            let answer = send(
                app(layer(TokenSource::header_or_cookie(), false)),
                get_with(&[("authorization", &bearer), ("cookie", &cookie)]),
            )
            .await;
            answer.assert_rejected(400, "invalid_request", BAD_SCHEME);
        }
    }
    // A b64token that is not base64url is a token of the right syntax, and malformed.
    for bad in [
        format!("{token}~"),
        format!("{token}=="),
        format!("{token}+/"),
    ] {
        let bearer = format!("Bearer {bad}");
        let answer = send(
            app(layer(TokenSource::Header, false)),
            get_with(&[("authorization", &bearer)]),
        )
        .await;
        answer.assert_rejected(401, "invalid_token", "jwt malformed");
    }
}

// --- Sources for other transports ------------------------------------------------------------

/// What `source` (required mode) answers to a GET of `uri` with `headers`.
async fn through(source: TokenSource, uri: &str, headers: &[(&str, &str)]) -> Answer {
    let mut request = get_with(headers);
    *request.uri_mut() = uri.parse().unwrap();
    send(app(layer(source, false)), request).await
}

const UPGRADE: [(&str, &str); 2] = [("upgrade", "websocket"), ("connection", "Upgrade")];

#[tokio::test]
async fn a_query_parameter_holds_the_token_where_it_is_configured() {
    let token = hs256(&claims());
    let uri = format!("/?x=1&access_token={token}&y=2");
    through(TokenSource::query("access_token"), &uri, &[])
        .await
        .assert_user(Some("alice"));
    // On upgrades only: a plain GET has no token, an upgrade has one.
    let upgrades = || TokenSource::query_on_upgrades("access_token");
    through(upgrades(), &uri, &[]).await.assert_rejected(
        400,
        "invalid_request",
        "Token not found.",
    );
    through(upgrades(), &uri, &UPGRADE)
        .await
        .assert_user(Some("alice"));
    // Never read when not configured.
    through(TokenSource::Header, &uri, &UPGRADE)
        .await
        .assert_rejected(400, "invalid_request", "Authorization header not found.");
}

#[tokio::test]
async fn query_tokens_are_one_b64token_taken_as_they_are() {
    let token = hs256(&claims());
    let source = || TokenSource::query("access_token");
    let twice = format!("/?access_token={token}&access_token={token}");
    through(source(), &twice, &[]).await.assert_rejected(
        400,
        "invalid_request",
        "Multiple tokens in request.",
    );
    let encoded = format!("/?access_token={}", token.replace('.', "%2E"));
    through(source(), &encoded, &[])
        .await
        .assert_rejected(401, "invalid_token", "jwt malformed");
    // A parameter that only starts with the name is another parameter; an empty one is none.
    for uri in [
        format!("/?access_token_x={token}"),
        "/?access_token=".to_owned(),
    ] {
        through(source(), &uri, &[]).await.assert_rejected(
            400,
            "invalid_request",
            "Token not found.",
        );
    }
}

#[tokio::test]
async fn a_named_header_holds_the_token_with_or_without_a_scheme() {
    let token = hs256(&claims());
    let bare = || TokenSource::named_header("x-api-token");
    through(bare(), "/", &[("x-api-token", &format!(" {token} "))])
        .await
        .assert_user(Some("alice"));
    let with_scheme = || TokenSource::named_header_with_scheme("x-api-token", "Token");
    through(
        with_scheme(),
        "/",
        &[("x-api-token", &format!("token {token}"))],
    )
    .await
    .assert_user(Some("alice"));
    through(
        with_scheme(),
        "/",
        &[("x-api-token", &format!("Bearer {token}"))],
    )
    .await
    .assert_rejected(401, "invalid_token", "jwt malformed");
    through(bare(), "/", &[("x-api-token", &format!("Token {token}"))])
        .await
        .assert_rejected(401, "invalid_token", "jwt malformed");
    let twice = [
        ("x-api-token", token.as_str()),
        ("x-api-token", token.as_str()),
    ];
    through(bare(), "/", &twice).await.assert_rejected(
        400,
        "invalid_request",
        "Multiple tokens in request.",
    );
    // `Authorization` is not looked at by a named header source.
    through(
        bare(),
        "/",
        &[("authorization", &format!("Bearer {token}"))],
    )
    .await
    .assert_rejected(400, "invalid_request", "Token not found.");
}

#[tokio::test]
async fn the_websocket_subprotocol_after_the_marker_is_the_token() {
    let token = hs256(&claims());
    let source = TokenSource::websocket_protocol;
    for offered in [
        vec![format!("access_token, {token}")],
        vec![format!("chat, access_token,{token}, json")],
        // The marker and the token on two header lines.
        vec!["chat, access_token".to_owned(), token.clone()],
    ] {
        let headers: Vec<(&str, &str)> = offered
            .iter()
            .map(|line| ("sec-websocket-protocol", line.as_str()))
            .collect();
        through(source(), "/", &headers)
            .await
            .assert_user(Some("alice"));
    }
    for (line, status, code, description) in [
        ("access_token", 401, "invalid_token", "jwt malformed"),
        ("chat, json", 400, "invalid_request", "Token not found."),
        ("access_token, a\"b", 401, "invalid_token", "jwt malformed"),
    ] {
        through(source(), "/", &[("sec-websocket-protocol", line)])
            .await
            .assert_rejected(status, code, description);
    }
    let twice = format!("access_token, {token}, access_token, {token}");
    through(source(), "/", &[("sec-websocket-protocol", &twice)])
        .await
        .assert_rejected(400, "invalid_request", "Multiple tokens in request.");
}

#[tokio::test]
async fn a_custom_source_finds_the_token_its_own_way() {
    let token = hs256(&claims());
    let source = || {
        TokenSource::custom(|head| {
            head.headers()
                .get("x-forwarded-token")
                .and_then(|value| value.to_str().ok())
                .map(|value| value.trim_start_matches("jwt:").to_owned())
        })
    };
    through(
        source(),
        "/",
        &[("x-forwarded-token", &format!("jwt:{token}"))],
    )
    .await
    .assert_user(Some("alice"));
    through(source(), "/", &[("x-forwarded-token", "jwt:not a token")])
        .await
        .assert_rejected(401, "invalid_token", "jwt malformed");
    through(source(), "/", &[])
        .await
        .assert_rejected(400, "invalid_request", "Token not found.");
}

/// A combination takes the token of the one source that has one, and refuses two.
#[tokio::test]
async fn combined_sources_keep_one_token_per_request() {
    let token = hs256(&claims());
    let bearer = format!("Bearer {token}");
    let source = || {
        TokenSource::Header
            .or(TokenSource::query("access_token"))
            .or(TokenSource::websocket_protocol())
    };
    let in_query = format!("/?access_token={token}");
    let protocol = format!("access_token, {token}");
    through(source(), "/", &[("authorization", &bearer)])
        .await
        .assert_user(Some("alice"));
    through(source(), &in_query, &[])
        .await
        .assert_user(Some("alice"));
    through(source(), "/", &[("sec-websocket-protocol", &protocol)])
        .await
        .assert_user(Some("alice"));
    for (uri, headers) in [
        (in_query.as_str(), vec![("authorization", bearer.as_str())]),
        (
            "/",
            vec![
                ("authorization", bearer.as_str()),
                ("sec-websocket-protocol", &protocol),
            ],
        ),
        (
            in_query.as_str(),
            vec![("sec-websocket-protocol", protocol.as_str())],
        ),
    ] {
        through(source(), uri, &headers).await.assert_rejected(
            400,
            "invalid_request",
            "Multiple tokens in request.",
        );
    }
    // No token: the first source's row.
    through(source(), "/", &[]).await.assert_rejected(
        400,
        "invalid_request",
        "Authorization header not found.",
    );
    // A header that is not `Bearer <b64token>` is refused for that first, as alone.
    through(source(), &in_query, &[("authorization", "Bearer a\"b")])
        .await
        .assert_rejected(400, "invalid_request", BAD_SCHEME);
}

#[test]
fn sources_that_can_never_find_a_token_are_refused_at_build() {
    use tower_jwt_auth::error::ConfigError;
    for source in [
        TokenSource::named_header("x api token"),
        TokenSource::named_header_with_scheme("x-api-token", "to ken"),
        TokenSource::query(""),
        TokenSource::query("a&b"),
        TokenSource::WebSocketProtocol {
            marker: String::new(),
        },
        TokenSource::AnyOf(Vec::new()),
        TokenSource::Header.or(TokenSource::query("a=b")),
    ] {
        let error = JwtLayer::builder()
            .key(Key::hmac(SECRET))
            .source(source.clone())
            .build()
            .unwrap_err();
        assert!(
            matches!(error, ConfigError::InvalidTokenSource(_)),
            "{source:?}: {error:?}"
        );
    }
}
