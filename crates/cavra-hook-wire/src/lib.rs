//! What the hook server and its clients share, in one small crate: the slim `cavra-hook`
//! client, the server behind `cavra hook --daemon` and the `hook_wire` fuzz target all use
//! this code as it is.
//!
//! - [`wire`]: the frames of one request and one reply per connection, decoded as untrusted.
//! - [`client`]: the repository's socket and lock paths in a private folder, the environment
//!   variables sent with a call, and the fail-closed messages.
//! - [`slim`]: the slim `cavra-hook` client itself: it asks the server, and hands every
//!   other case to `cavra hook` beside it.

#![warn(missing_docs)]

pub mod client;
pub mod slim;
pub mod wire;
