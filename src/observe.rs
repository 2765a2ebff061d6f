//! How the layers below the face (ingest, model, metrics, report) tell people what
//! they are doing without printing anything themselves: messages and progress go to
//! an [`Observer`] that the face hands down, timings to a sink the face installs once
//! ([`install_timer`]). `progress.rs` is the face's observer; tests and library
//! callers use [`Silent`].

use std::sync::OnceLock;
use std::time::Instant;

/// What a meter counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MeterKind {
    /// Bytes read, of a known total.
    Bytes,
    /// Items (rows, metrics, charts), of a known total.
    Count,
    /// A step of unknown length.
    Step,
}

/// Receives what a long piece of work reports.
pub trait Observer: Sync {
    /// An informational line.
    fn info(&self, message: &str);
    /// Something was ignored or looks wrong, but the work goes on.
    fn warn(&self, message: &str);
    /// A meter for `total` units of `kind` (ignored for [`MeterKind::Step`]).
    fn meter(&self, kind: MeterKind, total: u64, label: &str) -> Meter;
}

/// An observer that shows nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl Observer for Silent {
    fn info(&self, _: &str) {}
    fn warn(&self, _: &str) {}
    fn meter(&self, _: MeterKind, _: u64, _: &str) -> Meter {
        Meter::hidden()
    }
}

/// What draws a meter (a progress bar, a spinner).
pub trait Gauge: Send + Sync {
    fn inc(&self, n: u64);
    fn set_message(&self, message: &str);
    fn finish(&self);
}

/// A meter that may be hidden; finished when dropped.
pub struct Meter(Option<Box<dyn Gauge>>);

impl Meter {
    pub fn hidden() -> Meter {
        Meter(None)
    }

    pub fn shown(gauge: Box<dyn Gauge>) -> Meter {
        Meter(Some(gauge))
    }

    pub fn inc(&self, n: u64) {
        if let Some(g) = &self.0 {
            g.inc(n);
        }
    }

    pub fn set_message(&self, message: &str) {
        if let Some(g) = &self.0 {
            g.set_message(message);
        }
    }

    pub fn finish(&self) {
        if let Some(g) = &self.0 {
            g.finish();
        }
    }
}

impl Drop for Meter {
    fn drop(&mut self) {
        self.finish();
    }
}

/// One timed piece of work: its label, wall seconds and, where the system tells, the
/// CPU seconds the process used meanwhile.
#[derive(Debug, Clone)]
pub struct Timing<'a> {
    pub label: &'a str,
    pub seconds: f64,
    pub cpu_seconds: Option<f64>,
}

static TIMER: OnceLock<fn(&Timing<'_>)> = OnceLock::new();

/// Sends every later [`timed`] and [`timing`] to `sink`. The first call wins; without
/// one, timing costs nothing.
pub fn install_timer(sink: fn(&Timing<'_>)) {
    let _ = TIMER.set(sink);
}

/// Runs `f` and reports how long it took to the installed timer.
pub fn timed<T>(label: &str, f: impl FnOnce() -> T) -> T {
    let Some(sink) = TIMER.get() else {
        return f();
    };
    let (start, cpu) = (Instant::now(), cpu_seconds());
    let out = f();
    sink(&Timing {
        label,
        seconds: start.elapsed().as_secs_f64(),
        cpu_seconds: cpu.zip(cpu_seconds()).map(|(a, b)| b - a),
    });
    out
}

/// Reports the time since `start` to the installed timer (wall time only).
pub fn timing(label: &str, start: Instant) {
    if let Some(sink) = TIMER.get() {
        sink(&Timing {
            label,
            seconds: start.elapsed().as_secs_f64(),
            cpu_seconds: None,
        });
    }
}

/// CPU time this process has used, user and system (Linux: `/proc/self/stat`).
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (in parentheses): utime and stime are the 12th
    // and 13th, in clock ticks (100 per second on Linux).
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}
