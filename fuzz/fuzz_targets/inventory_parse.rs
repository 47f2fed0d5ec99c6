//! Fuzzes the inventory source readers (JSON, CSV, osquery results): any bytes either parse
//! within the limits given or are refused with an error, never a panic; every item parsed has
//! an id and a name, and ids are unique.
#![no_main]

use libfuzzer_sys::fuzz_target;

use cavra_tenant_store::inventory_source::{SourceFormat, SourceLimits, parse_source};

fuzz_target!(|data: &[u8]| {
    let Some((&which, bytes)) = data.split_first() else {
        return;
    };
    let format = [SourceFormat::Json, SourceFormat::Csv, SourceFormat::Osquery][usize::from(which % 3)];
    let limits = SourceLimits {
        max_bytes: 64 << 10,
        max_items: 64,
        max_field_bytes: 256,
    };
    if let Ok(parsed) = parse_source(bytes, format, "fuzz", &limits) {
        assert!(parsed.items.len() <= limits.max_items);
        let mut ids = std::collections::HashSet::new();
        for item in &parsed.items {
            assert!(!item.id.is_empty() && !item.name.is_empty());
            assert!(ids.insert(item.id.clone()), "{}", item.id);
        }
    }
});
