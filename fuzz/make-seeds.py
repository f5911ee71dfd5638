#!/usr/bin/env python3
"""Writes the seed corpus of the fuzz targets into fuzz/seeds/<target>/.

Run from anywhere: python3 fuzz/make-seeds.py (needs the openssl command for the RSA and EC
seeds). The tokens are valid for the fuzz layers' fixed clock (NOW = 1_700_000_000) and secret.
"""
import base64, hashlib, hmac, json, os, subprocess, tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
KEYS = os.path.join(HERE, "..", "tests", "keys")
SECRET = b"fuzzing-secret-fuzzing-secret-fuzzing-secret-fuzzing-secret-1234"
NOW = 1_700_000_000


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def compact(value):
    return json.dumps(value, separators=(",", ":")).encode()


def hs256(header, payload):
    message = f"{b64(header)}.{b64(payload)}"
    signature = hmac.new(SECRET, message.encode(), hashlib.sha256).digest()
    return f"{message}.{b64(signature)}"


def der_to_raw(der, size):
    """ECDSA-Sig-Value DER to JOSE r || s."""
    assert der[0] == 0x30
    i = 3 if der[1] & 0x80 else 2
    out = b""
    for _ in range(2):
        assert der[i] == 0x02
        length = der[i + 1]
        out += der[i + 2 : i + 2 + length].lstrip(b"\0").rjust(size, b"\0")
        i += 2 + length
    return out


def openssl_signed(alg, key, header, payload):
    message = f"{b64(compact(header))}.{b64(compact(payload))}"
    extra = []
    if alg == "PS256":
        extra = ["-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:32"]
    with tempfile.NamedTemporaryFile() as f:
        f.write(message.encode())
        f.flush()
        signature = subprocess.run(
            ["openssl", "dgst", "-sha256", "-sign", os.path.join(KEYS, key), *extra, f.name],
            check=True,
            capture_output=True,
        ).stdout
    if alg == "ES256":
        signature = der_to_raw(signature, 32)
    return f"{message}.{b64(signature)}"


claims = {"sub": "alice", "exp": 2_000_000_000, "iat": NOW - 10}
strict_claims = dict(claims, iss="https://issuer.example", aud="api")
valid = hs256(compact({"alg": "HS256", "typ": "JWT"}), compact(claims))
valid_hmac_kid = hs256(compact({"alg": "HS256", "kid": "hmac"}), compact(claims))
valid_strict = hs256(compact({"alg": "HS256", "typ": "at+jwt"}), compact(strict_claims))
rs256 = openssl_signed("RS256", "rsa.key", {"alg": "RS256", "kid": "rsa"}, claims)
ps256 = openssl_signed("PS256", "rsa.key", {"alg": "PS256", "kid": "rsa"}, claims)
es256 = openssl_signed("ES256", "ec256.key", {"alg": "ES256", "kid": "ec"}, claims)
message, signature = valid.rsplit(".", 1)
malformed = [
    "a.b.c",
    "a.b",
    "....",
    f"{message}.",
    f"{message}",
    f"{message}.{signature}=",
    f"{message}.{signature[:20]}",
    f"{b64(compact({'alg': 'none'}))}.{b64(compact(claims))}.",
    f"{b64(compact({'alg': 'none'}))}.{b64(compact(claims))}.{signature}",
    hs256(compact({"alg": "HS256", "crit": ["exp"]}), compact(claims)),
    hs256(b'{"alg":"HS256","alg":"none"}', compact(claims)),
    hs256(compact({"alg": "HS256"}), b'{"exp":1,"exp":9999999999}'),
    hs256(compact({"alg": "HS256"}), b"[]"),
    hs256(compact({"alg": "HS256"}), compact({"exp": "2000000000"})),
    hs256(compact({"alg": "HS256"}), compact({"exp": 2_000_000_000, "nbf": 1e308})),
]
tokens = [valid, valid_hmac_kid, valid_strict, rs256, ps256, es256, *malformed]

seeds = {
    "authorization_header": [
        *(f"Bearer {t}" for t in tokens),
        f"bearer    {valid}",
        f"Bearer {valid}\nBearer {valid}",
        f"Basic {valid}",
        "Bearer",
        "Bearer ",
        f"Bearer\t{valid}",
        f"Bearer {valid} extra",
        f'Bearer "{valid}"',
        "Bearer abc==",
        b"Bearer \xff\xfe.a.b",
    ],
    "cookie_source": [
        *(f"auth={t}" for t in tokens),
        f"theme=dark; auth={valid}; lang=en",
        f'auth="{valid}"',
        f"auth={valid}; auth={valid}",
        f"auth={valid}\nauth={valid}",
        f"theme=dark\nauth={valid}",
        "auth=",
        "auth=; auth=a.b.c",
        "auth=a b",
        b"auth=\xff\xfe",
        "other=1",
    ],
    "transport_sources": [
        f"access_token={valid}",
        f"x=1&access_token={valid}&y=2",
        f"access_token={valid}&access_token={valid}",
        f"access_token={valid.replace('.', '%2E')}",
        f"\nToken {valid}",
        f"\ntoken  {valid}",
        f"\nBearer {valid}",
        f"\n\naccess_token, {valid}",
        f"\n\nchat, access_token\n{valid}",
        f"\n\naccess_token",
        f"access_token={valid}\n\naccess_token, {valid}",
        b"access_token=\xff\n\xfe",
    ],
    "layer": [
        *tokens,
        *(f"Bearer {t}" for t in tokens),
        compact({"alg": "HS256", "typ": "at+jwt", "kid": "hmac"}) + b"\0" + compact(strict_claims),
        compact({"alg": "HS256", "typ": "application/AT+JWT"}) + b"\0"
        + compact(dict(strict_claims, aud=["x", "api"], nbf=NOW)),
        compact({"alg": "HS256", "kid": "hmac"}) + b"\0" + compact(dict(claims, jti="j", sub=7)),
        compact({"alg": "HS256", "crit": []}) + b"\0" + compact(claims),
        compact({"alg": "HS256"}) + b"\0" + b'{"exp":2e9,"iat":1.7e9,"nbf":-1}',
        compact({"alg": "HS256"}) + b"\0" + b'{"exp":18446744073709551615}',
        compact({"alg": "HS256"}) + b"\0" + b'{"exp":2000000000,"nbf":null,"iat":null}',
        compact({"alg": "HS256"}) + b"\0" + b'{"exp":2000000000,"sub":"a","sub":"b"}',
        compact({"alg": "none"}) + b"\0" + compact(claims),
    ],
}

for target, inputs in seeds.items():
    folder = os.path.join(HERE, "seeds", target)
    os.makedirs(folder, exist_ok=True)
    for old in os.listdir(folder):
        if old.startswith("seed-"):  # regression-* inputs found by fuzzing stay
            os.remove(os.path.join(folder, old))
    for i, data in enumerate(inputs):
        if isinstance(data, str):
            data = data.encode()
        with open(os.path.join(folder, f"seed-{i:03}"), "wb") as f:
            f.write(data)
    print(f"{target}: {len(inputs)} seeds")
