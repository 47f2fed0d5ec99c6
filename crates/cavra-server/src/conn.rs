//! Connections that have not authenticated yet, capped apart from the others.
//!
//! Every connection starts unauthenticated and stays so until a request on it presents a
//! valid credential. At most `connections.max_unauthenticated` such connections are open:
//! when a new peer arrives with that many open, the oldest of them is closed (it has had the
//! longest to send a request and authenticate). So peers that connect and never send a valid
//! credential (slow or half-sent requests, idle sockets) hold at most that many connections,
//! whatever their number, and a client that authenticates promptly gets through; connections
//! that have authenticated are never closed to make room.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

/// The connections waiting to authenticate, oldest first.
pub struct Unauthenticated {
    cap: usize,
    waiting: Mutex<Waiting>,
}

#[derive(Default)]
struct Waiting {
    next: u64,
    /// By arrival; the sender closes the connection.
    open: BTreeMap<u64, oneshot::Sender<()>>,
}

/// One connection's place among the unauthenticated, carried in each of its requests'
/// extensions so that authentication can take it out.
#[derive(Clone)]
pub struct ConnectionTag {
    id: u64,
    registry: Arc<Unauthenticated>,
}

/// Fires when the connection is closed to make room for a newer unauthenticated one.
pub type Evicted = oneshot::Receiver<()>;

impl Unauthenticated {
    /// At most `cap` unauthenticated connections (at least one).
    pub fn new(cap: usize) -> Arc<Unauthenticated> {
        Arc::new(Unauthenticated {
            cap: cap.max(1),
            waiting: Mutex::new(Waiting::default()),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Waiting> {
        self.waiting.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Admits a new connection as unauthenticated, closing the oldest unauthenticated one
    /// when the cap is reached.
    pub fn admit(self: &Arc<Self>) -> (ConnectionTag, Evicted) {
        let (tx, rx) = oneshot::channel();
        let mut w = self.lock();
        while w.open.len() >= self.cap {
            match w.open.pop_first() {
                Some((_, close)) => {
                    let _ = close.send(());
                }
                None => break,
            }
        }
        let id = w.next;
        w.next += 1;
        w.open.insert(id, tx);
        (
            ConnectionTag {
                id,
                registry: self.clone(),
            },
            rx,
        )
    }

    /// How many connections are waiting to authenticate.
    pub fn len(&self) -> usize {
        self.lock().open.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl ConnectionTag {
    /// The connection presented a valid credential: it no longer counts against the cap
    /// and is not closed to make room.
    pub fn authenticated(&self) {
        self.registry.lock().open.remove(&self.id);
    }

    /// The connection ended.
    pub fn closed(&self) {
        self.authenticated();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_unauthenticated_connection_makes_room_and_authenticated_ones_stay() {
        let r = Unauthenticated::new(2);
        let (a, mut a_closed) = r.admit();
        let (b, mut b_closed) = r.admit();
        b.authenticated();
        let (_c, mut c_closed) = r.admit();
        assert!(a_closed.try_recv().is_err(), "room was left by b");
        let (_d, _) = r.admit();
        assert_eq!(
            a_closed.try_recv(),
            Ok(()),
            "a is the oldest unauthenticated"
        );
        assert!(b_closed.try_recv().is_err() && c_closed.try_recv().is_err());
        assert_eq!(r.len(), 2);
        a.closed();
        assert_eq!(r.len(), 2);
    }
}
