//! Chart constants: sizes, fonts and the colour-blind-safe palette (Okabe–Ito).

use plotters::style::RGBColor;

/// Meeting-ready: 16:9, readable when shrunk onto a slide.
pub const WIDTH: u32 = 1600;
pub const HEIGHT: u32 = 900;

pub const FONT: &str = "sans-serif";
pub const TITLE_SIZE: f64 = 44.0;
pub const SUBTITLE_SIZE: f64 = 26.0;
pub const AXIS_DESC_SIZE: f64 = 28.0;
pub const TICK_SIZE: f64 = 24.0;
pub const VALUE_SIZE: f64 = 22.0;
pub const FOOTNOTE_SIZE: f64 = 19.0;
pub const LEGEND_SIZE: f64 = 24.0;

pub const INK: RGBColor = RGBColor(33, 37, 41);
pub const MUTED: RGBColor = RGBColor(108, 117, 125);
pub const GRID: RGBColor = RGBColor(222, 226, 230);
pub const BACKGROUND: RGBColor = RGBColor(255, 255, 255);

/// Okabe–Ito: distinguishable with the common colour-vision deficiencies.
pub const PALETTE: [RGBColor; 7] = [
    RGBColor(0, 114, 178),   // blue
    RGBColor(230, 159, 0),   // orange
    RGBColor(0, 158, 115),   // bluish green
    RGBColor(204, 121, 167), // reddish purple
    RGBColor(86, 180, 233),  // sky blue
    RGBColor(213, 94, 0),    // vermillion
    RGBColor(240, 228, 66),  // yellow
];

/// A highlight for reference lines (SLA, quota).
pub const ALERT: RGBColor = RGBColor(213, 94, 0);

pub fn color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// The embedded font (DejaVu Sans): registered once, never read from the system.
pub fn register_fonts() {
    use std::sync::Once;
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = plotters::style::register_font(
            FONT,
            plotters::style::FontStyle::Normal,
            dejavu::sans::regular(),
        );
        let _ = plotters::style::register_font(
            FONT,
            plotters::style::FontStyle::Bold,
            dejavu::sans::bold(),
        );
    });
}
