//! Which of a tenant's connectors an event goes to. Only the event's own tenant's connectors
//! are ever considered.

use cavra_tenant_store::outbox::OutboxEvent;
use serde_json::Value;

use crate::config::{ConnectorConfig, ConnectorsConfig, Filter};
use crate::event::EventType;

/// A connector's routing, compiled once.
pub struct Route {
    name: String,
    events: Vec<String>,
    filter: Filter,
    repositories: Option<globset::GlobSet>,
}

impl Route {
    /// Compiles `c`'s routing (its globs were checked with the configuration).
    pub fn new(c: &ConnectorConfig) -> Route {
        let repositories = if c.filter.repository.is_empty() {
            None
        } else {
            let mut b = globset::GlobSetBuilder::new();
            for g in &c.filter.repository {
                if let Ok(g) = globset::Glob::new(g) {
                    b.add(g);
                }
            }
            // A set that cannot be built matches nothing (checked configurations build).
            Some(b.build().unwrap_or_else(|_| globset::GlobSet::empty()))
        };
        Route {
            name: c.name.clone(),
            events: c.events.clone(),
            filter: c.filter.clone(),
            repositories,
        }
    }

    /// Whether the event goes to this connector by its routes (not counting
    /// `only_destination`, which [`destinations`] handles).
    pub fn accepts(&self, e: &OutboxEvent) -> bool {
        // Test events are addressed to one connector; routes never pick them up.
        if e.kind == "connector.test" {
            return false;
        }
        if !self.events.is_empty() && !self.events.iter().any(|p| EventType::matches(p, &e.kind)) {
            return false;
        }
        let field = |k: &str| e.payload.get(k).and_then(Value::as_str);
        let f = &self.filter;
        if !f.decision.is_empty()
            && !field("decision").is_some_and(|d| f.decision.iter().any(|x| x.as_str() == d))
        {
            return false;
        }
        if !f.severity.is_empty()
            && !field("severity").is_some_and(|s| f.severity.iter().any(|x| x.as_str() == s))
        {
            return false;
        }
        if !f.pack.is_empty() && !field("pack").is_some_and(|p| f.pack.iter().any(|x| x == p)) {
            return false;
        }
        if let Some(set) = &self.repositories
            && !field("repository").is_some_and(|r| set.is_match(r))
        {
            return false;
        }
        true
    }
}

/// Every tenant's routes.
pub struct Router {
    routes: Vec<(String, Route)>,
}

impl Router {
    /// Compiles the routes of every connector.
    pub fn new(config: &ConnectorsConfig) -> Router {
        Router {
            routes: config
                .0
                .iter()
                .map(|c| (c.tenant.clone(), Route::new(c)))
                .collect(),
        }
    }

    /// The destinations of `e`: the connector it is addressed to, when it is one of its
    /// tenant's, else every connector of its tenant whose routes accept it, less the one it
    /// must not go to (a connector's own failure).
    pub fn destinations(&self, e: &OutboxEvent) -> Vec<String> {
        let of_tenant = self.routes.iter().filter(|(t, _)| *t == e.tenant);
        if let Some(only) = &e.only_destination {
            return of_tenant
                .filter(|(_, r)| &r.name == only)
                .map(|(_, r)| r.name.clone())
                .collect();
        }
        of_tenant
            .filter(|(_, r)| e.not_destination.as_deref() != Some(r.name.as_str()))
            .filter(|(_, r)| r.accepts(e))
            .map(|(_, r)| r.name.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config() -> ConnectorsConfig {
        ConnectorsConfig::from_yaml(
            "
- name: siem
  tenant: acme
  events: [\"decision.*\"]
  filter: {severity: [high, critical], repository: [\"acme/*\"]}
  ocsf_https: {url: \"http://127.0.0.1:9/\"}
- name: all
  tenant: acme
  ocsf_https: {url: \"http://127.0.0.1:9/\"}
- name: other
  tenant: globex
  ocsf_https: {url: \"http://127.0.0.1:9/\"}
",
        )
        .unwrap()
    }

    fn event(tenant: &str, kind: &str, payload: Value) -> OutboxEvent {
        OutboxEvent {
            tenant: tenant.into(),
            id: "evt_1".into(),
            kind: kind.into(),
            ref_id: None,
            log_index: None,
            only_destination: None,
            not_destination: None,
            created_at: cavra_tenant_store::Timestamp::EPOCH,
            payload,
        }
    }

    #[test]
    fn events_go_only_to_their_tenants_matching_connectors() {
        let r = Router::new(&config());
        let high = json!({"severity": "high", "repository": "acme/app"});
        assert_eq!(
            r.destinations(&event("acme", "decision.block", high.clone())),
            vec!["siem", "all"]
        );
        assert_eq!(
            r.destinations(&event("globex", "decision.block", high.clone())),
            vec!["other"]
        );
        let low = json!({"severity": "low", "repository": "acme/app"});
        assert_eq!(
            r.destinations(&event("acme", "decision.warn", low)),
            vec!["all"]
        );
        let elsewhere = json!({"severity": "high", "repository": "initech/app"});
        assert_eq!(
            r.destinations(&event("acme", "decision.block", elsewhere)),
            vec!["all"]
        );
        // An approval carries no severity: the filtered connector does not get it.
        assert_eq!(
            r.destinations(&event("acme", "approval.approved", json!({}))),
            vec!["all"]
        );
        assert!(
            r.destinations(&event("initech", "decision.block", high))
                .is_empty()
        );
    }

    #[test]
    fn addressed_and_excluded_destinations() {
        let r = Router::new(&config());
        let mut test = event("acme", "connector.test", json!({}));
        assert!(r.destinations(&test).is_empty(), "never routed by filters");
        test.only_destination = Some("siem".into());
        assert_eq!(r.destinations(&test), vec!["siem"]);
        test.tenant = "globex".into();
        assert!(
            r.destinations(&test).is_empty(),
            "not another tenant's connector"
        );
        let mut failure = event("acme", "connector.failure", json!({}));
        failure.not_destination = Some("all".into());
        assert!(r.destinations(&failure).is_empty());
    }
}
