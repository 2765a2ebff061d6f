//! `funnel definitions [check|diff|approve]`: the glossary, its checks, the impact of
//! a change, and sign-off.

use std::path::{Path, PathBuf};

use super::query::{prepare, QueryFlags};
use super::{Context, DefinitionsAction, DiffFormat};
use crate::config::{Config, ConfigSource};
use crate::contract::{approval, check, diff};
use crate::error::{Error, Result};
use crate::metrics::registry::Unit;
use crate::report::{self, Inputs};

pub fn run(action: &Option<DefinitionsAction>, ctx: &Context) -> Result<()> {
    match action {
        None => {
            let (config, _) = ctx.config()?;
            crate::output::print(&crate::contract::glossary::markdown(
                &config,
                &config.definitions_hash(),
            ))
        }
        Some(DefinitionsAction::Check { query }) => run_check(query, ctx),
        Some(DefinitionsAction::Diff {
            old,
            new,
            format,
            query,
        }) => run_diff(old, new.as_deref(), *format, query, ctx),
        Some(DefinitionsAction::Approve { team, by, on }) => {
            let path = ctx
                .global
                .config
                .clone()
                .unwrap_or_else(|| PathBuf::from("funnel.toml"));
            let on = on.unwrap_or_else(|| chrono::Local::now().date_naive());
            let message = approval::approve(&path, &team.to_lowercase(), by, on)?;
            ctx.progress
                .info(format!("{message}: recorded in `{}`", path.display()));
            Ok(())
        }
    }
}

fn run_check(query: &QueryFlags, ctx: &Context) -> Result<()> {
    let prep = prepare(ctx, query)?;
    let findings = check::check(&prep.tables, &prep.params)?;
    let status = approval::status(&prep.config, &prep.config.definitions_hash());
    let mut out = format!("{} ({})\n", status.headline, prep.source);
    for w in &status.warnings {
        out.push_str(&format!("{:<8} {:<28} {w}\n", "warning", "approval"));
    }
    if findings.is_empty() {
        out.push_str("no findings: the definitions cover the data\n");
    }
    for f in &findings {
        out.push_str(&format!(
            "{:<8} {:<28} {}\n",
            f.severity.name(),
            f.check,
            f.detail
        ));
    }
    crate::output::print(&crate::text::terminal_safe(&out))?;
    let errors = findings
        .iter()
        .filter(|f| f.severity == check::Severity::Error)
        .count();
    if errors > 0 {
        return Err(Error::Data(format!(
            "{errors} definitions error(s): fix them in `{}`",
            prep.source
        )));
    }
    Ok(())
}

/// Reads a definitions file from a path, or `REV:path` from git.
fn load(spec: &str) -> Result<(Config, String)> {
    let path = Path::new(spec);
    let text = if path.exists() {
        std::fs::read_to_string(path).map_err(|e| Error::Config {
            file: path.to_path_buf(),
            message: e.to_string(),
        })?
    } else if spec.contains(':') {
        let out = std::process::Command::new("git")
            .args(["show", spec])
            .output()
            .map_err(|e| Error::Usage(format!("cannot run git to read `{spec}`: {e}")))?;
        if !out.status.success() {
            return Err(Error::Usage(format!(
                "cannot read `{spec}` from git: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        String::from_utf8_lossy(&out.stdout).to_string()
    } else {
        return Err(Error::Usage(format!(
            "`{spec}`: no such file (or git revision `REV:path`)"
        )));
    };
    let config = Config::parse(&text).map_err(|message| Error::Config {
        file: PathBuf::from(spec),
        message,
    })?;
    Ok((config, spec.to_string()))
}

fn run_diff(
    old: &str,
    new: Option<&str>,
    format: DiffFormat,
    query: &QueryFlags,
    ctx: &Context,
) -> Result<()> {
    let (old_config, old_name) = load(old)?;
    let (new_config, new_name) = match new {
        Some(n) => load(n)?,
        None => {
            let (c, s) = ctx.config()?;
            (c, s.to_string())
        }
    };
    let changes = diff::changes(&old_config, &new_config);
    // The same warehouse and flags under both definitions.
    let prep = prepare(ctx, query)?;
    let headline_under = |config: &Config| -> Result<Vec<report::HeadlineValue>> {
        let params = crate::metrics::params::Params {
            config: config.clone(),
            tz: config.calendar.tz(),
            ..prep.params.clone()
        };
        let source = ConfigSource::BuiltIn;
        // The derived frames of the warehouse hold for one set of definitions only.
        let mut tables = prep.tables.clone();
        crate::metrics::derived::attach(
            &mut tables,
            &prep.opened.warehouse,
            prep.manifest.as_ref(),
            &config.frames_hash(),
        )?;
        report::headline_in_data(&Inputs {
            tables: &tables,
            params: &params,
            config,
            source: &source,
            manifest: prep.manifest.as_ref(),
            is_sample: prep.opened.is_sample,
        })
    };
    let before = headline_under(&old_config)?;
    let after = headline_under(&new_config)?;
    let rows = compared(&before, &after, &new_config.currency.base);
    let scope = format!(
        "on the same warehouse{}, range {} to {}, as of {}",
        if prep.opened.is_sample {
            " (bundled sample)"
        } else {
            ""
        },
        prep.params.from,
        prep.params.to,
        crate::time::format_timestamp(prep.params.as_of)
    );
    let names = (old_name.as_str(), new_name.as_str());
    let text = match format {
        DiffFormat::Table => diff_table(names, &changes, &scope, &rows),
        DiffFormat::Markdown => diff_markdown(names, &changes, &scope, &rows),
        DiffFormat::Html => {
            crate::report::html::definitions_change(&old_name, &new_name, &changes, &scope, &rows)
        }
    };
    crate::output::print(&text)
}

/// Each headline number before and after: label, before, after, change (points for
/// a rate, the difference otherwise, `=` when equal).
fn compared(
    before: &[report::HeadlineValue],
    after: &[report::HeadlineValue],
    base: &str,
) -> Vec<[String; 4]> {
    before
        .iter()
        .zip(after)
        .map(|((_, label, a, unit), (_, _, b, _))| {
            let show = |v: &Option<f64>| {
                v.map(|x| report::format_value(x, *unit, base))
                    .unwrap_or_else(|| "—".into())
            };
            let change = match (a, b) {
                (Some(x), Some(y)) if (x - y).abs() < 1e-12 => "=".to_string(),
                (Some(x), Some(y)) => match unit {
                    Unit::Rate => format!("{:+.1} pts", (y - x) * 100.0),
                    Unit::Count => format!("{:+}", (y - x).round() as i64),
                    _ => format!("{:+.1}", y - x),
                },
                _ => "—".into(),
            };
            [label.to_string(), show(a), show(b), change]
        })
        .collect()
}

/// The diff as plain text: the changed rules, then the headline numbers.
fn diff_table(
    (old_name, new_name): (&str, &str),
    changes: &[String],
    scope: &str,
    rows: &[[String; 4]],
) -> String {
    let mut t = format!("Definitions {old_name} → {new_name}\n\nChanged rules:\n");
    if changes.is_empty() {
        t.push_str("  (none)\n");
    }
    for c in changes {
        t.push_str(&format!("  - {c}\n"));
    }
    t.push_str(&format!("\nHeadline numbers {scope}:\n"));
    let w = rows
        .iter()
        .map(|r| r[0].chars().count())
        .max()
        .unwrap_or(10);
    t.push_str(&format!(
        "  {:<w$}  {:>12}  {:>12}  {:>10}\n",
        "", "before", "after", "change"
    ));
    for r in rows {
        t.push_str(&format!(
            "  {:<w$}  {:>12}  {:>12}  {:>10}\n",
            r[0], r[1], r[2], r[3]
        ));
    }
    t
}

/// The diff as Markdown, for a pull request or a wiki page.
fn diff_markdown(
    (old_name, new_name): (&str, &str),
    changes: &[String],
    scope: &str,
    rows: &[[String; 4]],
) -> String {
    let mut t =
        format!("## Definitions change: `{old_name}` → `{new_name}`\n\n### Changed rules\n\n");
    if changes.is_empty() {
        t.push_str("- (none)\n");
    }
    for c in changes {
        t.push_str(&format!("- {c}\n"));
    }
    t.push_str(&format!("\n### Headline numbers {scope}\n\n| metric | before | after | change |\n|---|---:|---:|---:|\n"));
    for r in rows {
        t.push_str(&format!("| {} | {} | {} | {} |\n", r[0], r[1], r[2], r[3]));
    }
    t
}
