//! The mappings shipped with the tool, each with default definitions for its CRM's
//! standard picklists (docs/ingest.md). They are ordinary `funnel.toml` fragments.

pub const SALESFORCE: &str = include_str!("../presets/salesforce.toml");
pub const HUBSPOT: &str = include_str!("../presets/hubspot.toml");

/// The preset's text, for `native` none.
pub fn text(name: &str) -> Option<&'static str> {
    match name {
        "salesforce" => Some(SALESFORCE),
        "hubspot" => Some(HUBSPOT),
        _ => None,
    }
}

/// The preset as a TOML table.
pub fn table(name: &str) -> Option<toml::Table> {
    text(name).map(|t| toml::from_str(t).expect("presets are valid TOML (tested)"))
}

/// Lays `user` over `base`: tables merge key by key, other values replace, except the
/// mapping's `source` and `alias` lists, which add the user's entries after the base's.
pub fn overlay(base: &mut toml::Table, user: &toml::Table, path: &str) {
    for (key, value) in user {
        let here = if path.is_empty() {
            key.clone()
        } else {
            format!("{path}.{key}")
        };
        match (base.get_mut(key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(u)) => overlay(b, u, &here),
            (Some(toml::Value::Array(b)), toml::Value::Array(u))
                if here == "mapping.source" || here == "mapping.alias" =>
            {
                b.extend(u.iter().cloned())
            }
            _ => {
                base.insert(key.clone(), value.clone());
            }
        }
    }
}
