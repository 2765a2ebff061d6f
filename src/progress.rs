//! Everything people read on stderr: messages, warnings, progress bars.
//!
//! stdout is for data only. Bars are drawn only when stderr is a terminal (or when
//! forced with `--progress on`), and never with `--quiet`.
#![allow(clippy::print_stderr)] // the one place (with main.rs) that prints for people

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::observe::{Gauge, Meter, MeterKind, Observer, Timing};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProgressMode {
    #[default]
    Auto,
    On,
    Off,
}

#[derive(Debug, Clone)]
pub struct Progress {
    quiet: bool,
    bars: bool,
}

impl Progress {
    pub fn new(quiet: bool, mode: ProgressMode) -> Progress {
        let bars = !quiet
            && match mode {
                ProgressMode::On => true,
                ProgressMode::Off => false,
                ProgressMode::Auto => std::io::stderr().is_terminal(),
            };
        Progress { quiet, bars }
    }

    /// A silent reporter, for library callers and tests.
    pub fn silent() -> Progress {
        Progress {
            quiet: true,
            bars: false,
        }
    }

    /// An informational line (suppressed by `--quiet`).
    pub fn info(&self, message: impl AsRef<str>) {
        if !self.quiet {
            eprintln!("{}", message.as_ref());
        }
    }

    /// A warning: something was ignored or looks wrong, but the run goes on.
    pub fn warn(&self, message: impl AsRef<str>) {
        if !self.quiet {
            eprintln!("warning: {}", message.as_ref());
        }
    }

    /// A byte-count bar for reading `total` bytes; hidden unless bars are on.
    pub fn bytes(&self, total: u64, label: &str) -> Meter {
        if !self.bars {
            return Meter::hidden();
        }
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template(
                "{msg:>12} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        bar.set_message(label.to_string());
        Meter::shown(Box::new(Bar(bar)))
    }

    /// A bar counting `total` items (leads, rows).
    pub fn count(&self, total: u64, label: &str) -> Meter {
        if !self.bars {
            return Meter::hidden();
        }
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{msg:>12} [{bar:30}] {human_pos}/{human_len} eta {eta}")
                .expect("valid template")
                .progress_chars("=> "),
        );
        bar.set_message(label.to_string());
        Meter::shown(Box::new(Bar(bar)))
    }

    /// A spinner for a step of unknown length.
    pub fn step(&self, label: &str) -> Meter {
        if !self.bars {
            return Meter::hidden();
        }
        let bar = ProgressBar::new_spinner();
        bar.set_draw_target(ProgressDrawTarget::stderr());
        bar.set_message(label.to_string());
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        Meter::shown(Box::new(Bar(bar)))
    }
}

impl Observer for Progress {
    fn info(&self, message: &str) {
        Progress::info(self, message);
    }

    fn warn(&self, message: &str) {
        Progress::warn(self, message);
    }

    fn meter(&self, kind: MeterKind, total: u64, label: &str) -> Meter {
        match kind {
            MeterKind::Bytes => self.bytes(total, label),
            MeterKind::Count => self.count(total, label),
            MeterKind::Step => self.step(label),
        }
    }
}

/// A progress bar on stderr.
struct Bar(ProgressBar);

impl Gauge for Bar {
    fn inc(&self, n: u64) {
        self.0.inc(n);
    }

    fn set_message(&self, message: &str) {
        self.0.set_message(message.to_string());
    }

    fn finish(&self) {
        self.0.finish_and_clear();
    }
}

/// With `FUNNEL_TIMINGS` set in the environment, every timed piece of work prints how
/// long it took, the CPU time the process used meanwhile and when it ended, counted
/// from the start of the command (`timing: <label> 1.234 s (cpu 2.10 s) @3.456 s`) on
/// stderr, whatever `--quiet` says: what the benchmark and a
/// profile-minded user read to see where a run spends its time, and whether it kept
/// every core busy.
pub fn install_timings_from_env() {
    if std::env::var_os("FUNNEL_TIMINGS").is_some() {
        let _ = STARTED.set(std::time::Instant::now());
        crate::observe::install_timer(print_timing);
    }
}

/// When the timer was installed: the start of the command, for the `@` offsets.
static STARTED: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();

fn print_timing(t: &Timing<'_>) {
    let at = STARTED
        .get()
        .map(|s| format!(" @{:.3} s", s.elapsed().as_secs_f64()))
        .unwrap_or_default();
    match t.cpu_seconds {
        Some(cpu) => eprintln!(
            "timing: {} {:.3} s (cpu {cpu:.2} s){at}",
            t.label, t.seconds
        ),
        None => eprintln!("timing: {} {:.3} s{at}", t.label, t.seconds),
    }
}
