//! `funnel init`: writes the documented definitions file.

use super::{Context, InitArgs};
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
    std::fs::write(&path, TEMPLATE).map_err(|e| Error::io("cannot write", &path, e))?;
    ctx.progress.info(format!(
        "wrote `{}`: review it with both teams, replace the TODO(review) definitions, and commit it",
        path.display()
    ));
    Ok(())
}
