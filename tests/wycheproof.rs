//! Google's Wycheproof JSON Web Signature vectors, run through `Verifier::verify_signature`:
//! the token's syntax, its header rules (the `alg` allow-list bound to the key, `crit`, `kid`)
//! and its signature. The claim checks are left out: the vectors' payloads are not JWT claim
//! sets.
//!
//! The vectors are vendored in `tests/testdata/wycheproof/` (Apache-2.0, unchanged). Without that
//! file every test here fails: a conformance suite that quietly does not run proves nothing.
//!
//! Each group's key is built the way an application builds it, and the layer allows exactly the
//! JWK's `alg`:
//!
//! - asymmetric groups: the `public` JWK through [`Key::from_jwk`], which refuses a key whose
//!   `use` is not `sig` or whose `key_ops` lack `verify`, binds the key to the JWK's `alg` and
//!   keeps its `kid`;
//! - HMAC groups (`kty: oct`, only a `private` JWK): [`Key::from_jwk`] refuses shared secrets on
//!   purpose, so `k` is decoded here (base64url) into [`Key::hmac`], under the same `use` and
//!   `key_ops` rules, with the JWK's `kid` and `alg`.
//!
//! A group whose key or layer cannot be built refuses every one of its tokens, which counts as
//! the rejection its invalid vectors ask for (the `use: enc` and `key_ops: [encrypt]` groups,
//! tcId 353 to 356). The builder would refuse an HMAC secret shorter than RFC 7518 §3.2 allows
//! the same way; every HMAC key in the file is a 32-byte HS256 key, so none is refused, and a
//! short one would show up in `every_supported_valid_vector_is_accepted` as a valid vector
//! refused with `SecretTooShort`.
//!
//! Vectors in the JSON serialization (flag `JsonSerialization`) are given to the verifier as they
//! are: it reads only the compact serialization, so it must refuse them.
//!
//! # Skipped vectors
//!
//! Eight vectors are not held to their label. [`SKIPPED`] lists them with the reason, and
//! `only_the_listed_vectors_are_skipped_and_for_the_listed_reason` fails when a vector disagrees
//! with its label without being listed, is listed without disagreeing, or disagrees in another
//! way than its reason says:
//!
//! - 347 and 351 (RFC 7520 figure 27) are signed with a P-521 key. Its JWK is refused (its
//!   `alg` is `ES521`, not a JWS algorithm: the registered name is ES512), and the key could not
//!   be used anyway: jsonwebtoken has no ES512. Nothing can be verified with it.
//! - 346 and 350 (RFC 7520 figure 20) are signed with PS384, but Wycheproof gave the key
//!   `alg: PS256` (the RFC's key has no `alg`). A key bound to PS256 refuses PS384, which is
//!   exactly what Wycheproof's own `WrongPrimitive` vectors (tcId 331 to 340) demand; the test
//!   checks that the signature itself holds under PS384.
//! - 372 and 373 are labelled valid although a `?` sits in the header or the payload. `?` is not
//!   a base64url character and RFC 7515 §2 allows no other; the verifier refuses the token as
//!   malformed. The test checks that the token without the `?` verifies.
//! - 367 (`invalidBase64Padding`) and 370 (`invalidBase64PaddingInPayload`) are labelled invalid
//!   but are byte for byte the token of tcId 357 (`ValidMac`), labelled valid, under the same key:
//!   no verifier can accept the one and refuse the other. They are defects of the data set, and
//!   the test checks the duplication.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::LazyLock;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, KeyOperations, PublicKeyUse};
use serde::Deserialize;
use serde_json::Value;
use tower_jwt_auth::{Algorithm, AuthError, JwtLayer, Key};

const VECTORS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/testdata/wycheproof/wycheproof_json_web_signature_test.json"
);

/// Why a vector is not held to its label. See the module documentation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Skip {
    /// Labelled valid; the group's key is one the crate cannot use (P-521).
    UnsupportedKey,
    /// Labelled valid; signed with another algorithm than the one the group's JWK names.
    AlgorithmIsNotTheKeys,
    /// Labelled valid; a segment contains characters outside the base64url alphabet.
    NotBase64url,
    /// Labelled invalid; the same token under the same key as this valid vector.
    SameTokenAsValid(u32),
}

impl Skip {
    fn reason(self) -> &'static str {
        match self {
            Self::UnsupportedKey => "P-521 key: jsonwebtoken has no ES512",
            Self::AlgorithmIsNotTheKeys => {
                "signed with PS384 but the JWK says alg PS256; a key bound to PS256 refuses it"
            }
            Self::NotBase64url => "labelled valid with a '?' in a segment, which is not base64url",
            Self::SameTokenAsValid(_) => {
                "labelled invalid but identical to a vector labelled valid"
            }
        }
    }
}

/// Every vector not held to its label, by tcId.
const SKIPPED: &[(u32, Skip)] = &[
    (346, Skip::AlgorithmIsNotTheKeys),
    (347, Skip::UnsupportedKey),
    (350, Skip::AlgorithmIsNotTheKeys),
    (351, Skip::UnsupportedKey),
    (367, Skip::SameTokenAsValid(357)),
    (370, Skip::SameTokenAsValid(357)),
    (372, Skip::NotBase64url),
    (373, Skip::NotBase64url),
];

fn skip_of(tc_id: u32) -> Option<Skip> {
    SKIPPED
        .iter()
        .find(|(id, _)| *id == tc_id)
        .map(|(_, skip)| *skip)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct File {
    number_of_tests: usize,
    test_groups: Vec<Group>,
}

#[derive(Deserialize)]
struct Group {
    comment: String,
    public: Option<Value>,
    private: Option<Value>,
    tests: Vec<Vector>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Vector {
    tc_id: u32,
    comment: String,
    /// A compact JWS as a string, or a JSON-serialized one (as a string or as an object).
    jws: Value,
    result: Label,
    flags: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Label {
    Valid,
    Invalid,
}

/// What the crate did with a vector.
#[derive(Debug)]
enum Outcome {
    /// `verify_signature` accepted the token; the payload it returned.
    Accepted(Vec<u8>),
    /// `verify_signature` refused the token.
    Refused(AuthError),
    /// The group's key or layer could not be built, so every token of the group is refused.
    KeyRefused(String),
}

impl Outcome {
    fn refusal(&self) -> Option<&AuthError> {
        match self {
            Self::Refused(error) => Some(error),
            _ => None,
        }
    }
}

struct Run {
    group: usize,
    tc_id: u32,
    comment: String,
    label: Label,
    flags: Vec<String>,
    token: String,
    outcome: Outcome,
}

impl Run {
    /// `tcId N (group: comment)`, for messages.
    fn name(&self) -> String {
        format!(
            "tcId {} ({}: {})",
            self.tc_id,
            suite().groups[self.group].comment,
            self.comment
        )
    }

    /// Whether the crate did what the label asks: accepted a valid token with its payload
    /// intact, or refused an invalid one.
    fn agrees(&self) -> bool {
        match (self.label, &self.outcome) {
            (Label::Valid, Outcome::Accepted(payload)) => {
                Some(payload) == signed_payload(&self.token).as_ref()
            }
            (Label::Valid, _) => false,
            (Label::Invalid, outcome) => !matches!(outcome, Outcome::Accepted(_)),
        }
    }
}

struct GroupRun {
    comment: String,
    /// The JWK the key was built from: `public`, or `private` for HMAC groups.
    jwk: Value,
}

struct Suite {
    number_of_tests: usize,
    groups: Vec<GroupRun>,
    runs: Vec<Run>,
}

/// The file, run once for all the tests; an error when it cannot be read.
static SUITE: LazyLock<Result<Suite, String>> = LazyLock::new(Suite::run);

/// The run suite. Every test fails with the same message when the file is missing or broken.
fn suite() -> &'static Suite {
    SUITE.as_ref().unwrap_or_else(|why| panic!("{why}"))
}

impl Suite {
    fn run() -> Result<Self, String> {
        let text = std::fs::read_to_string(VECTORS).map_err(|error| {
            format!(
                "cannot read the Wycheproof JWS vectors at {VECTORS}: {error}. They belong in the \
                 shared test data next to the crate; these tests fail rather than skip without them"
            )
        })?;
        let file: File = serde_json::from_str(&text)
            .map_err(|error| format!("{VECTORS} is not a Wycheproof JWS file: {error}"))?;
        let mut groups = Vec::new();
        let mut runs = Vec::new();
        for (index, group) in file.test_groups.into_iter().enumerate() {
            let Some(jwk) = group.public.or(group.private) else {
                return Err(format!("group {:?} has no key", group.comment));
            };
            let layer = layer_for(&jwk);
            for vector in group.tests {
                let token = match vector.jws {
                    Value::String(token) => token,
                    json => json.to_string(),
                };
                let outcome = match &layer {
                    Ok(layer) => match layer.verifier().verify_signature(&token) {
                        Ok(jws) => Outcome::Accepted(jws.payload),
                        Err(error) => Outcome::Refused(error),
                    },
                    Err(why) => Outcome::KeyRefused(why.clone()),
                };
                runs.push(Run {
                    group: index,
                    tc_id: vector.tc_id,
                    comment: vector.comment,
                    label: vector.result,
                    flags: vector.flags,
                    token,
                    outcome,
                });
            }
            groups.push(GroupRun {
                comment: group.comment,
                jwk,
            });
        }
        let ids: BTreeSet<u32> = runs.iter().map(|run| run.tc_id).collect();
        if ids.len() != runs.len() {
            return Err(format!("tcIds are not unique in {VECTORS}"));
        }
        Ok(Self {
            number_of_tests: file.number_of_tests,
            groups,
            runs,
        })
    }

    fn run_of(&self, tc_id: u32) -> &Run {
        self.runs
            .iter()
            .find(|run| run.tc_id == tc_id)
            .unwrap_or_else(|| panic!("no vector has tcId {tc_id}"))
    }
}

/// The layer an application would build from `jwk`, allowing exactly the JWK's `alg`.
fn layer_for(jwk: &Value) -> Result<JwtLayer, String> {
    let jwk: Jwk = serde_json::from_value(jwk.clone()).map_err(|error| format!("JWK: {error}"))?;
    let key = key_for(&jwk)?;
    let mut builder = JwtLayer::builder().key(key);
    if let Some(alg) = jwk.common.key_algorithm {
        builder = builder.algorithms([signature_algorithm(alg)?]);
    }
    builder.build().map_err(|error| error.to_string())
}

/// [`Key::from_jwk`], or for an `oct` JWK (which it refuses) the same rules applied by hand.
fn key_for(jwk: &Jwk) -> Result<Key, String> {
    let AlgorithmParameters::OctetKey(oct) = &jwk.algorithm else {
        return Key::from_jwk(jwk).map_err(|error| error.to_string());
    };
    let common = &jwk.common;
    if common
        .public_key_use
        .as_ref()
        .is_some_and(|key_use| *key_use != PublicKeyUse::Signature)
    {
        return Err("the JWK's use is not \"sig\"".into());
    }
    if common
        .key_operations
        .as_ref()
        .is_some_and(|ops| !ops.contains(&KeyOperations::Verify))
    {
        return Err("the JWK's key_ops lack \"verify\"".into());
    }
    let secret = URL_SAFE_NO_PAD
        .decode(&oct.value)
        .map_err(|error| format!("the JWK's k is not base64url: {error}"))?;
    let mut key = Key::hmac(secret);
    if let Some(kid) = &common.key_id {
        key = key.with_kid(kid.clone());
    }
    if let Some(alg) = common.key_algorithm {
        key = key.with_algorithm(signature_algorithm(alg)?);
    }
    Ok(key)
}

fn signature_algorithm(alg: jsonwebtoken::jwk::KeyAlgorithm) -> Result<Algorithm, String> {
    Algorithm::try_from(alg).map_err(|_| format!("the JWK's alg {alg:?} is not a JWS algorithm"))
}

/// The base64url-decoded middle segment of a compact JWS.
fn signed_payload(token: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(token.split('.').nth(1)?).ok()
}

/// The `alg` named by a compact JWS's header.
fn header_algorithm(token: &str) -> Algorithm {
    let header = URL_SAFE_NO_PAD
        .decode(token.split('.').next().unwrap())
        .unwrap();
    let header: Value = serde_json::from_slice(&header).unwrap();
    header["alg"].as_str().unwrap().parse().unwrap()
}

fn fail_unless_empty(failures: &[String], what: &str) {
    assert!(
        failures.is_empty(),
        "{} {what}:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn every_invalid_vector_is_rejected() {
    let mut failures = Vec::new();
    let mut checked = 0;
    for run in suite()
        .runs
        .iter()
        .filter(|run| run.label == Label::Invalid)
    {
        if skip_of(run.tc_id).is_some() {
            continue;
        }
        checked += 1;
        if let Outcome::Accepted(_) = run.outcome {
            failures.push(format!("{} was accepted: {}", run.name(), run.token));
        }
    }
    fail_unless_empty(&failures, "invalid vectors accepted");
    assert!(checked > 0, "no invalid vector was checked");
}

#[test]
fn every_supported_valid_vector_is_accepted() {
    let mut failures = Vec::new();
    let mut checked = 0;
    for run in suite().runs.iter().filter(|run| run.label == Label::Valid) {
        if skip_of(run.tc_id).is_some() {
            continue;
        }
        checked += 1;
        let expected = signed_payload(&run.token);
        match &run.outcome {
            Outcome::Accepted(payload) if Some(payload) == expected.as_ref() => {}
            Outcome::Accepted(payload) => failures.push(format!(
                "{} was accepted with the payload {payload:?} instead of {expected:?}",
                run.name()
            )),
            Outcome::Refused(error) => {
                failures.push(format!("{} was refused: {error:?}", run.name()));
            }
            Outcome::KeyRefused(why) => {
                failures.push(format!(
                    "{} could not run, its key was refused: {why}",
                    run.name()
                ));
            }
        }
    }
    fail_unless_empty(&failures, "valid vectors not accepted");
    assert!(checked > 0, "no valid vector was checked");
}

#[test]
fn json_serialized_vectors_are_rejected_as_malformed() {
    let serialized: Vec<&Run> = suite()
        .runs
        .iter()
        .filter(|run| run.flags.iter().any(|f| f == "JsonSerialization"))
        .collect();
    assert!(
        !serialized.is_empty(),
        "the file has no JsonSerialization vector"
    );
    for run in serialized {
        assert_eq!(run.label, Label::Invalid, "{}", run.name());
        assert!(
            matches!(run.outcome, Outcome::Refused(AuthError::Malformed)),
            "{} should be refused as malformed, got {:?}",
            run.name(),
            run.outcome
        );
    }
}

#[test]
fn only_the_listed_vectors_are_skipped_and_for_the_listed_reason() {
    let disagreeing: BTreeSet<u32> = suite()
        .runs
        .iter()
        .filter(|run| !run.agrees())
        .map(|run| run.tc_id)
        .collect();
    let listed: BTreeSet<u32> = SKIPPED.iter().map(|(id, _)| *id).collect();
    let unlisted: Vec<String> = disagreeing
        .difference(&listed)
        .map(|id| suite().run_of(*id).name())
        .collect();
    let needless: Vec<String> = listed
        .difference(&disagreeing)
        .map(|id| suite().run_of(*id).name())
        .collect();
    assert!(
        unlisted.is_empty() && needless.is_empty(),
        "the vectors that disagree with their label are not the SKIPPED list.\n\
         disagreeing but not listed: {unlisted:#?}\nlisted but agreeing: {needless:#?}"
    );

    for &(tc_id, skip) in SKIPPED {
        let run = suite().run_of(tc_id);
        let name = run.name();
        match skip {
            Skip::UnsupportedKey => {
                assert_eq!(run.label, Label::Valid, "{name}");
                assert!(
                    matches!(run.outcome, Outcome::KeyRefused(_)),
                    "{name}: {:?}",
                    run.outcome
                );
            }
            Skip::AlgorithmIsNotTheKeys => {
                assert_eq!(run.label, Label::Valid, "{name}");
                assert_eq!(
                    run.outcome.refusal(),
                    Some(&AuthError::InvalidAlgorithm),
                    "{name}: {:?}",
                    run.outcome
                );
                // The signature holds once the key names the algorithm the token was signed with.
                let signed_with = header_algorithm(&run.token);
                let mut jwk = suite().groups[run.group].jwk.clone();
                assert_ne!(jwk["alg"], format!("{signed_with:?}"), "{name}");
                jwk["alg"] = format!("{signed_with:?}").into();
                let layer = layer_for(&jwk).unwrap_or_else(|why| panic!("{name}: {why}"));
                let verified = layer.verifier().verify_signature(&run.token);
                assert!(
                    verified.is_ok(),
                    "{name} under {signed_with:?}: {verified:?}"
                );
            }
            Skip::NotBase64url => {
                assert_eq!(run.label, Label::Valid, "{name}");
                assert_eq!(
                    run.outcome.refusal(),
                    Some(&AuthError::Malformed),
                    "{name}: {:?}",
                    run.outcome
                );
                // Without the stray characters the token verifies.
                let cleaned: String = run
                    .token
                    .chars()
                    .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
                    .collect();
                assert_ne!(cleaned, run.token, "{name}");
                let layer = layer_for(&suite().groups[run.group].jwk).unwrap();
                let verified = layer.verifier().verify_signature(&cleaned);
                assert!(
                    verified.is_ok(),
                    "{name} without its stray characters: {verified:?}"
                );
            }
            Skip::SameTokenAsValid(valid_id) => {
                let valid = suite().run_of(valid_id);
                assert_eq!(run.label, Label::Invalid, "{name}");
                assert_eq!(valid.label, Label::Valid, "{}", valid.name());
                assert_eq!(run.group, valid.group, "{name} and {}", valid.name());
                assert_eq!(run.token, valid.token, "{name} and {}", valid.name());
            }
        }
    }
}

#[test]
fn vector_counts_add_up_to_the_file_total() {
    let counted = |label: Label| {
        suite()
            .runs
            .iter()
            .filter(|run| run.label == label && skip_of(run.tc_id).is_none() && run.agrees())
            .count()
    };
    let accepted = counted(Label::Valid);
    let rejected = counted(Label::Invalid);
    let by_key = suite()
        .runs
        .iter()
        .filter(|run| run.label == Label::Invalid && matches!(run.outcome, Outcome::KeyRefused(_)))
        .count();
    let skipped = SKIPPED.len();

    println!(
        "Wycheproof JWS: {} vectors: {accepted} valid accepted, {rejected} invalid rejected \
         ({by_key} of them by refusing the group's key), {skipped} skipped",
        suite().runs.len()
    );
    let mut reasons: BTreeMap<&str, Vec<u32>> = BTreeMap::new();
    for &(tc_id, skip) in SKIPPED {
        reasons.entry(skip.reason()).or_default().push(tc_id);
    }
    for (reason, ids) in reasons {
        println!("  skipped {ids:?}: {reason}");
    }

    assert_eq!(
        suite().runs.len(),
        suite().number_of_tests,
        "numberOfTests disagrees with the file"
    );
    assert!(accepted > 0 && rejected > 0 && skipped > 0);
    assert_eq!(
        accepted + rejected + skipped,
        suite().number_of_tests,
        "some vectors are neither accepted, rejected nor skipped; see the other tests"
    );
}
