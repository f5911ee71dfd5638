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
