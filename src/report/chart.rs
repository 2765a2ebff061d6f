//! The chart kit: a few chart kinds every figure is described in, drawn with plotters
//! on any backend (deterministic SVG for the report, PNG for slides).

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::theme::*;
use crate::error::{Error, Result};

/// One named series of values (None = missing), with optional per-value labels.
#[derive(Debug, Clone)]
pub struct Series {
    pub name: String,
    pub values: Vec<Option<f64>>,
    pub labels: Vec<String>,
}

impl Series {
    pub fn new(name: impl Into<String>, values: Vec<Option<f64>>) -> Series {
        Series {
            name: name.into(),
            values,
            labels: vec![],
        }
    }

    pub fn labelled(mut self, labels: Vec<String>) -> Series {
        self.labels = labels;
        self
    }
}

/// How a horizontal bar chart draws its bars.
#[derive(Debug, Clone, Default)]
pub struct HBarStyle {
    /// A vertical line across the bars (a pace, a target), named in the legend row.
    pub reference: Option<Reference>,
    /// The axis ends here: a longer bar is cut at it, marked `›`, and labelled with
    /// its whole value, so one outlier does not flatten the others.
    pub cap: Option<f64>,
    /// What a missing value says in place of its bar.
    pub missing: String,
    /// One colour for every bar (the bars are one measure of many things).
    pub one_colour: bool,
}

/// One panel of [`Kind::Panels`].
#[derive(Debug, Clone)]
pub struct Panel {
    pub title: String,
    pub x_desc: String,
    pub kind: Kind,
}

/// A reference line across the plot (an SLA, a target).
#[derive(Debug, Clone)]
pub struct Reference {
    pub value: f64,
    pub label: String,
}

#[derive(Debug, Clone)]
pub enum Kind {
    /// Categories along x, one bar per series in each (grouped).
    Bars {
        categories: Vec<String>,
        series: Vec<Series>,
        reference: Option<Reference>,
    },
    /// Categories along x, series stacked.
    Stacked {
        categories: Vec<String>,
        series: Vec<Series>,
    },
    /// Categories along x, one line per series; `hollow[i]` marks category i as
    /// provisional (drawn with open markers and a dashed segment).
    Lines {
        categories: Vec<String>,
        series: Vec<Series>,
        hollow: Vec<bool>,
    },
    /// Bins `(start, end, count)` on a continuous x axis.
    Histogram {
        bins: Vec<(f64, f64, f64)>,
        reference: Option<Reference>,
    },
    /// Categories down the y axis, bars to the right (one series).
    HBars {
        categories: Vec<String>,
        series: Series,
        /// Also how a bar is read: bars in one colour against the line.
        bars: HBarStyle,
    },
    /// Small multiples: panels side by side (three a row), each with its own title.
    Panels { panels: Vec<Panel> },
    /// A burn-up over the days of a period: per series the cumulative actual up to
    /// the as-of (None after it) and its forecast at the period's end (drawn dashed
    /// from the last actual), against the plan's straight line from 0 to `target`.
    BurnUp {
        days: Vec<String>,
        series: Vec<Series>,
        forecasts: Vec<Option<f64>>,
        target: f64,
    },
    /// A bridge: the first and last steps are totals drawn from zero, the steps
    /// between float from the running total, up in green and down in vermillion.
    Bridge { steps: Vec<(String, f64)> },
}

/// A figure: what it shows, its axes and the footnote that makes it reproducible.
#[derive(Debug, Clone)]
pub struct Chart {
    pub title: String,
    pub subtitle: String,
    pub x_desc: String,
    pub y_desc: String,
    /// Basis, window, range, as-of, definitions hash.
    pub footnote: String,
    /// Values are fractions shown as percentages.
    pub percent: bool,
    pub kind: Kind,
}

fn err<E: std::fmt::Debug>(e: E) -> Error {
    Error::Runtime(format!("cannot draw chart: {e:?}"))
}

fn font(size: f64) -> TextStyle<'static> {
    (FONT, size).into_font().color(&INK)
}

/// A number as people read it on a chart.
pub fn human(v: f64, percent: bool) -> String {
    if percent {
        return format!("{:.0}%", v * 100.0);
    }
    let a = v.abs();
    if a >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.0}k", v / 1e3)
    } else if a >= 1e3 {
        format!("{:.1}k", v / 1e3)
    } else if a >= 10.0 || v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// Renders the chart as an SVG document.
pub fn to_svg(chart: &Chart) -> Result<String> {
    register_fonts();
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (WIDTH, HEIGHT)).into_drawing_area();
        draw(&root, chart)?;
        root.present().map_err(err)?;
    }
    Ok(out)
}

/// Renders the chart as PNG bytes.
pub fn to_png(chart: &Chart) -> Result<Vec<u8>> {
    register_fonts();
    let mut buf = vec![0u8; (WIDTH * HEIGHT * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (WIDTH, HEIGHT)).into_drawing_area();
        draw(&root, chart)?;
        root.present().map_err(err)?;
    }
    let mut png = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut png, WIDTH, HEIGHT);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().map_err(err)?;
        writer.write_image_data(&buf).map_err(err)?;
    }
    Ok(png)
}

fn draw<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, chart: &Chart) -> Result<()> {
    root.fill(&BACKGROUND).map_err(err)?;
    // A subtitle wider than the slide wraps onto a second line (the title is one),
    // and the header grows by that line.
    let width = WIDTH - 80;
    let subtitle = wrap(&chart.subtitle, 2, |t| {
        text_width(root, t, SUBTITLE_SIZE) <= width
    });
    let header_height = if subtitle.len() > 1 { 150 } else { 120 };
    let (header, rest) = root.split_vertically(header_height);
    let (body, footer) = rest.split_vertically(HEIGHT as i32 - header_height - 56);
    header
        .draw(&Text::new(
            chart.title.clone(),
            (40, 24),
            (FONT, TITLE_SIZE, FontStyle::Bold).into_font().color(&INK),
        ))
        .map_err(err)?;
    let tops: &[i32] = if subtitle.len() > 1 {
        &[80, 112]
    } else {
        &[80]
    };
    for (line, top) in subtitle.iter().zip(tops) {
        header
            .draw(&Text::new(
                line.clone(),
                (40, *top),
                font(SUBTITLE_SIZE).color(&MUTED),
            ))
            .map_err(err)?;
    }
    let footnote = wrap(&chart.footnote, 2, |t| {
        text_width(root, t, FOOTNOTE_SIZE) <= width
    });
    let tops: &[i32] = if footnote.len() > 1 { &[6, 30] } else { &[18] };
    for (line, top) in footnote.iter().zip(tops) {
        footer
            .draw(&Text::new(
                line.clone(),
                (40, *top),
                font(FOOTNOTE_SIZE).color(&MUTED),
            ))
            .map_err(err)?;
    }
    match &chart.kind {
        Kind::Bars {
            categories,
            series,
            reference,
        } => bars(&body, chart, categories, series, reference.as_ref(), false),
        Kind::Stacked { categories, series } => bars(&body, chart, categories, series, None, true),
        Kind::Lines {
            categories,
            series,
            hollow,
        } => lines(&body, chart, categories, series, hollow),
        Kind::Histogram { bins, reference } => histogram(&body, chart, bins, reference.as_ref()),
        Kind::HBars {
            categories,
            series,
            bars,
        } => hbars(&body, chart, categories, series, bars),
        Kind::Panels { panels } => panel_grid(&body, chart, panels),
        Kind::BurnUp {
            days,
            series,
            forecasts,
            target,
        } => burnup(&body, chart, days, series, forecasts, *target),
        Kind::Bridge { steps } => bridge(&body, chart, steps),
    }
}

/// The width in pixels of `text` at `size` in the chart's font.
fn text_width<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, text: &str, size: f64) -> u32 {
    root.estimate_text_size(text, &font(size))
        .map(|(w, _)| w)
        .unwrap_or(u32::MAX)
}

/// `text` in at most `lines` lines that each `fits`: broken after a ` · ` part where
/// it can be, else between words; what still does not fit ends with `…`.
pub fn wrap(text: &str, lines: usize, fits: impl Fn(&str) -> bool) -> Vec<String> {
    if fits(text) || lines <= 1 {
        return vec![shorten(text, &fits)];
    }
    // The longest head that fits, preferring a break at a part's end.
    let words: Vec<&str> = text.split(' ').collect();
    let mut best: Option<usize> = None;
    let mut best_part: Option<usize> = None;
    for end in 1..words.len() {
        let head = words[..end].join(" ");
        if !fits(&head) {
            break;
        }
        best = Some(end);
        if words[end] == "·" {
            best_part = Some(end);
        }
    }
    let Some(end) = best_part.or(best) else {
        return vec![shorten(text, &fits)];
    };
    let head = words[..end].join(" ");
    let tail = words[end..].join(" ");
    let tail = tail.strip_prefix("· ").unwrap_or(&tail);
    let mut out = vec![head];
    out.extend(wrap(tail, lines - 1, fits));
    out
}

/// `text`, cut at a word and ended with `…` until it fits.
fn shorten(text: &str, fits: &impl Fn(&str) -> bool) -> String {
    if fits(text) {
        return text.to_string();
    }
    let words: Vec<&str> = text.split(' ').collect();
    (1..words.len())
        .rev()
        .map(|end| format!("{} …", words[..end].join(" ")))
        .find(|t| fits(t))
        .unwrap_or_else(|| "…".into())
}

/// [`Kind::BurnUp`]: day `i` spans x ∈ [i, i+1]; a cumulative value is drawn at the
/// end of its day.
fn burnup<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    chart: &Chart,
    days: &[String],
    series: &[Series],
    forecasts: &[Option<f64>],
    target: f64,
) -> Result<()> {
    let mut named: Vec<Series> = series.to_vec();
    named.push(Series::new("plan", vec![]));
    let (legend_area, plot) = area.split_vertically(40);
    legend_with_plan(&legend_area, &named)?;
    let n = days.len().max(1);
    let top = y_max(
        series
            .iter()
            .flat_map(|s| s.values.iter().flatten().copied())
            .chain(forecasts.iter().flatten().copied())
            .chain(std::iter::once(target)),
    );
    let mut ctx = category_plane(&plot, chart, n, top)?;
    // The plan: a straight line from nothing to the target at the period's end.
    ctx.draw_series(DashedLineSeries::new(
        [(0.0, 0.0), (n as f64, target)],
        14,
        10,
        MUTED.stroke_width(3),
    ))
    .map_err(err)?;
    for (j, s) in series.iter().enumerate() {
        let c = color(j);
        let mut points: Vec<(f64, f64)> = vec![(0.0, 0.0)];
        points.extend(
            s.values
                .iter()
                .enumerate()
                .filter_map(|(i, v)| v.map(|v| (i as f64 + 1.0, v))),
        );
        ctx.draw_series(LineSeries::new(points.clone(), c.stroke_width(5)))
            .map_err(err)?;
        let last = *points.last().expect("starts at the origin");
        if let Some(f) = forecasts.get(j).copied().flatten() {
            if last.0 < n as f64 {
                ctx.draw_series(DashedLineSeries::new(
                    [last, (n as f64, f)],
                    10,
                    8,
                    c.stroke_width(3),
                ))
                .map_err(err)?;
            }
            ctx.draw_series(std::iter::once(Circle::new(
                (n as f64, f),
                9,
                c.stroke_width(3),
            )))
            .map_err(err)?;
        }
        ctx.draw_series(std::iter::once(Circle::new(last, 8, c.filled())))
            .map_err(err)?;
    }
    // About six dates along x: the first day and evenly spaced days after it.
    let step = (n / 6).max(1);
    let (ox, oy) = area.get_base_pixel();
    for (i, d) in days.iter().enumerate().filter(|(i, _)| i % step == 0) {
        let (px, py) = ctx.backend_coord(&(i as f64, 0.0));
        let style = font(TICK_SIZE).pos(Pos::new(HPos::Center, VPos::Top));
        area.draw(&Text::new(d.clone(), (px - ox, py - oy + 10), style))
            .map_err(err)?;
    }
    Ok(())
}

/// [`Kind::Bridge`]: step `i` spans x ∈ [i, i+1]; each bar is labelled with its
/// amount (signed for a movement) above it.
fn bridge<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    chart: &Chart,
    steps: &[(String, f64)],
) -> Result<()> {
    let n = steps.len().max(1);
    let last = n - 1;
    // Each bar's (bottom, top); totals from zero, movements from the running total.
    let mut running = 0.0;
    let spans: Vec<(f64, f64)> = steps
        .iter()
        .enumerate()
        .map(|(i, (_, v))| {
            if i == 0 || i == last {
                running = *v;
                (0.0, *v)
            } else {
                let from = running;
                running += v;
                (from.min(running), from.max(running))
            }
        })
        .collect();
    let top = y_max(spans.iter().map(|(_, hi)| *hi));
    let mut ctx = category_plane(area, chart, n, top)?;
    let (ox, oy) = area.get_base_pixel();
    for (i, ((_, v), (lo, hi))) in steps.iter().zip(&spans).enumerate() {
        let total = i == 0 || i == last;
        let fill = if total {
            color(0)
        } else if *v >= 0.0 {
            color(2)
        } else {
            ALERT
        };
        let (lo, hi) = (lo.max(0.0), hi.max(0.0));
        ctx.draw_series(std::iter::once(Rectangle::new(
            [(i as f64 + 0.15, lo), (i as f64 + 0.85, hi)],
            fill.filled(),
        )))
        .map_err(err)?;
        let label = if total || *v == 0.0 {
            human(*v, false)
        } else if *v > 0.0 {
            format!("+{}", human(*v, false))
        } else {
            format!("−{}", human(-v, false))
        };
        let (px, py) = ctx.backend_coord(&(i as f64 + 0.5, hi));
        let style = font(VALUE_SIZE).pos(Pos::new(HPos::Center, VPos::Bottom));
        area.draw(&Text::new(label, (px - ox, py - oy - 6), style))
            .map_err(err)?;
    }
    let names: Vec<String> = steps.iter().map(|(s, _)| s.clone()).collect();
    category_labels(area, &ctx, &names)
}

/// A legend whose last entry is the plan's dashed grey line.
fn legend_with_plan<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    series: &[Series],
) -> Result<()> {
    let mut x = 150;
    let last = series.len().saturating_sub(1);
    for (i, s) in series.iter().enumerate() {
        let c = if i == last { MUTED } else { color(i) };
        area.draw(&Rectangle::new([(x, 12), (x + 28, 18)], c.filled()))
            .map_err(err)?;
        area.draw(&Text::new(s.name.clone(), (x + 36, 4), font(LEGEND_SIZE)))
            .map_err(err)?;
        x += 70 + (s.name.chars().count() as i32) * 14;
    }
    Ok(())
}

fn y_max(values: impl Iterator<Item = f64>) -> f64 {
    let m = values.fold(0.0f64, f64::max);
    if m <= 0.0 {
        1.0
    } else {
        m * 1.15
    }
}

/// The legend row: a swatch and name per series (when there are two or more), then
/// the reference line's label beside a line swatch, so that no label of the
/// reference is drawn inside the plot, where bars and their labels are.
fn legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    series: &[Series],
    reference: Option<&Reference>,
) -> Result<()> {
    let mut x = 150;
    if series.len() >= 2 {
        for (i, s) in series.iter().enumerate() {
            area.draw(&Rectangle::new([(x, 4), (x + 22, 26)], color(i).filled()))
                .map_err(err)?;
            area.draw(&Text::new(s.name.clone(), (x + 30, 4), font(LEGEND_SIZE)))
                .map_err(err)?;
            x += 60 + text_width(area, &s.name, LEGEND_SIZE) as i32;
        }
    }
    if let Some(r) = reference {
        area.draw(&Rectangle::new([(x, 13), (x + 28, 17)], ALERT.filled()))
            .map_err(err)?;
        area.draw(&Text::new(
            r.label.clone(),
            (x + 36, 4),
            font(LEGEND_SIZE).color(&ALERT),
        ))
        .map_err(err)?;
    }
    Ok(())
}

/// Whether a legend row is drawn above the plot.
fn has_legend(series: &[Series], reference: Option<&Reference>) -> bool {
    series.len() > 1 || reference.is_some()
}

type Plane =
    Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>;

fn category_labels<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    chart: &ChartContext<DB, Plane>,
    categories: &[String],
) -> Result<()> {
    // The labels shrink until the widest fits its category (down to 60 %); if it
    // still does not, every second (third, …) category is labelled.
    let room = {
        let (a, _) = chart.backend_coord(&(0.0, 0.0));
        let (b, _) = chart.backend_coord(&(1.0, 0.0));
        (b - a - 8).max(1) as u32
    };
    let widest = |size: f64| {
        categories
            .iter()
            .map(|c| text_width(root, c, size))
            .max()
            .unwrap_or(0)
    };
    let size = [1.0, 0.9, 0.8, 0.7, 0.6]
        .iter()
        .map(|f| TICK_SIZE * f)
        .find(|size| widest(*size) <= room)
        .unwrap_or(TICK_SIZE * 0.6);
    let every = widest(size).div_ceil(room).max(1) as usize;
    for (i, c) in categories.iter().enumerate() {
        if i % every != 0 {
            continue;
        }
        let (px, py) = chart.backend_coord(&(i as f64 + 0.5, 0.0));
        let (ox, oy) = root.get_base_pixel();
        let style = font(size).pos(Pos::new(HPos::Center, VPos::Top));
        root.draw(&Text::new(c.clone(), (px - ox, py - oy + 10), style))
            .map_err(err)?;
    }
    Ok(())
}

/// Categories `0..n` along x (labelled separately), values `0..top` up y, with the
/// chart's axis descriptions.
fn category_plane<'a, DB: DrawingBackend>(
    plot: &'a DrawingArea<DB, Shift>,
    chart: &Chart,
    n: usize,
    top: f64,
) -> Result<ChartContext<'a, DB, Plane>> {
    let mut ctx = ChartBuilder::on(plot)
        .margin_left(30)
        .margin_right(40)
        .margin_top(10)
        .x_label_area_size(70)
        .y_label_area_size(110)
        .build_cartesian_2d(0f64..n as f64, 0f64..top)
        .map_err(err)?;
    let percent = chart.percent;
    ctx.configure_mesh()
        .disable_x_mesh()
        .x_labels(0)
        .y_labels(6)
        .y_label_formatter(&|v| human(*v, percent))
        .y_desc(chart.y_desc.clone())
        .x_desc(chart.x_desc.clone())
        .axis_desc_style(font(AXIS_DESC_SIZE))
        .label_style(font(TICK_SIZE))
        .light_line_style(BACKGROUND)
        .bold_line_style(GRID)
        .draw()
        .map_err(err)?;
    Ok(ctx)
}

fn bars<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    chart: &Chart,
    categories: &[String],
    series: &[Series],
    reference: Option<&Reference>,
    stacked: bool,
) -> Result<()> {
    let (legend_area, plot) =
        area.split_vertically(if has_legend(series, reference) { 40 } else { 0 });
    legend(&legend_area, series, reference)?;
    let n = categories.len().max(1);
    let top = if stacked {
        y_max((0..n).map(|i| {
            series
                .iter()
                .map(|s| s.values.get(i).copied().flatten().unwrap_or(0.0))
                .sum()
        }))
    } else {
        y_max(
            series
                .iter()
                .flat_map(|s| s.values.iter().flatten().copied())
                .chain(reference.map(|r| r.value)),
        )
    };
    let mut ctx = category_plane(&plot, chart, n, top)?;
    let percent = chart.percent;
    let k = if stacked { 1 } else { series.len().max(1) };
    let width = 0.7 / k as f64;
    // A value label wider than the room of its bar would run into its neighbour's:
    // it is left out (the table beside the chart has every number).
    let room = {
        let (a, _) = ctx.backend_coord(&(0.0, 0.0));
        let (b, _) = ctx.backend_coord(&(1.0, 0.0));
        ((b - a) as f64 / k as f64) as u32
    };
    let mut base = vec![0.0; n];
    for (j, s) in series.iter().enumerate() {
        for (i, v) in s.values.iter().enumerate() {
            let Some(v) = v else { continue };
            let (x0, y0) = if stacked {
                (i as f64 + 0.15, base[i])
            } else {
                (i as f64 + 0.15 + j as f64 * width, 0.0)
            };
            let y1 = y0 + v;
            ctx.draw_series(std::iter::once(Rectangle::new(
                [(x0, y0), (x0 + width, y1)],
                color(j).filled(),
            )))
            .map_err(err)?;
            let label = s
                .labels
                .get(i)
                .cloned()
                .unwrap_or_else(|| human(*v, percent));
            // A bar of 0 is labelled where there are few (an empty plot says nothing),
            // not across many categories, where the zeros would crowd the axis.
            let shown = (*v != 0.0 || (!stacked && n <= 8))
                && text_width(area, &label, VALUE_SIZE) + 4 <= room;
            if !label.is_empty() && shown && (!stacked || *v > top * 0.04) {
                let (y, vpos) = if stacked {
                    ((y0 + y1) / 2.0, VPos::Center)
                } else {
                    (y1, VPos::Bottom)
                };
                let (px, py) = ctx.backend_coord(&(x0 + width / 2.0, y));
                let (ox, oy) = area.get_base_pixel();
                let style = font(VALUE_SIZE).pos(Pos::new(HPos::Center, vpos));
                let lift = if stacked { 0 } else { 6 };
                area.draw(&Text::new(label, (px - ox, py - oy - lift), style))
                    .map_err(err)?;
            }
            if stacked {
                base[i] = y1;
            }
        }
    }
    if let Some(r) = reference {
        ctx.draw_series(LineSeries::new(
            [(0.0, r.value), (n as f64, r.value)],
            ALERT.stroke_width(3),
        ))
        .map_err(err)?;
    }
    category_labels(area, &ctx, categories)
}

fn lines<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    chart: &Chart,
    categories: &[String],
    series: &[Series],
    hollow: &[bool],
) -> Result<()> {
    let (legend_area, plot) = area.split_vertically(if series.len() > 1 { 40 } else { 0 });
    legend(&legend_area, series, None)?;
    let n = categories.len().max(1);
    let top = y_max(
        series
            .iter()
            .flat_map(|s| s.values.iter().flatten().copied()),
    );
    let mut ctx = category_plane(&plot, chart, n, top)?;
    for (j, s) in series.iter().enumerate() {
        let c = color(j);
        let points: Vec<(usize, f64)> = s
            .values
            .iter()
            .enumerate()
            .filter_map(|(i, v)| v.map(|v| (i, v)))
            .collect();
        for w in points.windows(2) {
            let (a, b) = (w[0], w[1]);
            let provisional = hollow.get(b.0).copied().unwrap_or(false);
            let seg = [(a.0 as f64 + 0.5, a.1), (b.0 as f64 + 0.5, b.1)];
            if provisional {
                ctx.draw_series(DashedLineSeries::new(seg, 10, 8, c.stroke_width(3)))
                    .map_err(err)?;
            } else {
                ctx.draw_series(LineSeries::new(seg, c.stroke_width(4)))
                    .map_err(err)?;
            }
        }
        for (i, v) in points {
            let p = (i as f64 + 0.5, v);
            if hollow.get(i).copied().unwrap_or(false) {
                ctx.draw_series(std::iter::once(Circle::new(p, 8, BACKGROUND.filled())))
                    .map_err(err)?;
                ctx.draw_series(std::iter::once(Circle::new(p, 8, c.stroke_width(3))))
                    .map_err(err)?;
            } else {
                ctx.draw_series(std::iter::once(Circle::new(p, 8, c.filled())))
                    .map_err(err)?;
            }
        }
    }
    // Long cohort lists: label every other category.
    let step = if categories.len() > 14 { 2 } else { 1 };
    let shown: Vec<String> = categories
        .iter()
        .enumerate()
        .map(|(i, c)| {
            if i % step == 0 {
                c.clone()
            } else {
                String::new()
            }
        })
        .collect();
    category_labels(area, &ctx, &shown)
}

fn histogram<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    chart: &Chart,
    bins: &[(f64, f64, f64)],
    reference: Option<&Reference>,
) -> Result<()> {
    // A long tail squeezes the bulk into one bar: show bins up to 98 % of the count.
    let total: f64 = bins.iter().map(|b| b.2).sum();
    let mut seen = 0.0;
    let mut cut = bins.len();
    for (i, b) in bins.iter().enumerate() {
        seen += b.2;
        if seen >= total * 0.98 {
            cut = i + 1;
            break;
        }
    }
    let hidden: f64 = bins[cut..].iter().map(|b| b.2).sum();
    let bins = &bins[..cut];
    let x_desc = if hidden > 0.0 {
        format!(
            "{} ({} longer ones not shown)",
            chart.x_desc,
            human(hidden, false)
        )
    } else {
        chart.x_desc.clone()
    };
    let lo = bins.iter().map(|b| b.0).fold(f64::INFINITY, f64::min);
    let hi = bins.iter().map(|b| b.1).fold(f64::NEG_INFINITY, f64::max);
    let (mut lo, mut hi) = if bins.is_empty() {
        (0.0, 1.0)
    } else {
        (lo, hi)
    };
    if let Some(r) = reference {
        lo = lo.min(r.value);
        hi = hi.max(r.value * 1.05);
    }
    let top = y_max(bins.iter().map(|b| b.2));
    let mut ctx = ChartBuilder::on(area)
        .margin_left(30)
        .margin_right(40)
        .margin_top(10)
        .x_label_area_size(80)
        .y_label_area_size(110)
        .build_cartesian_2d(lo..hi, 0f64..top)
        .map_err(err)?;
    ctx.configure_mesh()
        .disable_x_mesh()
        .x_labels(10)
        .y_labels(6)
        .x_label_formatter(&|v| human(*v, false))
        .y_label_formatter(&|v| human(*v, false))
        .y_desc(chart.y_desc.clone())
        .x_desc(x_desc)
        .axis_desc_style(font(AXIS_DESC_SIZE))
        .label_style(font(TICK_SIZE))
        .light_line_style(BACKGROUND)
        .bold_line_style(GRID)
        .draw()
        .map_err(err)?;
    ctx.draw_series(bins.iter().map(|(a, b, c)| {
        let gap = (b - a) * 0.04;
        Rectangle::new([(a + gap, 0.0), (b - gap, *c)], color(0).filled())
    }))
    .map_err(err)?;
    if let Some(r) = reference {
        ctx.draw_series(LineSeries::new(
            [(r.value, 0.0), (r.value, top)],
            ALERT.stroke_width(3),
        ))
        .map_err(err)?;
        let (px, py) = ctx.backend_coord(&(r.value, top));
        let (ox, oy) = area.get_base_pixel();
        let style = font(VALUE_SIZE)
            .color(&ALERT)
            .pos(Pos::new(HPos::Left, VPos::Top));
        area.draw(&Text::new(
            r.label.clone(),
            (px - ox + 8, py - oy + 4),
            style,
        ))
        .map_err(err)?;
    }
    Ok(())
}

/// [`Kind::Panels`]: the panels side by side, each titled, drawn as its own kind
/// with the chart's units.
fn panel_grid<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    chart: &Chart,
    panels: &[Panel],
) -> Result<()> {
    // Up to three a row.
    let columns = panels.len().clamp(1, 3);
    let rows = panels.len().div_ceil(columns).max(1);
    let cells = area.split_evenly((rows, columns));
    for (i, (cell, panel)) in cells.iter().zip(panels).enumerate() {
        let (title, body) = cell.split_vertically(40);
        // Bold runs about a tenth wider than the regular face measured here.
        let line = wrap(&panel.title, 1, |t| {
            text_width(&title, t, LEGEND_SIZE) * 11 / 10 + 50 <= title.dim_in_pixel().0
        });
        title
            .draw(&Text::new(
                line.concat(),
                (30, 4),
                (FONT, LEGEND_SIZE, FontStyle::Bold).into_font().color(&INK),
            ))
            .map_err(err)?;
        // The y axis is described once a row, beside its first panel.
        let inner = Chart {
            x_desc: panel.x_desc.clone(),
            y_desc: if i % columns == 0 {
                chart.y_desc.clone()
            } else {
                String::new()
            },
            kind: panel.kind.clone(),
            ..chart.clone()
        };
        match &panel.kind {
            Kind::HBars {
                categories,
                series,
                bars,
            } => hbars(&body, &inner, categories, series, bars)?,
            Kind::Bars {
                categories,
                series,
                reference,
            } => bars(&body, &inner, categories, series, reference.as_ref(), false)?,
            Kind::Lines {
                categories,
                series,
                hollow,
            } => lines(&body, &inner, categories, series, hollow)?,
            _ => {}
        }
    }
    Ok(())
}

fn hbars<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    chart: &Chart,
    categories: &[String],
    series: &Series,
    style: &HBarStyle,
) -> Result<()> {
    let (legend_area, area) = area.split_vertically(if style.reference.is_some() { 40 } else { 0 });
    legend(&legend_area, &[], style.reference.as_ref())?;
    let area = &area;
    let percent = chart.percent;
    let n = categories.len().max(1);
    let label_of = |i: usize, v: f64| {
        let label = series
            .labels
            .get(i)
            .filter(|l| !l.is_empty())
            .cloned()
            .unwrap_or_else(|| human(v, percent));
        match style.cap {
            Some(cap) if v > cap => format!("› {label}"),
            _ => label,
        }
    };
    let (label_area, right) = hbar_extent(area, categories, series, style, &label_of);
    let mut ctx = ChartBuilder::on(area)
        .margin_left(30)
        .margin_right(60)
        .margin_top(10)
        .x_label_area_size(70)
        .y_label_area_size(label_area)
        .build_cartesian_2d(0f64..right, 0f64..n as f64)
        .map_err(err)?;
    ctx.configure_mesh()
        .disable_y_mesh()
        .y_labels(0)
        .x_labels(if percent { 4 } else { 6 })
        .x_label_formatter(&|v| human(*v, percent))
        .x_desc(chart.x_desc.clone())
        .axis_desc_style(font(AXIS_DESC_SIZE))
        .label_style(font(TICK_SIZE))
        .light_line_style(BACKGROUND)
        .bold_line_style(GRID)
        .draw()
        .map_err(err)?;
    // The line first: bars and their labels (on a patch of background) go over it.
    if let Some(r) = &style.reference {
        ctx.draw_series(LineSeries::new(
            [(r.value, 0.0), (r.value, n as f64)],
            ALERT.stroke_width(3),
        ))
        .map_err(err)?;
    }
    let (ox, oy) = area.get_base_pixel();
    for (i, c) in categories.iter().enumerate() {
        // First category at the top.
        let y = (n - 1 - i) as f64;
        let (px, py) = ctx.backend_coord(&(0.0, y + 0.5));
        area.draw(&Text::new(
            c.clone(),
            (px - ox - 14, py - oy),
            font(TICK_SIZE).pos(Pos::new(HPos::Right, VPos::Center)),
        ))
        .map_err(err)?;
        let Some(v) = series.values.get(i).copied().flatten() else {
            label_on_background(area, &style.missing, (px - ox + 10, py - oy), &MUTED)?;
            continue;
        };
        let end = style.cap.map_or(v, |cap| v.min(cap));
        let fill = if style.one_colour { color(0) } else { color(i) };
        ctx.draw_series(std::iter::once(Rectangle::new(
            [(0.0, y + 0.18), (end, y + 0.82)],
            fill.filled(),
        )))
        .map_err(err)?;
        let (qx, qy) = ctx.backend_coord(&(end, y + 0.5));
        label_on_background(area, &label_of(i, v), (qx - ox + 10, qy - oy), &INK)?;
    }
    Ok(())
}

/// The width of the category labels' area, and where the value axis ends: past the
/// longest bar (cut at the cap) and the reference by the widest value label, so that
/// no label runs off the plot.
fn hbar_extent<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    categories: &[String],
    series: &Series,
    style: &HBarStyle,
    label_of: &dyn Fn(usize, f64) -> String,
) -> (u32, f64) {
    let names = categories
        .iter()
        .map(|c| text_width(area, c, TICK_SIZE))
        .max()
        .unwrap_or(0);
    let label_area = names + 40;
    let values = series.values.iter().flatten().copied();
    let longest = match style.cap {
        Some(cap) => values.fold(0.0f64, f64::max).min(cap),
        None => values.fold(0.0f64, f64::max),
    }
    .max(style.reference.as_ref().map_or(0.0, |r| r.value));
    let longest = if longest <= 0.0 { 1.0 } else { longest };
    let plot_width = area.dim_in_pixel().0.saturating_sub(label_area + 90).max(1) as f64;
    let labels = series
        .values
        .iter()
        .enumerate()
        .filter_map(|(i, v)| v.map(|v| text_width(area, &label_of(i, v), VALUE_SIZE)))
        .max()
        .unwrap_or(0)
        .max(text_width(area, &style.missing, VALUE_SIZE) / 2) as f64;
    let right = longest * plot_width / (plot_width - labels - 30.0).max(plot_width * 0.4);
    (label_area, right)
}

/// A value label, left-aligned at `(x, y)` on a patch of the background, so that a
/// reference line behind it does not run through its digits.
fn label_on_background<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    text: &str,
    (x, y): (i32, i32),
    colour: &RGBColor,
) -> Result<()> {
    let (w, h) = area
        .estimate_text_size(text, &font(VALUE_SIZE))
        .unwrap_or((0, 0));
    let (w, h) = (w as i32, h as i32);
    area.draw(&Rectangle::new(
        [(x - 4, y - h / 2 - 3), (x + w + 4, y + h / 2 + 3)],
        BACKGROUND.filled(),
    ))
    .map_err(err)?;
    area.draw(&Text::new(
        text.to_string(),
        (x, y),
        font(VALUE_SIZE)
            .color(colour)
            .pos(Pos::new(HPos::Left, VPos::Center)),
    ))
    .map_err(err)
}

#[cfg(test)]
mod tests {
    use super::wrap;

    #[test]
    fn a_long_line_breaks_after_a_part_then_between_words_then_ends_with_an_ellipsis() {
        let fits = |t: &str| t.chars().count() <= 20;
        assert_eq!(wrap("short", 2, fits), vec!["short"]);
        assert_eq!(
            wrap("one part · another part", 2, fits),
            vec!["one part", "another part"]
        );
        assert_eq!(
            wrap("a few words more than fit on one line", 2, fits),
            vec!["a few words more", "than fit on one line"]
        );
        assert_eq!(
            wrap(
                "a few words more than fit on one line and then some",
                2,
                fits
            ),
            vec!["a few words more", "than fit on one …"]
        );
    }
}
