//! Everything people read on stderr: messages, warnings, progress bars.
//!
//! stdout is for data only. Bars are drawn only when stderr is a terminal (or when
//! forced with `--progress on`), and never with `--quiet`.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

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
    pub fn bytes(&self, total: u64, label: &str) -> Bar {
        if !self.bars {
            return Bar(None);
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
        Bar(Some(bar))
    }

    /// A bar counting `total` items (leads, rows).
    pub fn count(&self, total: u64, label: &str) -> Bar {
        if !self.bars {
            return Bar(None);
        }
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{msg:>12} [{bar:30}] {human_pos}/{human_len} eta {eta}")
                .expect("valid template")
                .progress_chars("=> "),
        );
        bar.set_message(label.to_string());
        Bar(Some(bar))
    }

    /// A spinner for a step of unknown length.
    pub fn step(&self, label: &str) -> Bar {
        if !self.bars {
            return Bar(None);
        }
        let bar = ProgressBar::new_spinner();
        bar.set_draw_target(ProgressDrawTarget::stderr());
        bar.set_message(label.to_string());
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        Bar(Some(bar))
    }
}

/// A progress bar that may be hidden.
pub struct Bar(Option<ProgressBar>);

impl Bar {
    pub fn inc(&self, n: u64) {
        if let Some(bar) = &self.0 {
            bar.inc(n);
        }
    }

    pub fn set_message(&self, message: &str) {
        if let Some(bar) = &self.0 {
            bar.set_message(message.to_string());
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        self.finish();
    }
}

/// Runs `f`, and with `FUNNEL_TIMINGS` set in the environment prints how long it took
/// and the CPU time the process used meanwhile (`timing: <label> 1.234 s (cpu 2.10
/// s)`) on stderr, whatever `--quiet` says: what the benchmark and a profile-minded
/// user read to see where a run spends its time, and whether it kept both cores busy.
pub fn timed<T>(label: &str, f: impl FnOnce() -> T) -> T {
    if std::env::var_os("FUNNEL_TIMINGS").is_none() {
        return f();
    }
    let (start, cpu) = (std::time::Instant::now(), cpu_seconds());
    let out = f();
    match (cpu, cpu_seconds()) {
        (Some(a), Some(b)) => eprintln!(
            "timing: {label} {:.3} s (cpu {:.2} s)",
            start.elapsed().as_secs_f64(),
            b - a
        ),
        _ => timing(label, start),
    }
    out
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

/// Prints the time since `start` like [`timed`] (with `FUNNEL_TIMINGS` set).
pub fn timing(label: &str, start: std::time::Instant) {
    if std::env::var_os("FUNNEL_TIMINGS").is_some() {
        eprintln!("timing: {label} {:.3} s", start.elapsed().as_secs_f64());
    }
}

/// `1234567` as `1,234,567`, for summaries people read.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn thousands_separators() {
        assert_eq!(super::thousands(0), "0");
        assert_eq!(super::thousands(999), "999");
        assert_eq!(super::thousands(2000), "2,000");
        assert_eq!(super::thousands(1234567), "1,234,567");
    }
}
