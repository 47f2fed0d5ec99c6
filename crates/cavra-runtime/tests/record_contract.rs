//! Recording a decided call is one contract (`cavra_store::DecisionBook::record`), kept by the
//! repository's store and by the service's tenant store on SQLite and PostgreSQL
//! (`CAVRA_TEST_POSTGRES_URL`, a schema of its own, dropped afterwards). The same calls, built
//! by `cavra_runtime::record` and settled by `cavra_runtime::approvals::settle`, go through all
//! three, and what each stores is compared: the decisions, the approval and its history, what
//! a failed write leaves (nothing), and a grant that cannot be used twice.

use cavra_engine::{ActionType, Decision, DecisionRecord, Env, NoSymlinks, Request};
use cavra_runtime::approvals::{Asker, Route, Settled, approval_write, settle};
use cavra_runtime::record::{new_decision, stored_form, to_record};
use cavra_store::{
    Approval, ApprovalState, ApprovalWrite, DecisionBook, DecisionFilter, GrantUse, NewDecision,
    Store, StoreError, Timestamp, ToRecord, now_or_never,
};
use cavra_tenant_store::{
    Approvals, Caller, DecidedRecord, Directory, LogSettings, RecordInput, TenantBook,
    TransitionOutcome,
};
use std::future::Future;
use std::sync::Arc;

const PACK: &str = "metadata: {id: t, version: '1'}\nrules:\n  - id: deploy\n    action: execute_command\n    commands: ['make deploy']\n    decision: require_approval\n";

fn pack() -> cavra_policy::CompiledPack {
    let resolved =
        cavra_policy::load_pack_str(PACK, "t.yaml", std::path::Path::new("/")).expect("pack");
    cavra_policy::compile(&resolved).expect("compile")
}

fn at(s: &str) -> Timestamp {
    Timestamp::parse(s).expect("time")
}

/// A call of two requests, decided at `now`: a read (allowed) and `make deploy` (needs
/// approval, so it decides), with ids `{tag}-0` and `{tag}-1`.
fn decided(tag: &str, now: Timestamp) -> Vec<(Request, DecisionRecord)> {
    let pack = pack();
    let ts = now.to_string();
    [
        Request::new(ActionType::ReadFile, "README.md"),
        Request::new(ActionType::ExecuteCommand, "make deploy"),
    ]
    .into_iter()
    .enumerate()
    .map(|(i, mut request)| {
        request.session_id = Some("s1".into());
        let id = format!("{tag}-{i}");
        let env = Env {
            timestamp: &ts,
            decision_id: &id,
            resolver: &NoSymlinks,
        };
        let record = cavra_engine::evaluate::evaluate(&pack, &request, &env);
        (request, record)
    })
    .collect()
}

/// One of the stores, as the contract test drives it: the contract itself, and what the test
/// needs beside it (what only this store takes with a decision, a person's approval, reading
/// an approval back).
trait Book: DecisionBook<Taken: Clone> {
    fn extra(&self, request: &Request, record: DecisionRecord) -> Self::Taken;
    fn approve(&mut self, id: &str, at: Timestamp) -> impl Future<Output = ()>;
    fn approval(&mut self, id: &str) -> impl Future<Output = Approval<Self::Granted>>;
}

impl Book for Store {
    fn extra(&self, request: &Request, record: DecisionRecord) -> cavra_store::ToolCall {
        let value = stored_form(pack().redactor(), &record, Some(request), &Vec::new())
            .expect("stored form");
        cavra_store::ToolCall {
            cwd: None,
            tool_use_id: None,
            record: value,
        }
    }
    async fn approve(&mut self, id: &str, at: Timestamp) {
        Store::approve(self, id, "alice", "ok", at.time()).expect("approve");
    }
    async fn approval(&mut self, id: &str) -> Approval<cavra_store::AtPrompt> {
        Store::approval(self, id).expect("read").expect("approval")
    }
}

impl Book for TenantBook<'_, cavra_tenant_store::Db> {
    fn extra(&self, _: &Request, record: DecisionRecord) -> Caller {
        Caller {
            requested_by: "agent-1".into(),
            policy_digest: record.policy_digest.clone(),
            record: RecordInput::Decided(Box::new(DecidedRecord {
                record,
                claimed_actor: None,
            })),
        }
    }
    async fn approve(&mut self, id: &str, at: Timestamp) {
        let t = cavra_runtime::approvals::transition(
            cavra_runtime::approvals::Step::Approve(GrantUse::Once),
            "alice",
            "ok",
            at.time(),
        )
        .expect("terms");
        let done = self
            .store
            .transition(self.tenant, id, t)
            .await
            .expect("transition");
        assert!(matches!(done, TransitionOutcome::Done(_)), "{done:?}");
    }
    async fn approval(&mut self, id: &str) -> cavra_tenant_store::Approval {
        self.store
            .approval(self.tenant, id)
            .await
            .expect("read")
            .expect("approval")
    }
}

/// Settles the deciding request of a call (`tag`, at `now`) against `book` and builds the
/// call to record exactly as the entry points do (`new_decision`, `approval_write`,
/// `to_record`). Returns it, with the step's word and the approval it names.
async fn build<B: Book>(
    book: &mut B,
    tag: &str,
    now: Timestamp,
) -> (ToRecord<B::Taken>, &'static str, Option<String>) {
    let mut calls = decided(tag, now);
    let deciding = 1;
    let (request, record) = &mut calls[deciding];
    assert_eq!(record.decision, Decision::RequireApproval);
    let asker = Asker {
        session_id: Some("s1".into()),
        requested_by: "agent-1".into(),
        summary: "execute_command: make deploy".into(),
    };
    let (fingerprint, settled) = settle(
        book,
        request,
        record,
        "Platform",
        asker,
        now,
        Some(time::Duration::hours(1)),
    )
    .await
    .expect("settled");
    let write = approval_write(record, &settled, "agent-1", Route::Approver);
    let (word, named) = match &settled {
        Settled::Use(a) => ("use", Some(a.id.clone())),
        Settled::Pending(a) => ("pending", Some(a.id.clone())),
        Settled::Denied(a) => ("denied", Some(a.id.clone())),
        Settled::Ask(terms) => ("ask", Some(terms.id.clone())),
        Settled::Unasked => ("unasked", None),
        Settled::NotNeeded => ("not needed", None),
    };
    let decisions = calls
        .into_iter()
        .map(|(request, record)| {
            let extra = book.extra(&request, record.clone());
            new_decision(
                record,
                Some("s1".into()),
                Some("claude-code".into()),
                now,
                fingerprint.clone(),
                |_| extra,
            )
        })
        .collect();
    (to_record(decisions, deciding, write), word, named)
}

/// `text` with every approval id (`apr_` and 32 hex digits, new per store) masked.
fn mask(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find("apr_") {
        out.push_str(&rest[..at]);
        let id = &rest[at + 4..];
        let hex = id.bytes().take_while(u8::is_ascii_hexdigit).count();
        if hex == 32 {
            out.push_str("APR");
            rest = &id[32..];
        } else {
            out.push_str("apr_");
            rest = id;
        }
    }
    out.push_str(rest);
    out
}

/// What a store keeps of the calls, in words every store shares; approval ids masked.
type Kept = (Vec<String>, Vec<String>);

/// Runs the scenario through one store and says what it kept.
async fn scenario<B: Book>(book: &mut B) -> Kept {
    let mut words = Vec::new();
    // 1. Nothing yet: an approval is asked. The write fails part way (the call's second
    // decision has its first's id) and leaves nothing: not the approval, not the first
    // decision.
    let (mut call, word, _) = build(book, "a", at("2026-01-01T00:00:00Z")).await;
    words.push(word);
    assert!(matches!(call.approval, ApprovalWrite::Ask(_)));
    call.decisions[1].decision_id = call.decisions[0].decision_id.clone();
    let failed = book.record(call).await.map(|_| ());
    assert!(
        matches!(failed, Err(StoreError::Conflict(_))),
        "a duplicate decision id conflicts: {failed:?}"
    );

    // 2. Still nothing (the failed call's approval would be pending now): asked again, and
    // recorded with both decisions.
    let (call, word, asked) = build(book, "b", at("2026-01-01T00:00:10Z")).await;
    words.push(word);
    let asked = asked.expect("asked");
    book.record(call).await.expect("recorded");

    // 3. Pending: nothing is written but the decisions.
    let (call, word, _) = build(book, "c", at("2026-01-01T00:00:30Z")).await;
    words.push(word);
    assert_eq!(call.approval, ApprovalWrite::None);
    book.record(call).await.expect("recorded");

    // 4. Approved, then used once by the same request.
    book.approve(&asked, at("2026-01-01T00:01:00Z")).await;
    let (call, word, used) = build(book, "d", at("2026-01-01T00:02:00Z")).await;
    words.push(word);
    assert_eq!(used.as_deref(), Some(asked.as_str()));
    let again = ToRecord {
        decisions: call
            .decisions
            .iter()
            .map(|d| NewDecision {
                decision_id: format!("{}-again", d.decision_id),
                ..d.clone()
            })
            .collect(),
        deciding: call.deciding,
        approval: call.approval.clone(),
    };
    book.record(call).await.expect("used");

    // 5. The same grant used again is refused, and nothing of that call is written; the
    // next call asks again.
    let twice = book.record(again).await.map(|_| ());
    assert!(
        matches!(twice, Err(StoreError::Conflict(_))),
        "a once-grant used twice conflicts: {twice:?}"
    );
    let (call, word, _) = build(book, "e", at("2026-01-01T00:03:00Z")).await;
    words.push(word);
    book.record(call).await.expect("asked again");

    let decisions: Vec<String> = book
        .list_decisions(&DecisionFilter::default())
        .await
        .expect("list")
        .into_iter()
        .map(|d| {
            format!(
                "{} {} {} {} {} {} {:?} {}",
                d.decision_id,
                d.action_type.as_str(),
                d.decision,
                d.rule_id,
                d.timestamp,
                d.fingerprint,
                d.session_id,
                mask(
                    &d.record["evidence_refs"]
                        .to_string()
                        .replace(&asked, "ASKED")
                ),
            )
        })
        .collect();
    let a = book.approval(&asked).await;
    let mut approvals = vec![format!(
        "{} {} {} {} {} {}",
        a.state, a.approver_group, a.requested_by, a.requested_at, a.expires_at, a.fingerprint
    )];
    // The reason words of a grant's use are each store's own (`used by the matching
    // request`, `used by a retry of the approved action`), kept as they were.
    approvals.extend(a.history.iter().map(|h| {
        let reason = if h.state == ApprovalState::Consumed {
            None
        } else {
            h.reason.clone()
        };
        format!("{} {} {} {reason:?}", h.at, h.state, h.actor)
    }));
    assert_eq!(a.state, ApprovalState::Consumed);
    assert_eq!(words, ["ask", "ask", "pending", "use", "ask"]);
    (decisions, approvals)
}

fn settings() -> LogSettings {
    LogSettings {
        signer: Arc::new(cavra_store::LogSigner {
            key_id: "k".into(),
            key: cavra_evidence::keys::from_seed(&[3; 32]),
        }),
        redactor: Arc::new(
            cavra_redact::Redactor::new(cavra_redact::builtin_rules()).expect("rules"),
        ),
    }
}

async fn tenant_scenario(url: &str) -> Kept {
    let db = cavra_tenant_store::Db::open(url, settings())
        .await
        .expect("tenant store");
    db.create_tenant(&cavra_tenant_store::Tenant {
        id: "acme".into(),
        name: "Acme".into(),
        created_at: at("2026-01-01T00:00:00Z"),
    })
    .await
    .expect("tenant");
    let mut book = TenantBook {
        store: &db,
        tenant: "acme",
        rules: None,
    };
    let kept = scenario(&mut book).await;
    // The service has no agent prompt: asking there is refused, and nothing is written
    // (after the last approval expired, so that one is asked).
    let (mut call, _, _) = build(&mut book, "f", at("2026-01-01T02:00:00Z")).await;
    let ApprovalWrite::Ask(approval) = call.approval else {
        panic!("an approval is asked");
    };
    call.approval = ApprovalWrite::AskAtPrompt {
        approval,
        tool_use_id: Some("tu".into()),
    };
    let refused = book.record(call).await;
    assert!(
        matches!(refused, Err(StoreError::InvalidInput(_))),
        "{refused:?}"
    );
    let listed = book
        .list_decisions(&DecisionFilter::default())
        .await
        .expect("list");
    assert_eq!(listed.len(), kept.0.len(), "nothing of a refused call");
    kept
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_recording_is_stored_alike_by_the_repository_store_and_both_tenant_backends() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut local = Store::open_repo(dir.path()).expect("local store");
    let local_kept = scenario(&mut local).await;
    // Four calls written, two decisions each; the failed ones left nothing.
    assert_eq!(local_kept.0.len(), 8, "{:#?}", local_kept.0);
    assert_eq!(
        local.approvals(None).expect("approvals").len(),
        2,
        "the approvals asked by calls b and e; none by the failed call"
    );

    let url = format!("sqlite://{}", dir.path().join("tenant.db").display());
    let sqlite_kept = tenant_scenario(&url).await;
    assert_eq!(sqlite_kept, local_kept, "the tenant store on SQLite");

    let Some(base) = std::env::var("CAVRA_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty())
    else {
        use std::io::Write as _;
        let _ = writeln!(
            std::io::stderr(),
            "\n***** CAVRA_TEST_POSTGRES_URL is not set: the PostgreSQL recording contract did NOT run *****"
        );
        return;
    };
    let (c, conn) = tokio_postgres::connect(&base, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(conn);
    let name: String = c
        .query_one(
            "SELECT 'cavra_store_rec_' || replace(gen_random_uuid()::text, '-', '')",
            &[],
        )
        .await
        .expect("name")
        .get(0);
    c.batch_execute(&format!("CREATE SCHEMA {name}"))
        .await
        .expect("schema");
    let sep = if base.contains('?') { '&' } else { '?' };
    let pg_kept = tenant_scenario(&format!("{base}{sep}options=-c%20search_path%3D{name}")).await;
    c.batch_execute(&format!("DROP SCHEMA {name} CASCADE"))
        .await
        .expect("drop");
    assert_eq!(pg_kept, local_kept, "the tenant store on PostgreSQL");
}

#[test]
fn the_repository_store_asks_at_the_agent_prompt_in_the_call_s_own_transaction() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut store = Store::open_repo(dir.path()).expect("store");
    let now = at("2026-01-01T00:00:00Z");
    let (mut call, word, asked) = now_or_never(build(&mut store, "p", now)).expect("ready");
    assert_eq!(word, "ask");
    let ApprovalWrite::Ask(approval) = call.approval else {
        panic!("an approval is asked");
    };
    call.approval = ApprovalWrite::AskAtPrompt {
        approval,
        tool_use_id: Some("tu-1".into()),
    };
    let written = now_or_never(store.record(call))
        .expect("ready")
        .expect("recorded")
        .expect("the approval");
    assert_eq!(Some(written.id.clone()), asked);
    assert_eq!(
        store.pending_at_prompt("tu-1").expect("read").map(|a| a.id),
        asked
    );
    let entries = store.log_entries_about(&written.id).expect("log");
    assert_eq!(entries.len(), 1, "its pending entry");
}
