//! The hook server's wire format: one request and one reply per connection, each a frame of
//! `u32` little-endian length, then `CVH1`, a kind byte and the fields (integers little-endian,
//! byte strings as `u32` length + bytes, optional values as a `0`/`1` byte first).
//!
//! The bytes come from a socket, so the decoder treats them as untrusted: every length is
//! checked against what is left, a frame is capped at [`MAX_FRAME`], and decoding returns an
//! error, never panics (a proptest and the `hook_wire` fuzz target hold it to that). This module
//! depends on `std` and `thiserror` only.

use std::io::{Read, Write};

/// The first bytes of every frame body; a change of layout changes them.
pub const MAGIC: &[u8; 4] = b"CVH1";
/// The largest frame accepted: a whole hook input (1 MiB and the byte that says "more")
/// plus room for the arguments and environment.
pub const MAX_FRAME: usize = 1024 * 1024 + 1 + 256 * 1024;

/// Why bytes are not a valid frame.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WireError {
    /// The frame ends before a field does.
    #[error("the frame ends inside a field")]
    Truncated,
    /// The frame does not start with [`MAGIC`].
    #[error("not a cavra hook server frame (bad magic)")]
    BadMagic,
    /// An unknown kind or option byte.
    #[error("unknown {what} byte {byte}")]
    BadTag {
        /// Which field.
        what: &'static str,
        /// The byte found.
        byte: u8,
    },
    /// A text field is not UTF-8.
    #[error("a text field is not UTF-8")]
    NotUtf8,
    /// Bytes left over after the last field.
    #[error("{0} bytes after the last field")]
    Trailing(usize),
    /// A frame longer than [`MAX_FRAME`].
    #[error("a frame of {0} bytes is larger than the limit")]
    TooLarge(usize),
    /// Reading or writing the socket failed.
    #[error("{0}")]
    Io(String),
}

/// A call on the hook server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Decide one hook call.
    Decide(DecideRequest),
    /// Say who is serving (pid, root, calls).
    Status,
    /// Stop serving.
    Stop,
}

/// One hook call: the client's parsed arguments, its folder and environment, and its stdin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecideRequest {
    /// The agent's name (`claude-code`, …).
    pub agent: String,
    /// `--approval-mode`: 0 ask, 1 store.
    pub approval_mode: u8,
    /// `--policy`.
    pub policy: Option<String>,
    /// `--approval-ttl` in minutes.
    pub approval_ttl: u64,
    /// `--deadline-ms` (the client enforces it; sent for the record).
    pub deadline_ms: u64,
    /// `--require-signed-policy`.
    pub require_signed_policy: bool,
    /// `--trust-root`, as bytes of the path.
    pub trust_root: Option<Vec<u8>>,
    /// `--server` (the hook server does not serve these calls).
    pub server: Option<String>,
    /// `--server-fallback`: 0 local, 1 deny.
    pub server_fallback: u8,
    /// The client's current folder (bytes of the path), or why it could not be read.
    pub cwd: Result<Vec<u8>, String>,
    /// The environment variables that can change a decision, name and value bytes.
    pub env: Vec<(String, Vec<u8>)>,
    /// stdin as the client read it.
    pub input: Vec<u8>,
}

/// The server's reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// The hook's answer, to print and exit with.
    Answer {
        /// The process exit code.
        exit_code: i32,
        /// What goes to stdout (without the final newline the client adds).
        stdout: Vec<u8>,
        /// What goes to stderr (likewise).
        stderr: Vec<u8>,
    },
    /// The server does not serve this call; the client decides in process.
    NotServed(String),
    /// Status text.
    Status(String),
    /// The server stops.
    Stopping,
}

struct Writer(Vec<u8>);

impl Writer {
    fn new(kind: u8) -> Writer {
        let mut v = Vec::with_capacity(256);
        v.extend_from_slice(&[0; 4]);
        v.extend_from_slice(MAGIC);
        v.push(kind);
        Writer(v)
    }
    fn u8(&mut self, b: u8) {
        self.0.push(b);
    }
    fn u64(&mut self, n: u64) {
        self.0.extend_from_slice(&n.to_le_bytes());
    }
    fn bytes(&mut self, b: &[u8]) {
        // Lengths over u32 cannot occur below MAX_FRAME; the reader rejects the frame anyway.
        self.0
            .extend_from_slice(&u32::try_from(b.len()).unwrap_or(u32::MAX).to_le_bytes());
        self.0.extend_from_slice(b);
    }
    fn opt(&mut self, b: Option<&[u8]>) {
        match b {
            None => self.u8(0),
            Some(b) => {
                self.u8(1);
                self.bytes(b);
            }
        }
    }
    fn finish(mut self) -> Vec<u8> {
        let len = u32::try_from(self.0.len() - 4).unwrap_or(u32::MAX);
        self.0[..4].copy_from_slice(&len.to_le_bytes());
        self.0
    }
}

struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        if self.buf.len() < n {
            return Err(WireError::Truncated);
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }
    fn u8(&mut self) -> Result<u8, WireError> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32, WireError> {
        let mut a = [0u8; 4];
        a.copy_from_slice(self.take(4)?);
        Ok(u32::from_le_bytes(a))
    }
    fn u64(&mut self) -> Result<u64, WireError> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(a))
    }
    fn bytes(&mut self) -> Result<&'a [u8], WireError> {
        let n = self.u32()? as usize;
        self.take(n)
    }
    fn text(&mut self) -> Result<String, WireError> {
        String::from_utf8(self.bytes()?.to_vec()).map_err(|_| WireError::NotUtf8)
    }
    fn flag(&mut self, what: &'static str) -> Result<bool, WireError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            byte => Err(WireError::BadTag { what, byte }),
        }
    }
    fn opt_bytes(&mut self, what: &'static str) -> Result<Option<Vec<u8>>, WireError> {
        Ok(if self.flag(what)? {
            Some(self.bytes()?.to_vec())
        } else {
            None
        })
    }
    fn opt_text(&mut self, what: &'static str) -> Result<Option<String>, WireError> {
        Ok(if self.flag(what)? {
            Some(self.text()?)
        } else {
            None
        })
    }
    fn end(self) -> Result<(), WireError> {
        match self.buf.len() {
            0 => Ok(()),
            n => Err(WireError::Trailing(n)),
        }
    }
}

/// Opens a frame body: checks the magic, returns the kind byte and the fields.
fn open(body: &[u8]) -> Result<(u8, Reader<'_>), WireError> {
    let mut r = Reader { buf: body };
    if r.take(4)? != MAGIC {
        return Err(WireError::BadMagic);
    }
    let kind = r.u8()?;
    Ok((kind, r))
}

impl Request {
    /// The whole frame, length first.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Request::Status => Writer::new(2).finish(),
            Request::Stop => Writer::new(3).finish(),
            Request::Decide(d) => {
                let mut w = Writer::new(1);
                w.bytes(d.agent.as_bytes());
                w.u8(d.approval_mode);
                w.opt(d.policy.as_deref().map(str::as_bytes));
                w.u64(d.approval_ttl);
                w.u64(d.deadline_ms);
                w.u8(u8::from(d.require_signed_policy));
                w.opt(d.trust_root.as_deref());
                w.opt(d.server.as_deref().map(str::as_bytes));
                w.u8(d.server_fallback);
                match &d.cwd {
                    Ok(p) => {
                        w.u8(1);
                        w.bytes(p);
                    }
                    Err(e) => {
                        w.u8(0);
                        w.bytes(e.as_bytes());
                    }
                }
                w.0.extend_from_slice(
                    &u32::try_from(d.env.len()).unwrap_or(u32::MAX).to_le_bytes(),
                );
                for (k, v) in &d.env {
                    w.bytes(k.as_bytes());
                    w.bytes(v);
                }
                w.bytes(&d.input);
                w.finish()
            }
        }
    }

    /// Decodes a frame body (the bytes after the length).
    pub fn decode(body: &[u8]) -> Result<Request, WireError> {
        let (kind, mut r) = open(body)?;
        let request = match kind {
            2 => Request::Status,
            3 => Request::Stop,
            1 => {
                let agent = r.text()?;
                let approval_mode = r.u8()?;
                let policy = r.opt_text("policy")?;
                let approval_ttl = r.u64()?;
                let deadline_ms = r.u64()?;
                let require_signed_policy = r.flag("require_signed_policy")?;
                let trust_root = r.opt_bytes("trust_root")?;
                let server = r.opt_text("server")?;
                let server_fallback = r.u8()?;
                let cwd = if r.flag("cwd")? {
                    Ok(r.bytes()?.to_vec())
                } else {
                    Err(r.text()?)
                };
                let n = r.u32()?;
                // Each variable takes at least 8 bytes, so a lying count fails on Truncated
                // long before it could make the vector large.
                let mut env = Vec::with_capacity((n as usize).min(r.buf.len() / 8));
                for _ in 0..n {
                    let k = r.text()?;
                    let v = r.bytes()?.to_vec();
                    env.push((k, v));
                }
                let input = r.bytes()?.to_vec();
                Request::Decide(DecideRequest {
                    agent,
                    approval_mode,
                    policy,
                    approval_ttl,
                    deadline_ms,
                    require_signed_policy,
                    trust_root,
                    server,
                    server_fallback,
                    cwd,
                    env,
                    input,
                })
            }
            byte => {
                return Err(WireError::BadTag {
                    what: "request kind",
                    byte,
                });
            }
        };
        r.end()?;
        Ok(request)
    }
}

impl Reply {
    /// The whole frame, length first.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Reply::Answer {
                exit_code,
                stdout,
                stderr,
            } => {
                let mut w = Writer::new(1);
                w.0.extend_from_slice(&exit_code.to_le_bytes());
                w.bytes(stdout);
                w.bytes(stderr);
                w.finish()
            }
            Reply::NotServed(why) => {
                let mut w = Writer::new(2);
                w.bytes(why.as_bytes());
                w.finish()
            }
            Reply::Status(text) => {
                let mut w = Writer::new(3);
                w.bytes(text.as_bytes());
                w.finish()
            }
            Reply::Stopping => Writer::new(4).finish(),
        }
    }

    /// Decodes a frame body (the bytes after the length).
    pub fn decode(body: &[u8]) -> Result<Reply, WireError> {
        let (kind, mut r) = open(body)?;
        let reply = match kind {
            1 => {
                let mut code = [0u8; 4];
                code.copy_from_slice(r.take(4)?);
                Reply::Answer {
                    exit_code: i32::from_le_bytes(code),
                    stdout: r.bytes()?.to_vec(),
                    stderr: r.bytes()?.to_vec(),
                }
            }
            2 => Reply::NotServed(r.text()?),
            3 => Reply::Status(r.text()?),
            4 => Reply::Stopping,
            byte => {
                return Err(WireError::BadTag {
                    what: "reply kind",
                    byte,
                });
            }
        };
        r.end()?;
        Ok(reply)
    }
}

/// Reads one frame's body from a stream (the length first, capped at [`MAX_FRAME`]).
pub fn read_frame(stream: &mut impl Read) -> Result<Vec<u8>, WireError> {
    let mut len = [0u8; 4];
    stream
        .read_exact(&mut len)
        .map_err(|e| WireError::Io(e.to_string()))?;
    let len = u32::from_le_bytes(len) as usize;
    if len > MAX_FRAME {
        return Err(WireError::TooLarge(len));
    }
    let mut body = vec![0u8; len];
    stream
        .read_exact(&mut body)
        .map_err(|e| WireError::Io(e.to_string()))?;
    Ok(body)
}

/// Writes an encoded frame.
pub fn write_frame(stream: &mut impl Write, frame: &[u8]) -> Result<(), WireError> {
    stream
        .write_all(frame)
        .and_then(|()| stream.flush())
        .map_err(|e| WireError::Io(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample() -> DecideRequest {
        DecideRequest {
            agent: "claude-code".into(),
            approval_mode: 1,
            policy: Some("builtin:cavra-baseline".into()),
            approval_ttl: 60,
            deadline_ms: 8000,
            require_signed_policy: true,
            trust_root: Some(b"/t/root.json".to_vec()),
            server: None,
            server_fallback: 1,
            cwd: Ok(b"/repo/sub".to_vec()),
            env: vec![
                ("CAVRA_POLICY".into(), b"x.yaml".to_vec()),
                ("HOME".into(), vec![0xff, 0x00]),
            ],
            input: b"{\"tool_name\": \"Bash\"}".to_vec(),
        }
    }

    #[test]
    fn requests_and_replies_round_trip() {
        let mut other = sample();
        other.cwd = Err("gone".into());
        other.env.clear();
        other.input.clear();
        for request in [
            Request::Decide(sample()),
            Request::Decide(other),
            Request::Status,
            Request::Stop,
        ] {
            let frame = request.encode();
            let body = read_frame(&mut &frame[..]).expect("frame");
            assert_eq!(Request::decode(&body), Ok(request));
        }
        for reply in [
            Reply::Answer {
                exit_code: 2,
                stdout: b"{\"x\":1}".to_vec(),
                stderr: b"why".to_vec(),
            },
            Reply::NotServed("no".into()),
            Reply::Status("pid 1".into()),
            Reply::Stopping,
        ] {
            let frame = reply.encode();
            let body = read_frame(&mut &frame[..]).expect("frame");
            assert_eq!(Reply::decode(&body), Ok(reply));
        }
    }

    #[test]
    fn bad_frames_are_errors() {
        let frame = Request::Decide(sample()).encode();
        let body = &frame[4..];
        for cut in 0..body.len() {
            assert!(Request::decode(&body[..cut]).is_err(), "cut at {cut}");
        }
        let mut long = body.to_vec();
        long.push(0);
        assert_eq!(Request::decode(&long), Err(WireError::Trailing(1)));
        assert_eq!(Request::decode(b"XXXX\x01"), Err(WireError::BadMagic));
        let huge = (MAX_FRAME as u32 + 1).to_le_bytes();
        assert!(matches!(
            read_frame(&mut &huge[..]),
            Err(WireError::TooLarge(_))
        ));
        // A reply is not a request.
        assert!(Request::decode(&Reply::Stopping.encode()[4..]).is_err());
    }

    proptest! {
        #[test]
        fn the_decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = Request::decode(&bytes);
            let _ = Reply::decode(&bytes);
            let mut with_magic = MAGIC.to_vec();
            with_magic.extend_from_slice(&bytes);
            let _ = Request::decode(&with_magic);
            let _ = Reply::decode(&with_magic);
            let _ = read_frame(&mut &bytes[..]);
        }

        #[test]
        fn mutated_requests_never_panic(pos in 0usize..200, byte in any::<u8>()) {
            let frame = Request::Decide(sample()).encode();
            let mut body = frame[4..].to_vec();
            let at = pos % body.len();
            body[at] = byte;
            let _ = Request::decode(&body);
        }
    }
}
