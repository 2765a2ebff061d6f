//! The `funnel` binary: parse the command line, run, map the error to an exit code.

use clap::Parser;

fn main() {
    funnel::memory::limit_malloc_arenas();
    funnel::interrupt::install();
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
            #[allow(clippy::print_stderr)] // the error, as people read it
            {
                eprintln!("error: {err}");
            }
            err.exit_code()
        }
    };
    std::process::exit(code);
}
