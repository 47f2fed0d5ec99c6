//! What tests and benchmarks need to press cavra's buttons as Slack would: the signed
//! request of a press ([`signed_press`]), written once here; the loopback stand-in for
//! Slack's Web API is [`crate::chat::testing::StandIn`], re-exported here.

use super::*;
pub use crate::chat::testing::{Call, StandIn};

/// A press of the Approve (`approve`) or Deny button of approval `approval_id` of
/// `tenant` by Slack user `user`, answering to `response_url`, as Slack sends it at
/// `timestamp`: the headers `X-Slack-Request-Timestamp` and `X-Slack-Signature` (signed
/// with `secret`) and the form-encoded body.
pub fn signed_press(
    secret: &str,
    timestamp: i64,
    tenant: &str,
    approval_id: &str,
    user: &str,
    approve: bool,
    response_url: &str,
) -> (Vec<(&'static str, String)>, String) {
    let action = if approve { APPROVE_ACTION } else { DENY_ACTION };
    let payload = json!({
        "type": "block_actions",
        "user": {"id": user, "username": user.to_lowercase(), "team_id": "T0CAVRA"},
        "api_app_id": "A0CAVRA",
        "team": {"id": "T0CAVRA", "domain": "cavra-test"},
        "container": {"type": "message", "message_ts": "1700000000.000100",
                      "channel_id": "C0APPROVALS", "is_ephemeral": false},
        "channel": {"id": "C0APPROVALS", "name": "approvals"},
        "message": {"type": "message", "ts": "1700000000.000100", "text": "Approval needed",
                    "blocks": [{"type": "header", "text": {"type": "plain_text", "text": "Approval needed"}},
                               {"type": "actions", "block_id": "cavra_approval", "elements": []}]},
        "response_url": response_url,
        "trigger_id": "1.2.3",
        "actions": [{"action_id": action, "block_id": "cavra_approval", "type": "button",
                     "value": format!("{tenant}:{approval_id}"),
                     "action_ts": format!("{timestamp}.000200")}],
    });
    let body: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("payload", &payload.to_string())
        .finish();
    let ts = timestamp.to_string();
    let sig = crate::signature::hmac_sha256(
        secret.as_bytes(),
        &[format!("v0:{ts}:").as_bytes(), body.as_bytes()],
    );
    (
        vec![
            ("X-Slack-Request-Timestamp", ts),
            ("X-Slack-Signature", format!("v0={}", hex::encode(sig))),
            (
                "Content-Type",
                "application/x-www-form-urlencoded".to_string(),
            ),
        ],
        body,
    )
}
