//! The one error type of the crate, and the exit code each kind of failure maps to.

use std::path::PathBuf;

/// Exit code: success.
pub const EXIT_OK: i32 = 0;
/// Exit code: a runtime failure (I/O, a bug, the disk).
pub const EXIT_RUNTIME: i32 = 1;
/// Exit code: the command line or the definitions file is wrong.
pub const EXIT_USAGE: i32 = 2;
/// Exit code: the input data cannot be used.
pub const EXIT_DATA: i32 = 3;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A bad flag or argument value.
    #[error("{0}")]
    Usage(String),

    /// The definitions file is unreadable or invalid.
    #[error("invalid definitions file `{}`: {message}", file.display())]
    Config { file: PathBuf, message: String },

    /// An input file cannot be used at all (a file-level problem, docs/ingest.md).
    #[error("cannot read `{}`: {message}", file.display())]
    InputFile { file: PathBuf, message: String },

    /// The data is unusable for the requested computation.
    #[error("{0}")]
    Data(String),

    /// The warehouse lacks tables a computation needs (a report skips that metric).
    #[error(
        "`{needed_by}` needs the table(s) {} which the warehouse does not have; ingest {}",
        list(tables, |t| format!("`{t}`")),
        list(tables, |t| format!("{t}.csv"))
    )]
    MissingTables {
        needed_by: String,
        tables: Vec<&'static str>,
    },

    /// An I/O failure, with the path it concerned.
    #[error("{action} `{}`: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A failure inside polars (a query or a Parquet file).
    #[error("{context}: {source}")]
    Polars {
        context: String,
        #[source]
        source: polars::error::PolarsError,
    },

    /// Anything else that went wrong while running.
    #[error("{0}")]
    Runtime(String),
}

impl Error {
    /// The process exit code for this error (listed in the README).
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Usage(_) | Error::Config { .. } => EXIT_USAGE,
            Error::InputFile { .. } | Error::Data(_) | Error::MissingTables { .. } => EXIT_DATA,
            Error::Io { .. } | Error::Polars { .. } | Error::Runtime(_) => EXIT_RUNTIME,
        }
    }

    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            action,
            path: path.into(),
            source,
        }
    }

    pub fn input(file: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Error::InputFile {
            file: file.into(),
            message: message.into(),
        }
    }
}

/// `a, b, c`, each item as `show` writes it.
fn list(items: &[&'static str], show: impl Fn(&str) -> String) -> String {
    items.iter().map(|t| show(t)).collect::<Vec<_>>().join(", ")
}

/// Adds context to polars results, so a failing query says what it was doing.
pub trait PolarsContext<T> {
    fn context(self, context: impl FnOnce() -> String) -> Result<T>;
}

impl<T> PolarsContext<T> for polars::error::PolarsResult<T> {
    fn context(self, context: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|source| Error::Polars {
            context: context(),
            source,
        })
    }
}
