//! The `funnel` binary: parse the command line, run, map the error to an exit code.

use clap::Parser;

fn main() {
    limit_malloc_arenas();
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

/// glibc's malloc gives threads their own arenas and seldom hands freed memory back,
/// so with polars' thread pool the peak memory of a run is many times what it uses at
/// once. Two arenas (unless `MALLOC_ARENA_MAX` says otherwise): at 3 M leads the
/// ingest's peak fell from 3.9 to 2.3 GiB, and it ran faster (bench/README.md).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn limit_malloc_arenas() {
    use std::os::raw::c_int;
    extern "C" {
        fn mallopt(param: c_int, value: c_int) -> c_int;
    }
    const M_ARENA_MAX: c_int = -8;
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: mallopt only changes a malloc tuning parameter; called before any
        // other thread exists.
        unsafe {
            mallopt(M_ARENA_MAX, 2);
        }
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn limit_malloc_arenas() {}
