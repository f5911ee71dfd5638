//! Claim and header rules: time claims with leeway boundaries, max_age, typ, crit.

mod common;

use std::time::Duration;

use common::*;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{Value, json};
use tower_jwt_auth::{JwtLayer, Key, claims::JsonClaims, layer::JwtLayerBuilder};

const NOW: u64 = 1_700_000_000;

fn at_now() -> JwtLayerBuilder<JsonClaims> {
    JwtLayer::builder().key(Key::hmac(SECRET)).clock(|| NOW)
}

async fn verdict(layer: JwtLayer, claims: Value) -> Result<(), String> {
    let answer = try_token(layer, &hs256(&claims)).await;
    if answer.status == 200 {
        Ok(())
    } else {
        Err(answer.body["description"]
            .as_str()
            .unwrap_or_default()
            .to_owned())
    }
}

#[tokio::test]
async fn exp_boundary_without_leeway_follows_node() {
    // node jsonwebtoken: expired when now >= exp.
    assert_eq!(
        verdict(at_now().build().unwrap(), json!({ "exp": NOW + 1 })).await,
        Ok(())
    );
    assert_eq!(
        verdict(at_now().build().unwrap(), json!({ "exp": NOW })).await,
        Err("jwt expired".into())
    );
}

#[tokio::test]
async fn exp_boundary_with_leeway() {
    let layer = || at_now().leeway(Duration::from_secs(30)).build().unwrap();
    assert_eq!(verdict(layer(), json!({ "exp": NOW - 29 })).await, Ok(()));
    assert_eq!(
        verdict(layer(), json!({ "exp": NOW - 30 })).await,
        Err("jwt expired".into())
    );
}

#[tokio::test]
async fn nbf_boundary_with_leeway() {
    let layer = || at_now().leeway(Duration::from_secs(30)).build().unwrap();
    assert_eq!(
        verdict(layer(), json!({ "exp": NOW + 60, "nbf": NOW + 30 })).await,
        Ok(())
    );
    assert_eq!(
        verdict(layer(), json!({ "exp": NOW + 60, "nbf": NOW + 31 })).await,
        Err("jwt not active".into())
    );
    let unchecked = at_now().validate_nbf(false).build().unwrap();
    assert_eq!(
        verdict(unchecked, json!({ "exp": NOW + 60, "nbf": NOW + 31 })).await,
        Ok(())
    );
}

#[tokio::test]
async fn iat_in_the_future_is_refused_beyond_leeway() {
    let layer = || at_now().leeway(Duration::from_secs(5)).build().unwrap();
    assert_eq!(
        verdict(layer(), json!({ "exp": NOW + 60, "iat": NOW + 5 })).await,
        Ok(())
    );
    assert_eq!(
        verdict(layer(), json!({ "exp": NOW + 60, "iat": NOW + 6 })).await,
        Err("jwt issued in the future".into())
    );
}

#[tokio::test]
async fn fractional_numeric_dates_are_accepted() {
    assert_eq!(
        verdict(
            at_now().build().unwrap(),
            json!({ "exp": NOW as f64 + 0.5 })
        )
        .await,
        Ok(())
    );
}

#[tokio::test]
async fn exp_is_required() {
    assert_eq!(
        verdict(at_now().build().unwrap(), json!({ "sub": "a" })).await,
        Err("jwt expiration required".into())
    );
    // Present but null is a claim of the wrong type, not an absent one.
    assert_eq!(
        verdict(at_now().build().unwrap(), json!({ "exp": null })).await,
        Err("invalid exp value".into())
    );
}

#[tokio::test]
async fn time_claims_of_the_wrong_type_are_refused() {
    let cases = [
        (json!({ "exp": "9999999999" }), "invalid exp value"),
        (json!({ "exp": true }), "invalid exp value"),
        (json!({ "exp": [NOW + 60] }), "invalid exp value"),
        (json!({ "exp": NOW + 60, "nbf": "0" }), "invalid nbf value"),
        (json!({ "exp": NOW + 60, "iat": {} }), "invalid iat value"),
    ];
    for (claims, expected) in cases {
        assert_eq!(
            verdict(at_now().build().unwrap(), claims).await,
            Err(expected.into())
        );
    }
}

#[tokio::test]
async fn negative_and_huge_time_claims_are_handled() {
    assert_eq!(
        verdict(at_now().build().unwrap(), json!({ "exp": -1 })).await,
        Err("jwt expired".into())
    );
    // Refused by the default maximum lifetime (a year), accepted once it is removed.
    for exp in [json!(u64::MAX), json!(1e300)] {
        assert_eq!(
            verdict(at_now().build().unwrap(), json!({ "exp": exp })).await,
            Err("jwt lifetime exceeds the maximum".into())
        );
        let unbounded = at_now().max_lifetime(Duration::MAX).build().unwrap();
        assert_eq!(verdict(unbounded, json!({ "exp": exp })).await, Ok(()));
    }
}

#[tokio::test]
async fn max_age_requires_iat_and_bounds_the_age() {
    let layer = || at_now().max_age(Duration::from_secs(60)).build().unwrap();
    assert_eq!(
        verdict(layer(), json!({ "exp": NOW + 600, "iat": NOW - 59 })).await,
        Ok(())
    );
    assert_eq!(
        verdict(layer(), json!({ "exp": NOW + 600, "iat": NOW - 60 })).await,
        Err("maxAge exceeded".into())
    );
    assert_eq!(
        verdict(layer(), json!({ "exp": NOW + 600 })).await,
        Err("iat required when maxAge is specified".into())
    );
}

#[tokio::test]
async fn max_lifetime_bounds_exp_from_iat_or_from_now() {
    let layer = || {
        at_now()
            .max_lifetime(Duration::from_secs(600))
            .build()
            .unwrap()
    };
    assert_eq!(
        verdict(layer(), json!({ "exp": NOW + 600, "iat": NOW })).await,
        Ok(())
    );
    assert_eq!(verdict(layer(), json!({ "exp": NOW + 600 })).await, Ok(()));
    for claims in [
        json!({ "exp": NOW + 601, "iat": NOW }),
        json!({ "exp": NOW + 601 }),
    ] {
        assert_eq!(
            verdict(layer(), claims).await,
            Err("jwt lifetime exceeds the maximum".into())
        );
    }
    // Measured from iat: an old token with a long exp is refused even if little remains.
    assert_eq!(
        verdict(layer(), json!({ "exp": NOW + 60, "iat": NOW - 1000 })).await,
        Err("jwt lifetime exceeds the maximum".into())
    );
}

#[tokio::test]
async fn the_default_maximum_lifetime_is_a_year() {
    const YEAR: u64 = 365 * 24 * 60 * 60;
    for (claims, expected) in [
        (json!({ "exp": NOW + YEAR, "iat": NOW }), Ok(())),
        (json!({ "exp": NOW + YEAR }), Ok(())),
        (
            json!({ "exp": NOW + YEAR + 1, "iat": NOW }),
            Err("jwt lifetime exceeds the maximum".to_owned()),
        ),
        (
            json!({ "exp": NOW + YEAR + 1 }),
            Err("jwt lifetime exceeds the maximum".to_owned()),
        ),
    ] {
        assert_eq!(
            verdict(at_now().build().unwrap(), claims.clone()).await,
            expected,
            "{claims}"
        );
    }
    // Raised by the user: accepted.
    let raised = at_now().max_lifetime(Duration::from_secs(2 * YEAR));
    assert_eq!(
        verdict(
            raised.build().unwrap(),
            json!({ "exp": NOW + YEAR + 1, "iat": NOW })
        )
        .await,
        Ok(())
    );
}

/// The clock is read to the second: a fractional `iat` or `nbf` inside the current second has
/// been reached (a token issued this second is never refused), one in a later second has not;
/// `exp` is judged from the start of the second. Cached or not, the verdict is the same.
#[tokio::test]
async fn fractional_time_claims_around_now_follow_the_second_they_fall_in() {
    let now = NOW as f64;
    let cases = [
        (json!({ "exp": NOW + 60, "iat": now + 0.001 }), Ok(())),
        (json!({ "exp": NOW + 60, "iat": now + 0.999 }), Ok(())),
        (json!({ "exp": NOW + 60, "nbf": now + 0.001 }), Ok(())),
        (json!({ "exp": NOW + 60, "nbf": now + 0.999 }), Ok(())),
        (json!({ "exp": NOW + 60, "nbf": now - 0.5 }), Ok(())),
        (
            json!({ "exp": NOW + 60, "iat": NOW + 1 }),
            Err("jwt issued in the future"),
        ),
        (
            json!({ "exp": NOW + 60, "iat": now + 1.5 }),
            Err("jwt issued in the future"),
        ),
        (
            json!({ "exp": NOW + 60, "nbf": NOW + 1 }),
            Err("jwt not active"),
        ),
        (
            json!({ "exp": NOW + 60, "nbf": now + 1.001 }),
            Err("jwt not active"),
        ),
        (json!({ "exp": now + 0.5 }), Ok(())),
        (json!({ "exp": NOW }), Err("jwt expired")),
        (json!({ "exp": now - 0.5 }), Err("jwt expired")),
    ];
    for cache in [false, true] {
        for (claims, expected) in &cases {
            let builder = if cache { at_now().cache(100) } else { at_now() };
            let layer = builder.build().unwrap();
            let token = hs256(claims);
            for attempt in 0..2 {
                let answer = try_token(layer.clone(), &token).await;
                let verdict = if answer.status == 200 {
                    Ok(())
                } else {
                    Err(answer.body["description"].as_str().unwrap_or_default())
                };
                assert_eq!(
                    verdict, *expected,
                    "{claims} (cache: {cache}, attempt {attempt})"
                );
            }
        }
    }
    // With a leeway, the bound moves by exactly the leeway.
    let leeway = || at_now().leeway(Duration::from_secs(2)).build().unwrap();
    assert_eq!(
        verdict(leeway(), json!({ "exp": NOW + 60, "iat": now + 2.5 })).await,
        Ok(())
    );
    assert_eq!(
        verdict(leeway(), json!({ "exp": NOW + 60, "iat": NOW + 3 })).await,
        Err("jwt issued in the future".into())
    );
}

#[tokio::test]
async fn matching_audience_issuer_and_subject_are_accepted() {
    let layer = || {
        at_now()
            .audience("api")
            .audience("web")
            .issuer("https://idp")
            .subject("alice")
            .build()
            .unwrap()
    };
    let base = json!({ "exp": NOW + 60, "iss": "https://idp", "sub": "alice" });
    for aud in [json!("web"), json!(["other", "api"])] {
        let mut claims = base.clone();
        claims["aud"] = aud;
        assert_eq!(verdict(layer(), claims).await, Ok(()));
    }
}

#[tokio::test]
async fn an_audience_array_must_hold_only_strings() {
    let layer = || at_now().audience("api").build().unwrap();
    let refused = Err("jwt audience invalid. expected: api".to_owned());
    for (aud, expected) in [
        (json!(["api", "other"]), Ok(())),
        (json!(["other", "other", "api"]), Ok(())),
        (json!([]), refused.clone()),
        (json!(["api", 1]), refused.clone()),
        (json!([1, "api"]), refused.clone()),
        (json!(["api", null]), refused.clone()),
        (json!(["api", ["api"]]), refused.clone()),
        (json!([["api"]]), refused.clone()),
        (json!({ "aud": "api" }), refused.clone()),
    ] {
        let claims = json!({ "exp": NOW + 60, "aud": aud });
        assert_eq!(verdict(layer(), claims).await, expected, "aud: {aud}");
    }
}

/// The compared strings are read without copying where the token's text allows it; escaped
/// ones must still be compared by their value, not by their text.
#[tokio::test]
async fn escaped_strings_are_compared_by_their_value() {
    let layer = || {
        JwtLayer::builder()
            .key(Key::hmac(SECRET).with_kid("key/1"))
            .clock(|| NOW)
            .typ("at+jwt")
            .audience("https://api")
            .issuer("https://idp")
            .subject("alice")
            .build()
            .unwrap()
    };
    let header = r#"{"alg":"HS256","typ":"at\u002bjwt","kid":"key\/1"}"#;
    let payload = format!(
        r#"{{"exp":{},"iss":"https:\/\/idp","sub":"\u0061lice","aud":["x","https:\/\/api"]}}"#,
        NOW + 60
    );
    let answer = try_token(layer(), &hs256_raw(header, &payload)).await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    assert_eq!(answer.body["user"], "alice");

    // And an escape that changes the value is not taken for the expected one.
    let payload = format!(
        r#"{{"exp":{},"iss":"https:\/\/idp\/","sub":"alice","aud":"https://api"}}"#,
        NOW + 60
    );
    try_token(layer(), &hs256_raw(header, &payload))
        .await
        .assert_rejected(
            401,
            "invalid_token",
            "jwt issuer invalid. expected: https://idp",
        );
}

#[tokio::test]
async fn non_string_issuer_is_refused_when_an_issuer_is_expected() {
    let layer = at_now().issuer("https://idp").build().unwrap();
    assert_eq!(
        verdict(layer, json!({ "exp": NOW + 60, "iss": ["https://idp"] })).await,
        Err("jwt issuer invalid. expected: https://idp".into())
    );
}

fn with_header(header: &str, claims: &Value) -> String {
    hs256_raw(header, &claims.to_string())
}

#[tokio::test]
async fn typ_expectation_refuses_other_token_types() {
    let layer = || at_now().typ("at+jwt").build().unwrap();
    let claims = json!({ "exp": NOW + 60 });
    for header in [
        r#"{"alg":"HS256","typ":"at+jwt"}"#,
        r#"{"alg":"HS256","typ":"application/AT+JWT"}"#,
    ] {
        assert_eq!(
            try_token(layer(), &with_header(header, &claims))
                .await
                .status,
            200
        );
    }
    for header in [r#"{"alg":"HS256","typ":"JWT"}"#, r#"{"alg":"HS256"}"#] {
        try_token(layer(), &with_header(header, &claims))
            .await
            .assert_rejected(401, "invalid_token", "jwt typ invalid. expected: at+jwt");
    }
}

#[tokio::test]
async fn any_crit_header_is_refused() {
    let claims = json!({ "exp": NOW + 60 });
    for crit in [r#"["exp"]"#, "[]", "null", r#""b64""#] {
        let header = format!(r#"{{"alg":"HS256","crit":{crit},"exp":1}}"#);
        try_token(at_now().build().unwrap(), &with_header(&header, &claims))
            .await
            .assert_rejected(401, "invalid_token", "jwt crit header not supported");
    }
}

#[tokio::test]
async fn duplicate_registered_claims_are_refused() {
    let token = sign_raw(
        r#"{"alg":"HS256"}"#,
        &format!(r#"{{"exp":{},"exp":{}}}"#, NOW - 100, NOW + 100),
        Algorithm::HS256,
        &EncodingKey::from_secret(SECRET),
    );
    try_token(at_now().build().unwrap(), &token)
        .await
        .assert_rejected(401, "invalid_token", "invalid token");
}

#[derive(Clone, Debug, serde::Deserialize)]
#[allow(dead_code)]
struct Strict {
    sub: String,
    exp: u64,
}

#[tokio::test]
async fn payload_that_does_not_fit_the_claims_type_is_invalid_token() {
    use axum::{Router, routing::get};
    use tower_jwt_auth::Claims;

    let layer = at_now().claims::<Strict>().build().unwrap();
    let app = Router::new()
        .route(
            "/",
            get(|c: Claims<Strict>| async move { c.into_inner().sub }),
        )
        .layer(layer);
    let token = hs256(&json!({ "exp": NOW + 60, "sub": 42 }));
    let answer = send(app.clone(), bearer(&token)).await;
    answer.assert_rejected(401, "invalid_token", "invalid token");

    let token = hs256(&json!({ "exp": NOW + 60, "sub": "alice" }));
    let answer = send(app, bearer(&token)).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.raw, b"alice");
}
