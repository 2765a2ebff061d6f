//! The `funnel` binary: parse the command line, run, map the error to an exit code.

use clap::Parser;

fn main() {
    // polars' streaming engine runs every query: on large tables it reads in batches,
    // which halves peak memory and is faster (bench/README.md has the figures).
    // Set before any thread starts; `POLARS_FORCE_STREAMING=0` runs the in-memory
    // engine instead (both give the same numbers; the tests run both).
    if std::env::var_os("POLARS_FORCE_STREAMING").is_none() {
        std::env::set_var("POLARS_FORCE_STREAMING", "1");
    }
    let cli = funnel::cli::Cli::parse();
    let code = match funnel::run(cli.into_invocation()) {
        Ok(()) => funnel::error::EXIT_OK,
        Err(funnel::error::Error::Io { source, .. })
            if source.kind() == std::io::ErrorKind::BrokenPipe =>
        {
            // `funnel sql … | head` closing the pipe early is not a failure.
            funnel::error::EXIT_OK
        }
        Err(err) => {
            eprintln!("error: {err}");
            err.exit_code()
        }
    };
    std::process::exit(code);
}
