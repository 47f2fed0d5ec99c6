//! The approval step after the engine (`cavra_runtime::approvals::settle`) against the two
//! stores that keep its contract (`cavra_store::DecisionBook`): the repository's store, as the
//! hook calls it, and the service's tenant store (SQLite here; `tests/backend.rs` holds the
//! tenant store's two backends to one behaviour), as `api::decisions::create` calls it. Each
//! store writes what `settle` says, as its caller does; both must take the same steps and
//! leave the same record.

use cavra_engine::{ActionType, Decision, DecisionRecord, Env, NoSymlinks, Request};
use cavra_runtime::approvals::{Asker, Route, Settled, Step, approval_write, settle, transition};
use cavra_runtime::record::{new_decision, stored_form, to_record};
use cavra_store::{ApprovalWrite, DecisionBook, GrantUse, Store, Timestamp, now_or_never};
use cavra_tenant_store::{
    Approvals, Caller, Directory, LogSettings, RecordInput, TenantBook, TransitionOutcome,
};
use std::sync::Arc;

const PACK: &str = "metadata: {id: t, version: '1'}\nrules:\n  - id: deploy\n    action: execute_command\n    commands: ['make deploy']\n    decision: require_approval\n";

fn decided(id: &str) -> (Request, DecisionRecord) {
    let resolved =
        cavra_policy::load_pack_str(PACK, "t.yaml", std::path::Path::new("/")).expect("pack");
    let pack = cavra_policy::compile(&resolved).expect("compile");
    let request = Request::new(ActionType::ExecuteCommand, "make deploy");
    let env = Env {
        timestamp: "2026-01-01T00:00:00.000Z",
        decision_id: id,
        resolver: &NoSymlinks,
    };
    let record = cavra_engine::evaluate::evaluate(&pack, &request, &env);
    assert_eq!(
        record.decision,
        Decision::RequireApproval,
        "{}",
        record.reason
    );
    (request, record)
}

fn asker() -> Asker {
    Asker {
        session_id: Some("s1".into()),
        requested_by: "agent-1".into(),
        summary: "execute_command: make deploy".into(),
    }
}

/// What a step came to, in words both stores share.
fn word<A>(s: &Settled<A>) -> &'static str {
    match s {
        Settled::Use(_) => "use",
        Settled::Denied(_) => "denied",
        Settled::Pending(_) => "pending",
        Settled::Ask(_) => "ask",
        Settled::Unasked => "unasked",
        Settled::NotNeeded => "not needed",
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settle_takes_the_same_steps_in_the_repository_store_and_the_tenant_store() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut local = Store::open_repo(dir.path()).expect("local store");
    let settings = LogSettings {
        signer: Arc::new(cavra_store::LogSigner {
            key_id: "k".into(),
            key: cavra_evidence::keys::from_seed(&[3; 32]),
        }),
        redactor: Arc::new(
            cavra_redact::Redactor::new(cavra_redact::builtin_rules()).expect("rules"),
        ),
    };
    let url = format!("sqlite://{}", dir.path().join("tenant.db").display());
    let db = cavra_tenant_store::Db::open(&url, settings)
        .await
        .expect("tenant store");
    db.create_tenant(&cavra_tenant_store::Tenant {
        id: "acme".into(),
        name: "Acme".into(),
        created_at: Timestamp::parse("2026-01-01T00:00:00Z").expect("time"),
    })
    .await
    .expect("tenant");
    let mut tenant = TenantBook {
        store: &db,
        tenant: "acme",
        rules: None,
    };
    let at = |s: &str| Timestamp::parse(s).expect("time");
    let ttl = time::Duration::hours(1);
    let mut steps = (Vec::new(), Vec::new());
    let mut approvals: (Option<String>, Option<String>) = (None, None);
    let mut used = None;

    for (round, now) in [
        "2026-01-01T00:00:00Z", // none yet: ask
        "2026-01-01T00:01:00Z", // pending
        "2026-01-01T00:03:00Z", // approved (at 00:02): used once
        "2026-01-01T00:04:00Z", // used: ask again
    ]
    .into_iter()
    .enumerate()
    {
        let now = at(now);
        if round == 2 {
            let approved = at("2026-01-01T00:02:00Z").time();
            let id = approvals.0.clone().expect("asked");
            local
                .approve(&id, "alice", "ok", approved)
                .expect("approve");
            let id = approvals.1.clone().expect("asked");
            let t =
                transition(Step::Approve(GrantUse::Once), "alice", "ok", approved).expect("terms");
            let done = db.transition("acme", &id, t).await.expect("transition");
            assert!(matches!(done, TransitionOutcome::Done(_)), "{done:?}");
        }
        // The repository's store, as the hook does it: futures ready at once.
        let (request, mut record) = decided(&format!("l{round}"));
        let settling = settle(
            &mut local,
            &request,
            &mut record,
            "Platform",
            asker(),
            now,
            Some(ttl),
        );
        let (local_fp, settled) = now_or_never(settling).expect("ready").expect("settled");
        steps.0.push(word(&settled));
        let write = approval_write(&mut record, &settled, "agent-1", Route::Approver);
        if let ApprovalWrite::Ask(terms) = &write {
            approvals.0 = Some(terms.id.clone());
        }
        let value = stored_form(
            cavra_redact::Redactor::builtin(),
            &record,
            Some(&request),
            &Vec::new(),
        )
        .expect("stored form");
        let one = new_decision(
            &record,
            Some("s1".into()),
            None,
            now,
            local_fp.clone(),
            |_| cavra_store::ToolCall {
                cwd: None,
                tool_use_id: None,
                record: value,
            },
        );
        now_or_never(local.record(to_record(vec![one], 0, write)))
            .expect("ready")
            .expect("recorded locally");
        let local_record = record;

        // The service's tenant store, as `api::decisions::create` does it.
        let (request, mut record) = decided(&format!("t{round}"));
        let (fp, settled) = settle(
            &mut tenant,
            &request,
            &mut record,
            "Platform",
            asker(),
            now,
            Some(ttl),
        )
        .await
        .expect("settled");
        assert_eq!(fp, local_fp, "one fingerprint for one context");
        steps.1.push(word(&settled));
        let write = approval_write(&mut record, &settled, "agent-1", Route::Approver);
        match &write {
            ApprovalWrite::Ask(terms) => approvals.1 = Some(terms.id.clone()),
            ApprovalWrite::Use { id, .. } => used = Some(id.clone()),
            _ => {}
        }
        let one = new_decision(record.clone(), Some("s1".into()), None, now, fp, |record| {
            Caller {
                requested_by: "agent-1".into(),
                policy_digest: record.policy_digest.clone(),
                record: RecordInput::Json(serde_json::to_value(&record).expect("json")),
            }
        });
        tenant
            .record(to_record(vec![one], 0, write))
            .await
            .expect("recorded");

        // The same record in both, but for the approval's own id.
        let (l, t) = (approvals.0.as_deref(), approvals.1.as_deref());
        let strip = |r: &DecisionRecord, id: Option<&str>| {
            let id = id.unwrap_or_default();
            (
                r.decision,
                r.reason.replace(id, "ID"),
                r.approver_group.clone(),
                r.evidence_refs
                    .iter()
                    .map(|e| e.replace(id, "ID"))
                    .collect::<Vec<_>>(),
            )
        };
        assert_eq!(strip(&local_record, l), strip(&record, t), "round {round}");
    }
    assert_eq!(steps.0, ["ask", "pending", "use", "ask"]);
    assert_eq!(steps.0, steps.1);

    // Both list what they recorded through the same contract.
    let filter = cavra_store::DecisionFilter::default();
    let listed = tenant.list_decisions(&filter).await.expect("tenant list");
    assert_eq!(listed.len(), 4);
    assert_eq!(
        listed[1].decision,
        Decision::Allow,
        "the grant's use allowed"
    );
    let approval = db
        .approval("acme", used.as_deref().expect("a grant was used"))
        .await
        .expect("read")
        .expect("approval");
    assert_eq!(approval.extra.uses, 1);
    let local_listed = now_or_never(local.list_decisions(&filter))
        .expect("ready")
        .expect("local list");
    assert_eq!(local_listed.len(), 4);
    assert_eq!(local_listed[1].decision, Decision::Allow);
    assert!(
        local
            .approvals(Some(cavra_store::ApprovalState::Consumed))
            .expect("approvals")
            .len()
            == 1,
        "the grant was used once, by the decision that took it"
    );
}
