//! Test support (cargo feature `testing`): a token issuer with real signing keys and a loopback
//! HTTP server for its JWKS. For integration tests only; never enable the feature in a shipped
//! binary. Helpers panic with a clear message on setup failures, as test fixtures do.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

/// Fixed 2048-bit RSA test keys (PKCS#1 DER), vendored because RSA key generation is slow.
/// They are public test material and protect nothing.
const RSA_TEST_KEYS: [&[u8]; 2] = [
    include_bytes!("../testdata/rsa-test-1.der"),
    include_bytes!("../testdata/rsa-test-2.der"),
];

/// Fixed ECDSA test keys (PKCS#8 DER) for P-256 and P-384, public test material like the RSA
/// keys.
const EC_P256_TEST_KEY: &[u8] = include_bytes!("../testdata/ec-p256-test.der");
const EC_P384_TEST_KEY: &[u8] = include_bytes!("../testdata/ec-p384-test.der");

/// Which vendored RSA test key to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RsaTestKey {
    /// The first vendored key.
    First,
    /// The second vendored key (for "another key with the same kid" forgeries).
    Second,
}

struct TestKey {
    kid: String,
    alg: Algorithm,
    encoding: EncodingKey,
    jwk: Value,
}

/// An identity provider for tests: signing keys, their JWKS, and JWT minting.
pub struct TestIssuer {
    issuer: String,
    audience: String,
    keys: Vec<TestKey>,
}

/// Seconds since the Unix epoch, for `exp`/`nbf`/`iat` claims.
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

impl TestIssuer {
    /// An issuer with no keys yet.
    pub fn new(issuer: impl Into<String>, audience: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            audience: audience.into(),
            keys: Vec::new(),
        }
    }

    /// The `iss` this issuer writes.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The `aud` this issuer writes.
    pub fn audience(&self) -> &str {
        &self.audience
    }

    /// Add a freshly generated Ed25519 key (`EdDSA`) under `kid`.
    ///
    /// # Panics
    /// If the OS RNG fails.
    pub fn add_ed25519(&mut self, kid: &str) -> &mut Self {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).expect("OS RNG for a test key");
        // PKCS#8 v1 wrapping of an Ed25519 seed (RFC 8410): fixed 16-byte prefix + seed.
        let mut der = vec![
            0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22,
            0x04, 0x20,
        ];
        der.extend_from_slice(&seed);
        self.push(kid, Algorithm::EdDSA, EncodingKey::from_ed_der(&der))
    }

    /// Add one of the vendored RSA keys under `kid`, signing with `alg` (an RS* or PS*
    /// algorithm).
    ///
    /// # Panics
    /// If `alg` is not an RSA algorithm.
    pub fn add_rsa(&mut self, kid: &str, alg: Algorithm, which: RsaTestKey) -> &mut Self {
        let der = match which {
            RsaTestKey::First => RSA_TEST_KEYS[0],
            RsaTestKey::Second => RSA_TEST_KEYS[1],
        };
        self.push(kid, alg, EncodingKey::from_rsa_der(der))
    }

    /// Add the vendored ECDSA key for `alg` under `kid`: P-256 for `ES256`, P-384 for `ES384`.
    ///
    /// # Panics
    /// If `alg` is neither.
    pub fn add_ec(&mut self, kid: &str, alg: Algorithm) -> &mut Self {
        let der = match alg {
            Algorithm::ES256 => EC_P256_TEST_KEY,
            Algorithm::ES384 => EC_P384_TEST_KEY,
            other => panic!("add_ec takes ES256 or ES384, not {other:?}"),
        };
        self.push(kid, alg, EncodingKey::from_ec_der(der))
    }

    fn push(&mut self, kid: &str, alg: Algorithm, encoding: EncodingKey) -> &mut Self {
        crate::oidc::install_crypto_provider();
        let jwk = Jwk::from_encoding_key(&encoding, alg).expect("public JWK of a test key");
        let mut jwk = serde_json::to_value(jwk).expect("JWK serialises");
        if let Value::Object(fields) = &mut jwk {
            fields.insert("kid".into(), Value::String(kid.to_owned()));
            fields.insert("use".into(), Value::String("sig".into()));
        }
        self.keys.retain(|k| k.kid != kid);
        self.keys.push(TestKey {
            kid: kid.to_owned(),
            alg,
            encoding,
            jwk,
        });
        self
    }

    /// Stop publishing (and signing with) `kid`.
    pub fn remove_key(&mut self, kid: &str) -> &mut Self {
        self.keys.retain(|k| k.kid != kid);
        self
    }

    /// Key rotation: a new Ed25519 key `new_kid` replaces every current key.
    pub fn rotate(&mut self, new_kid: &str) -> &mut Self {
        self.keys.clear();
        self.add_ed25519(new_kid)
    }

    /// The public JWK published for `kid`.
    pub fn jwk(&self, kid: &str) -> Option<&Value> {
        self.keys.iter().find(|k| k.kid == kid).map(|k| &k.jwk)
    }

    /// The JWKS document with every current key.
    pub fn jwks(&self) -> Value {
        json!({ "keys": self.keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>() })
    }

    /// [`TestIssuer::jwks`] as JSON text.
    pub fn jwks_json(&self) -> String {
        self.jwks().to_string()
    }

    /// Claims for a valid token: `iss`, `aud`, `sub`, `tenant`, `roles`, `iat`, and `exp` five
    /// minutes ahead. Adjust the returned object for negative tests.
    pub fn claims(&self, subject: &str, tenant: &str, roles: &[&str]) -> Value {
        let now = unix_now();
        json!({
            "iss": self.issuer,
            "aud": self.audience,
            "sub": subject,
            "tenant": tenant,
            "roles": roles,
            "iat": now,
            "exp": now + 300,
        })
    }

    /// A JWT over `claims`, signed by key `kid` with that key's algorithm and naming `kid` in
    /// its header.
    ///
    /// # Panics
    /// If there is no key `kid`.
    pub fn mint(&self, kid: &str, claims: &Value) -> String {
        let key = self.key(kid);
        let mut header = Header::new(key.alg);
        header.kid = Some(kid.to_owned());
        self.mint_with_header(kid, header, claims)
    }

    /// A JWT with a caller-built `header`, signed by key `signing_kid`. The header's `alg` must
    /// suit that key; its `kid` may name any key (to forge or confuse).
    ///
    /// # Panics
    /// If there is no key `signing_kid` or the algorithm does not suit it.
    pub fn mint_with_header(&self, signing_kid: &str, header: Header, claims: &Value) -> String {
        crate::oidc::install_crypto_provider();
        let key = self.key(signing_kid);
        jsonwebtoken::encode(&header, claims, &key.encoding).expect("test token signs")
    }

    fn key(&self, kid: &str) -> &TestKey {
        self.keys
            .iter()
            .find(|k| k.kid == kid)
            .unwrap_or_else(|| panic!("TestIssuer has no key `{kid}`"))
    }
}

struct Shared {
    document: Mutex<String>,
    status: AtomicU16,
    fetches: AtomicUsize,
    stop: AtomicBool,
}

/// A tiny HTTP server on 127.0.0.1 serving one JWKS document at every path, counting fetches.
/// The document and the status can be changed while it runs. Stops when dropped.
pub struct JwksServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl JwksServer {
    /// Serve `document` on an ephemeral loopback port.
    ///
    /// # Panics
    /// If no loopback port can be bound.
    pub fn start(document: impl Into<String>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let addr = listener.local_addr().expect("bound address");
        let shared = Arc::new(Shared {
            document: Mutex::new(document.into()),
            status: AtomicU16::new(200),
            fetches: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
        });
        let serving = Arc::clone(&shared);
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if serving.stop.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(stream) = stream {
                    serve(stream, &serving);
                }
            }
        });
        Self {
            addr,
            shared,
            thread: Some(thread),
        }
    }

    /// The JWKS URL (`http://127.0.0.1:<port>/jwks`).
    pub fn url(&self) -> String {
        format!("http://{}/jwks", self.addr)
    }

    /// Serve `document` from now on.
    pub fn set_document(&self, document: impl Into<String>) {
        *self
            .shared
            .document
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = document.into();
    }

    /// Answer with HTTP `status` from now on (200 serves the document; anything else an empty
    /// body).
    pub fn set_status(&self, status: u16) {
        self.shared.status.store(status, Ordering::SeqCst);
    }

    /// How many requests were answered so far.
    pub fn fetch_count(&self) -> usize {
        self.shared.fetches.load(Ordering::SeqCst)
    }
}

impl Drop for JwksServer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(mut stream: TcpStream, shared: &Shared) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut request = Vec::new();
    let mut buf = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") && request.len() < 16 * 1024 {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => request.extend_from_slice(&buf[..n]),
        }
    }
    shared.fetches.fetch_add(1, Ordering::SeqCst);
    let status = shared.status.load(Ordering::SeqCst);
    let body = if status == 200 {
        shared
            .document
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    } else {
        String::new()
    };
    let response = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes());
    let _ = stream.flush();
}

/// An http URL on 127.0.0.1 where nothing listens (a port bound and released), for
/// "JWKS unreachable" tests.
///
/// # Panics
/// If no loopback port can be bound.
pub fn closed_loopback_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    let addr = listener.local_addr().expect("bound address");
    drop(listener);
    format!("http://{addr}/jwks")
}
