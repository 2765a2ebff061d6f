//! Sign-off of the definitions: the status the report shows, and `funnel definitions
//! approve`, which records an approval in `funnel.toml` without touching its comments
//! or layout.

use std::path::Path;

use crate::config::{Config, PLACEHOLDER_MARK};
use crate::error::{Error, Result};

/// The teams whose approval the report asks for.
pub const REQUIRED_TEAMS: [&str; 2] = ["marketing", "sales"];

/// Where the definitions stand.
#[derive(Debug, Clone, PartialEq)]
pub struct Status {
    /// "Definitions v3 — approved by … (Marketing) and … (Sales) on …", or what is
    /// missing.
    pub headline: String,
    /// Problems a reader must see: missing approvals, changes after approval,
    /// placeholder prose.
    pub warnings: Vec<String>,
}

fn title(team: &str) -> String {
    let mut c = team.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

/// The approval status of `config` (whose current hash is `hash`).
pub fn status(config: &Config, hash: &str) -> Status {
    let mut warnings = Vec::new();
    let version = config.approval.as_ref().and_then(|a| a.version);
    let teams = config
        .approval
        .as_ref()
        .map(|a| a.teams.clone())
        .unwrap_or_default();
    let mut approved = Vec::new();
    for team in REQUIRED_TEAMS {
        match teams.get(team) {
            None => warnings.push(format!("{} has not approved these definitions.", title(team))),
            Some(a) => match &a.rules_hash {
                Some(h) if h != hash => warnings.push(format!(
                    "The rules changed after {} approved them on {} (by {}): ask for a new approval.",
                    title(team),
                    a.on,
                    a.by
                )),
                _ => approved.push(format!("{} ({}) on {}", a.by, title(team), a.on)),
            },
        }
    }
    for (team, a) in &teams {
        if !REQUIRED_TEAMS.contains(&team.as_str())
            && a.rules_hash.as_deref().is_none_or(|h| h == hash)
        {
            approved.push(format!("{} ({}) on {}", a.by, title(team), a.on));
        }
    }
    let placeholders = crate::contract::glossary::entries(config)
        .iter()
        .filter(|e| e.prose.trim().is_empty() || e.prose.starts_with(PLACEHOLDER_MARK))
        .map(|e| e.term)
        .collect::<Vec<_>>();
    if !placeholders.is_empty() {
        warnings.push(format!(
            "Placeholder or empty definitions nobody has written: {}.",
            placeholders.join(", ")
        ));
    }
    let v = version.map(|v| format!(" v{v}")).unwrap_or_default();
    let headline = if approved.is_empty() {
        format!("Definitions{v} — not approved")
    } else {
        format!("Definitions{v} — approved by {}", approved.join(" and "))
    };
    Status { headline, warnings }
}

/// Records `team`'s approval by `by` on `on` in the definitions file at `path`,
/// editing it in place: comments and layout are kept. The version is bumped when the
/// rules changed since the last approval.
/// The teams that sign the definitions.
pub const TEAMS: [&str; 2] = ["marketing", "sales"];

/// An approval is refused for a team other than marketing or sales, and while
/// `[definitions]` still holds `funnel init`'s placeholders or an empty definition:
/// a signature on text nobody wrote means nothing.
fn refuse_unready(config: &Config, team: &str) -> Result<()> {
    if !TEAMS.contains(&team) {
        return Err(Error::Usage(format!(
            "--team {team}: the definitions are signed by the teams {}",
            TEAMS.map(|t| format!("`{t}`")).join(" and ")
        )));
    }
    let unwritten: Vec<String> = crate::contract::glossary::entries(config)
        .iter()
        .filter(|e| e.prose.trim().is_empty() || e.prose.starts_with(PLACEHOLDER_MARK))
        .map(|e| format!("`{}`", e.term.to_lowercase()))
        .collect();
    if !unwritten.is_empty() {
        return Err(Error::Usage(format!(
            "`[definitions]` {} still hold(s) funnel init's placeholder or nothing: write what each means with both teams, then approve",
            unwritten.join(", ")
        )));
    }
    Ok(())
}

pub fn approve(path: &Path, team: &str, by: &str, on: chrono::NaiveDate) -> Result<String> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::Config {
        file: path.to_path_buf(),
        message: format!("{e}; run `funnel init` first"),
    })?;
    let config = Config::parse(&text).map_err(|message| Error::Config {
        file: path.to_path_buf(),
        message,
    })?;
    refuse_unready(&config, team)?;
    let hash = config.definitions_hash();
    let mut doc: toml_edit::DocumentMut =
        text.parse()
            .map_err(|e: toml_edit::TomlError| Error::Config {
                file: path.to_path_buf(),
                message: e.to_string(),
            })?;
    let previous = config.approval.clone().unwrap_or_default();
    let changed = previous
        .teams
        .values()
        .any(|a| a.rules_hash.as_deref() != Some(hash.as_str()));
    let version = match previous.version {
        None => 1,
        Some(v) if changed => v + 1,
        Some(v) => v,
    };
    if !doc.contains_key("approval") {
        let mut table = toml_edit::Table::new();
        table.decor_mut().set_prefix(
            "\n# Who signed these definitions off (written by `funnel definitions approve`).\n",
        );
        doc.insert("approval", toml_edit::Item::Table(table));
    }
    let approval = doc["approval"]
        .as_table_mut()
        .ok_or_else(|| Error::Config {
            file: path.to_path_buf(),
            message: "key `approval` must be a table".into(),
        })?;
    approval["version"] = toml_edit::value(i64::from(version));
    let mut entry = toml_edit::InlineTable::new();
    entry.insert("by", by.into());
    let date: toml_edit::Datetime = on.to_string().parse().expect("a date is a TOML datetime");
    entry.insert("on", toml_edit::Value::from(date));
    entry.insert("rules_hash", hash.as_str().into());
    approval[team] = toml_edit::Item::Value(toml_edit::Value::InlineTable(entry));
    let out = doc.to_string();
    // The edited file must still be a valid definitions file.
    Config::parse(&out).map_err(|message| Error::Config {
        file: path.to_path_buf(),
        message,
    })?;
    std::fs::write(path, &out).map_err(|e| Error::io("cannot write", path, e))?;
    Ok(format!(
        "{} approved definitions v{version} ({})",
        title(team),
        &hash[..12]
    ))
}
