//! One SVG per scenario, from the median run of each setup (the run whose client error count
//! is the median of its repeats): one panel per setup, the same axes in every panel, latency
//! on a log scale so that the bulk (tens of milliseconds) and the stalls (tens of seconds) both
//! read; for every 250 ms of send time the median 200 and the slowest request of each outcome;
//! the fault's marks as vertical lines; the legend above the panels.

use std::collections::BTreeMap;
use std::path::Path;

use crate::cell::{Cell, Params, Scenario};
use crate::load::Kind;

/// Outcome classes: (class, legend, colour).
const CLASSES: [(u8, &str, (u8, u8, u8)); 4] = [
    (0, "200, slowest per 250 ms", (46, 160, 67)),
    (1, "HTTP error (5xx), slowest", (230, 140, 0)),
    (2, "connect / timeout / reset", (210, 30, 30)),
    (3, "truncated body", (140, 40, 200)),
];
const MEDIAN: (u8, u8, u8) = (20, 90, 30);
const FLOOR: f64 = 0.005;

fn class(result: &Result<u16, String>) -> u8 {
    match result {
        Ok(200) => 0,
        Ok(_) => 1,
        Err(kind) if kind == "truncated" => 3,
        Err(_) => 2,
    }
}

/// `text` in lines of at most `width` characters.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = vec![String::new()];
    for word in text.split(' ') {
        let last = lines.last_mut().expect("a line");
        if !last.is_empty() && last.len() + word.len() >= width {
            lines.push(word.to_string());
        } else {
            if !last.is_empty() {
                last.push(' ');
            }
            last.push_str(word);
        }
    }
    lines
}

pub fn plot(
    path: &Path,
    scenario: Scenario,
    runs: &[&Cell],
    p: &Params,
) -> Result<(), Box<dyn std::error::Error>> {
    use plotters::prelude::*;
    let width = 960u32;
    let row = 220u32;
    let mut lines = wrap(&format!("{}: {}", scenario.name(), scenario.title(p)), 150);
    lines.push(
        "x: seconds since the load started. y: latency, log scale, the same in every panel: \
         GETs and PUTs, and slow GETs and downloads when they failed. Each panel: the setup's \
         median run."
            .to_string(),
    );
    let legend_y = 8 + 15 * lines.len() as i32;
    let head = u32::try_from(legend_y).unwrap_or(60) + 22;
    let root = SVGBackend::new(path, (width, row * runs.len() as u32 + head)).into_drawing_area();
    root.fill(&WHITE)?;
    let (title, body) = root.split_vertically(head);
    for (n, line) in lines.iter().enumerate() {
        title.draw(&Text::new(
            line.clone(),
            (10, 4 + 15 * n as i32),
            ("sans-serif", if n + 1 == lines.len() { 11 } else { 13 }),
        ))?;
    }
    // The legend, once, above the panels.
    let mut x = 14;
    let median = RGBColor(MEDIAN.0, MEDIAN.1, MEDIAN.2);
    title.draw(&PathElement::new(
        vec![(x - 6, legend_y + 6), (x + 8, legend_y + 6)],
        median.stroke_width(2),
    ))?;
    title.draw(&Text::new(
        "200, median per 250 ms",
        (x + 14, legend_y),
        ("sans-serif", 11),
    ))?;
    x += 160;
    for (_, label, (r, g, b)) in CLASSES {
        title.draw(&Circle::new(
            (x, legend_y + 6),
            4,
            RGBColor(r, g, b).filled(),
        ))?;
        title.draw(&Text::new(label, (x + 9, legend_y), ("sans-serif", 11)))?;
        x += 14 + 7 * i32::try_from(label.len()).unwrap_or(20);
    }
    title.draw(&PathElement::new(
        vec![(x, legend_y - 2), (x, legend_y + 12)],
        BLUE.stroke_width(1),
    ))?;
    title.draw(&Text::new(
        "fault, and what followed",
        (x + 6, legend_y),
        ("sans-serif", 11),
    ))?;

    let span = scenario.load(p).as_secs_f64() + 2.0;
    // One y-axis for all panels: from 5 ms to the slowest request shown in any of them.
    let top = runs
        .iter()
        .flat_map(|c| c.requests.iter().map(|r| r.outcome.latency.as_secs_f64()))
        .fold(1.0f64, f64::max)
        * 1.3;
    for (area, run) in body.split_evenly((runs.len(), 1)).iter().zip(runs) {
        let mut chart = ChartBuilder::on(area)
            .caption(
                format!(
                    "{} (run {} of {}: {} client errors)",
                    run.setup.name(),
                    run.repeat + 1,
                    p.repeats,
                    run.errors()
                ),
                ("sans-serif", 13),
            )
            .margin(6)
            .x_label_area_size(22)
            .y_label_area_size(48)
            .build_cartesian_2d(0f64..span, (FLOOR..top).log_scale())?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .y_labels(6)
            .y_label_formatter(&|v| {
                if *v >= 1.0 {
                    format!("{v:.0} s")
                } else {
                    format!("{:.0} ms", v * 1000.0)
                }
            })
            .draw()?;
        // Per 250 ms of send time and per class: the slowest; for the 200s also the median.
        let mut worst: BTreeMap<(u64, u8), f64> = BTreeMap::new();
        let mut oks: BTreeMap<u64, Vec<f64>> = BTreeMap::new();
        for r in &run.requests {
            let o = &r.outcome;
            // Slow GETs and downloads are long by design: shown only when they fail.
            if o.result == Ok(200) && matches!(r.kind, Kind::Slow | Kind::Download) {
                continue;
            }
            let slot = (o.sent.duration_since(run.t0).as_secs_f64() * 4.0) as u64;
            let latency = o.latency.as_secs_f64().clamp(FLOOR, top);
            let c = class(&o.result);
            let w = worst.entry((slot, c)).or_insert(0.0);
            *w = w.max(latency);
            if c == 0 {
                oks.entry(slot).or_default().push(latency);
            }
        }
        let x = |slot: u64| slot as f64 / 4.0 + 0.125;
        // The median line, broken where a slot had no 200.
        let mut segments: Vec<Vec<(f64, f64)>> = Vec::new();
        let mut previous = None;
        for (slot, mut v) in oks {
            v.sort_by(f64::total_cmp);
            let point = (x(slot), v[v.len() / 2]);
            match (previous, segments.last_mut()) {
                (Some(p), Some(segment)) if p + 1 == slot => segment.push(point),
                _ => segments.push(vec![point]),
            }
            previous = Some(slot);
        }
        for segment in segments {
            chart.draw_series(LineSeries::new(segment, median.stroke_width(1)))?;
        }
        for (c, _, (r, g, b)) in CLASSES {
            let colour = RGBColor(r, g, b);
            chart.draw_series(worst.iter().filter(|((_, k), _)| *k == c).map(
                |((slot, _), latency)| Circle::new((x(*slot), *latency), 2, colour.filled()),
            ))?;
        }
        for (n, (at, what)) in run.marks.iter().enumerate() {
            chart.draw_series(LineSeries::new(
                vec![(*at, FLOOR), (*at, top)],
                BLUE.stroke_width(1),
            ))?;
            // Staggered, so that marks a second apart stay readable.
            chart.draw_series(std::iter::once(Text::new(
                what.clone(),
                (
                    *at + 0.15,
                    top / 1.5 / 2.5f64.powi(i32::try_from(n % 3).unwrap_or(0)),
                ),
                ("sans-serif", 10),
            )))?;
        }
    }
    root.present()?;
    Ok(())
}
