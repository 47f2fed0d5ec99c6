//! Sealing envelopes (redaction, templates, the Ed25519 signature: most of a delivery's CPU)
//! on a thread of its own that runs at a lower scheduling priority than the service's
//! threads, so that delivery takes the CPU the decisions leave and does not make them wait
//! for it (issue 18: at most 5 % added latency on the decision path).
//!
//! A batch is sealed in chunks, each handed back as soon as it is done, so that the first
//! envelopes of a batch are on their way while the rest are still being signed.

use std::sync::Arc;
use std::sync::mpsc as std_mpsc;

use cavra_redact::Redactor;
use cavra_tenant_store::outbox::ClaimedDelivery;

use crate::event::{EnvelopeSigner, sealed};
use crate::sink::Outgoing;
use crate::worker::Destination;

/// Deliveries sealed in one turn of the sealer: small enough that sends start early, large
/// enough that a turn's hand-over costs little next to its signatures.
pub(crate) const SEAL_CHUNK: usize = 64;

/// The sealing thread's name (as `ps -L` and `/proc/<pid>/task/*/comm` show it).
pub(crate) const SEAL_THREAD: &str = "cavra-seal";

/// A claimed delivery on its way to its destination.
pub(crate) struct ToSeal {
    pub(crate) delivery: ClaimedDelivery,
    pub(crate) dest: Arc<Destination>,
    pub(crate) key: String,
}

/// A delivery with its sealed envelope, ready to send.
pub(crate) struct Sealed {
    pub(crate) delivery: ClaimedDelivery,
    pub(crate) dest: Arc<Destination>,
    pub(crate) msg: Outgoing,
}

struct Job {
    items: Vec<ToSeal>,
    done: tokio::sync::oneshot::Sender<Vec<Sealed>>,
}

/// What seals: the redactor and the signer, on the sealing thread or inline.
#[derive(Clone)]
pub(crate) struct Sealing {
    pub(crate) redactor: Arc<Redactor>,
    pub(crate) signer: Option<Arc<EnvelopeSigner>>,
}

impl Sealing {
    /// Seals `items` here (the event's payload moves into its envelope: the attempt's
    /// record needs only the ids).
    pub(crate) fn seal(&self, items: Vec<ToSeal>) -> Vec<Sealed> {
        items
            .into_iter()
            .map(|mut t| {
                let d = &mut t.delivery;
                let payload = std::mem::take(&mut d.event.payload);
                let envelope = sealed(
                    &d.event,
                    payload,
                    &d.delivery.destination,
                    &t.key,
                    &self.redactor,
                    self.signer.as_deref(),
                    &t.dest.config.template,
                );
                let msg = Outgoing {
                    tenant: d.delivery.tenant.clone(),
                    event_id: d.event.id.clone(),
                    event_kind: d.event.kind.clone(),
                    destination: d.delivery.destination.clone(),
                    idempotency_key: t.key,
                    envelope,
                };
                Sealed {
                    delivery: t.delivery,
                    dest: t.dest,
                    msg,
                }
            })
            .collect()
    }
}

/// The sealing thread of a worker (it ends when the worker is dropped).
pub(crate) struct Sealer {
    sealing: Sealing,
    jobs: Option<std_mpsc::Sender<Job>>,
}

impl Sealer {
    /// Starts the sealing thread at `nice` (added to the process's niceness; 0: the same
    /// priority as the rest). Should the thread not start, sealing happens inline.
    pub(crate) fn start(sealing: Sealing, nice: i32) -> Sealer {
        let (tx, rx) = std_mpsc::channel::<Job>();
        let on_thread = sealing.clone();
        let started = std::thread::Builder::new()
            .name(SEAL_THREAD.into())
            .spawn(move || {
                lower_priority(nice);
                while let Ok(job) = rx.recv() {
                    // The worker may have stopped waiting (dropped): nothing to do then.
                    let _ = job.done.send(on_thread.seal(job.items));
                }
            });
        Sealer {
            sealing,
            jobs: started.is_ok().then_some(tx),
        }
    }

    /// Hands `items` to the sealing thread; the answer comes when they are sealed. An
    /// answer that never comes (the thread is gone) is an empty batch: the deliveries stay
    /// leased and are claimed again when their lease ends.
    pub(crate) fn submit(
        &self,
        items: Vec<ToSeal>,
    ) -> impl std::future::Future<Output = Vec<Sealed>> + Send + 'static {
        let (done, answer) = tokio::sync::oneshot::channel();
        let inline = match &self.jobs {
            Some(jobs) => match jobs.send(Job { items, done }) {
                Ok(()) => None,
                Err(std_mpsc::SendError(job)) => Some((job.items, job.done)),
            },
            None => Some((items, done)),
        };
        if let Some((items, done)) = inline {
            let _ = done.send(self.sealing.seal(items));
        }
        async move { answer.await.unwrap_or_default() }
    }
}

/// Lowers the calling thread's scheduling priority by `nice` (Linux: `setpriority` with who
/// 0 applies to the calling thread only). Best effort: a failure leaves it as it is.
pub(crate) fn lower_priority(nice: i32) {
    #[cfg(target_os = "linux")]
    if nice > 0 {
        // SAFETY: setpriority reads no memory of ours; who 0 is the calling thread.
        unsafe {
            let now = libc::getpriority(libc::PRIO_PROCESS, 0);
            libc::setpriority(libc::PRIO_PROCESS, 0, (now + nice).min(19));
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = nice;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The niceness of this process's threads named `name` (Linux), from their `stat`.
    #[cfg(target_os = "linux")]
    fn niceness_of(name: &str) -> Vec<i64> {
        let mut out = Vec::new();
        for t in std::fs::read_dir("/proc/self/task")
            .expect("tasks")
            .flatten()
        {
            let comm = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
            if comm.trim_end() != name {
                continue;
            }
            let stat = std::fs::read_to_string(t.path().join("stat")).unwrap_or_default();
            let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
            // nice is field 19 of the line, the 17th after the name.
            if let Some(n) = rest.split_whitespace().nth(16).and_then(|v| v.parse().ok()) {
                out.push(n);
            }
        }
        out
    }

    /// Envelopes are sealed on a thread below the service's priority, so that the decisions
    /// do not wait for delivery's CPU; and a batch handed over comes back whole.
    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn sealing_runs_on_a_thread_of_lower_priority() {
        let before = niceness_of(SEAL_THREAD).len();
        let sealer = Sealer::start(
            Sealing {
                redactor: Arc::new(Redactor::new(cavra_redact::builtin_rules()).expect("rules")),
                signer: None,
            },
            7,
        );
        // Sealing nothing still goes through the thread, which has lowered itself by then.
        assert!(sealer.submit(Vec::new()).await.is_empty());
        let mut found = niceness_of(SEAL_THREAD);
        assert_eq!(found.len(), before + 1, "{found:?}");
        found.sort();
        let own: i64 = unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) }.into();
        assert!(found.contains(&(own + 7).min(19)), "{found:?}");
    }
}
