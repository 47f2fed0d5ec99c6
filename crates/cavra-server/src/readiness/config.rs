//! The gate's settings in the service's configuration (`readiness:`).

use serde::{Deserialize, Serialize};

/// `readiness:` in the service's configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReadinessConfig {
    /// The share (0–1) of registered agents that must be seen deciding; under it,
    /// `hook_coverage.floor` is a blocker.
    pub hook_coverage_floor: f64,
    /// How many days a passing tenant isolation or runtime validation counts for; without one
    /// that recent, `tenants.isolation_validation` / `runtime.validation` is a blocker.
    pub validation_max_age_days: u32,
    /// Whether `tenants.isolation_validation` and `runtime.validation` run (default true;
    /// false only for a deployment that is not headed for production, such as a test bed).
    pub require_validations: bool,
    /// The distributed trust package (`cavra trust package`) the trust root in use is compared
    /// with (`trust_root.drift`); none: not compared.
    pub trust_package: Option<std::path::PathBuf>,
}

impl Default for ReadinessConfig {
    fn default() -> Self {
        ReadinessConfig {
            hook_coverage_floor: 0.9,
            validation_max_age_days: 30,
            require_validations: true,
            trust_package: None,
        }
    }
}

impl ReadinessConfig {
    /// Checks the settings: a floor outside 0–1 (or not a number) would make the validator
    /// either always or never find a blocker, so it is refused when the configuration is read.
    pub fn check(&self) -> Result<(), String> {
        let f = self.hook_coverage_floor;
        if !f.is_finite() || !(0.0..=1.0).contains(&f) {
            return Err(format!(
                "readiness.hook_coverage_floor must be a share between 0 and 1 (e.g. 0.9), not {f}"
            ));
        }
        if self.validation_max_age_days == 0 || self.validation_max_age_days > 3650 {
            return Err(format!(
                "readiness.validation_max_age_days must be between 1 and 3650, not {}",
                self.validation_max_age_days
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::ServerConfig;

    #[test]
    fn the_floor_defaults_to_0_9_and_must_be_within_0_and_1() {
        let c = ServerConfig::from_yaml("listen: 127.0.0.1:7700\n", "t.yaml").expect("reads");
        assert_eq!(c.readiness.hook_coverage_floor, 0.9);
        assert_eq!(c.readiness.validation_max_age_days, 30);
        let e = ServerConfig::from_yaml("readiness:\n  validation_max_age_days: 0\n", "t.yaml")
            .expect_err("zero days");
        assert!(e.contains("validation_max_age_days"), "{e}");
        let c = ServerConfig::from_yaml("readiness:\n  hook_coverage_floor: 0.5\n", "t.yaml")
            .expect("reads");
        assert_eq!(c.readiness.hook_coverage_floor, 0.5);
        for bad in ["1.5", "-0.1", ".nan"] {
            let text = format!("readiness:\n  hook_coverage_floor: {bad}\n");
            let e = ServerConfig::from_yaml(&text, "t.yaml").expect_err(bad);
            assert!(e.contains("readiness.hook_coverage_floor"), "{e}");
        }
        let e = ServerConfig::from_yaml("readiness:\n  floor: 0.5\n", "t.yaml").expect_err("key");
        assert!(e.contains("floor"), "{e}");
    }
}
