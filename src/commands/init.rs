//! `funnel init`: writes the documented definitions file, optionally with a CRM
//! preset's picklists and mapping written out for review.

use super::{Context, InitArgs};
use crate::config::TEMPLATE;
use crate::error::{Error, Result};
use crate::ingest::mapping::presets;

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

/// The template with the preset's sections (picklists, sources, mapping) in place of
/// the defaults, keeping the comments of both.
pub fn with_preset(preset: &str) -> String {
    let mut doc: toml_edit::DocumentMut = TEMPLATE.parse().expect("template is valid TOML");
    let preset: toml_edit::DocumentMut = preset.parse().expect("preset is valid TOML");
    for (key, item) in preset.iter() {
        doc[key] = item.clone();
    }
    doc.to_string()
}

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
}
