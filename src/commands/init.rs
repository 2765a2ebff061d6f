//! `funnel init`: writes the documented definitions file, optionally with a CRM
//! preset's picklists and mapping written out for review.

use super::{Context, InitArgs};
use crate::config::presets;
use crate::config::TEMPLATE;
use crate::error::{Error, Result};

pub fn run(args: &InitArgs, ctx: &Context) -> Result<()> {
    std::fs::create_dir_all(&args.dir).map_err(|e| Error::io("cannot create", &args.dir, e))?;
    let path = args.dir.join("funnel.toml");
    if path.exists() && !args.force {
        return Err(Error::Usage(format!(
            "`{}` already exists; edit it, or pass --force to overwrite it with the defaults",
            path.display()
        )));
    }
    let text = match args.preset.as_deref().and_then(presets::text) {
        Some(preset) => with_preset(preset),
        None => TEMPLATE.to_string(),
    };
    std::fs::write(&path, text).map_err(|e| Error::io("cannot write", &path, e))?;
    ctx.progress.info(format!(
        "wrote `{}`: review it with both teams, replace the TODO(review) definitions, and commit it",
        path.display()
    ));
    Ok(())
}

/// The template with the preset's picklist sections in place of the defaults (in the
/// template's order), and the preset's mapping at the end, comments of both kept.
pub fn with_preset(preset: &str) -> String {
    let head = TEMPLATE
        .split_once(MAPPING_COMMENT)
        .map_or(TEMPLATE, |(head, _)| head);
    let mut doc: toml_edit::DocumentMut = head.parse().expect("template is valid TOML");
    let preset_doc: toml_edit::DocumentMut = preset.parse().expect("preset is valid TOML");
    for (key, item) in preset_doc.iter() {
        if key == "mapping" {
            continue;
        }
        let position = doc
            .get(key)
            .and_then(|i| i.as_table())
            .and_then(|t| t.position());
        let mut item = item.clone();
        if let (Some(table), Some(p)) = (item.as_table_mut(), position) {
            table.set_position(p);
        }
        doc[key] = item;
    }
    let mapping = preset.find("\n[mapping]").map_or("", |i| &preset[i..]);
    format!(
        "{}\n# How exports are read: the preset's mapping (see docs/mapping.md).{mapping}",
        doc.to_string().trim_end()
    )
}

/// Where the template's commented `[mapping]` example starts.
const MAPPING_COMMENT: &str = "\n# Exports that are not in the native format";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn written_preset_equals_the_preset_in_force() {
        for name in ["salesforce", "hubspot"] {
            let written = Config::parse(&with_preset(presets::text(name).unwrap())).unwrap();
            let in_force = Config::parse_with_preset("", Some(name)).unwrap();
            assert_eq!(written, in_force, "{name}");
        }
    }

    /// The file is read by both VPs: every term of art is explained in a comment
    /// before a value uses it, and the choices with consequences say them.
    #[test]
    fn the_template_explains_each_term_before_it_is_used() {
        let terms = [
            "mql",
            "sal",
            "sql",
            "recycled",
            "disqualified",
            "backfill",
            "strict",
            "cohort",
            "immature",
            "SLA",
            "touch",
            "first_touch",
            "last_touch",
            "linear",
            "u_shaped",
            "w_shaped",
            "time_decay",
            "half_life_days",
            "coverage",
            "reverse funnel",
            "base",
        ];
        for term in terms {
            let first = TEMPLATE
                .lines()
                .find(|l| l.to_lowercase().contains(&term.to_lowercase()))
                .unwrap_or_else(|| panic!("`{term}` is not in the template"));
            assert!(
                first.trim_start().starts_with('#'),
                "`{term}` is used before it is explained: {first}"
            );
        }
        for consequence in [
            "These are calendar hours: nights, weekends and holidays count.",
            "a rep's calls and meetings\n# never earn any",
            "This decides what \"marketing-sourced\n# revenue\" means",
            "a deal in a currency without a rate is left out of every sum",
            "a renamed picklist value makes leads vanish",
        ] {
            assert!(
                TEMPLATE.contains(consequence),
                "the template no longer says: {consequence}"
            );
        }
    }
}
