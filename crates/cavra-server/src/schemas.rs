//! OpenAPI schemas of the records the API returns as the tenant store keeps them: a stored
//! decision and an approval are the stores' shared types with the service's own fields
//! (`cavra_tenant_store::StoredDecision`, `cavra_tenant_store::Approval`). Their schemas live
//! here, with the API's other views, so that the stores carry no OpenAPI dependency; the tests
//! below hold each schema to the JSON its record writes.

use utoipa::ToSchema;

// The schema of `cavra_tenant_store::StoredDecision`; its doc comment is the schema's
// description in the document, as it was when the store derived it.
/// A stored decision.
#[derive(ToSchema)]
pub struct StoredDecision {
    /// Decision id.
    pub decision_id: String,
    /// Agent session.
    pub session_id: Option<String>,
    /// Agent id.
    pub agent: Option<String>,
    /// Who asked.
    pub requested_by: String,
    /// What kind of action.
    pub action_type: String,
    /// The effective decision.
    pub decision: String,
    /// Deciding rule.
    pub rule_id: String,
    /// Time.
    pub timestamp: String,
    /// Fingerprint.
    pub fingerprint: String,
    /// Pack digest.
    pub policy_digest: String,
    /// The evidence log entry that records it.
    pub log_index: Option<u64>,
    /// The full (redacted) record.
    #[schema(value_type = Object)]
    pub record: serde_json::Value,
}

// The schema of `cavra_tenant_store::Approval`.
/// An approval.
#[derive(ToSchema)]
pub struct Approval {
    /// Its id (`apr_…`).
    pub id: String,
    /// The decision that asked for it.
    pub decision_id: String,
    /// The action fingerprint it unlocks.
    pub fingerprint: String,
    /// The agent session that asked.
    pub session_id: Option<String>,
    /// Who may decide it.
    pub approver_group: String,
    /// The authenticated caller that asked (never allowed to decide it).
    pub requested_by: String,
    /// When it was asked for.
    pub requested_at: String,
    /// After this it unlocks nothing (enforced in every query that grants).
    pub expires_at: String,
    /// Its state: pending, approved, denied, expired, break_glass, consumed.
    pub state: String,
    /// Who decided it.
    pub decided_by: Option<String>,
    /// When.
    pub decided_at: Option<String>,
    /// Why.
    pub reason: Option<String>,
    /// What is asked for, redacted.
    pub summary: String,
    /// Once or until expiry.
    pub grant: String,
    /// Times the grant was used.
    pub uses: i64,
    /// Every transition.
    #[schema(value_type = Vec<Object>)]
    pub history: Vec<serde_json::Value>,
}

#[cfg(test)]
mod tests {
    use cavra_tenant_store::{
        ActionType, ApprovalState, Decision, Grant, GrantUse, Provenance, StoredDecision,
    };
    use std::collections::BTreeSet;

    /// The property names of schema `name` in the API's document.
    fn properties(name: &str) -> BTreeSet<String> {
        let doc = serde_json::to_value(<crate::openapi::ApiDoc as utoipa::OpenApi>::openapi())
            .expect("the document serialises");
        doc["components"]["schemas"][name]["properties"]
            .as_object()
            .unwrap_or_else(|| panic!("schema {name} in the document"))
            .keys()
            .cloned()
            .collect()
    }

    fn keys(v: serde_json::Value) -> BTreeSet<String> {
        v.as_object().expect("an object").keys().cloned().collect()
    }

    #[test]
    fn the_schemas_name_the_fields_the_records_write() {
        let at = cavra_tenant_store::Timestamp::now();
        let decision = StoredDecision {
            decision_id: "d1".into(),
            session_id: None,
            extra: Provenance {
                agent: None,
                requested_by: "agent".into(),
                policy_digest: "sha256:p".into(),
                log_index: Some(0),
            },
            action_type: ActionType::ReadFile.into(),
            decision: Decision::Allow,
            rule_id: "r".into(),
            timestamp: at,
            fingerprint: "fp".into(),
            record: serde_json::Value::Null,
        };
        assert_eq!(
            keys(serde_json::to_value(&decision).expect("json")),
            properties("StoredDecision")
        );
        let approval = cavra_tenant_store::Approval {
            id: "apr_1".into(),
            decision_id: "d1".into(),
            fingerprint: "fp".into(),
            session_id: None,
            approver_group: "g".into(),
            requested_by: "agent".into(),
            requested_at: at,
            expires_at: at,
            state: ApprovalState::Pending,
            decided_by: None,
            decided_at: None,
            reason: None,
            summary: "s".into(),
            extra: Grant {
                grant: GrantUse::Once,
                uses: 0,
            },
            history: Vec::new(),
        };
        assert_eq!(
            keys(serde_json::to_value(&approval).expect("json")),
            properties("Approval")
        );
    }
}
