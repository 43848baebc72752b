//! `timeline.svg`: acknowledged operations per second per learner (top) and
//! the latency of each acknowledged operation (bottom) over the run, with
//! the nemesis's fault windows shaded and labelled and the heal marked.
//!
//! Data flow: `main` hands it the history and the schedule at the end.

use crate::history::{OpRecord, Outcome};
use crate::nemesis::{FaultKind, Schedule};
use plotters::prelude::*;
use std::collections::BTreeMap;
use std::path::Path;

const COLOURS: [RGBColor; 4] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
];

fn shade(k: FaultKind) -> RGBColor {
    match k {
        FaultKind::Isolate => RGBColor(255, 221, 170),
        FaultKind::Kill => RGBColor(255, 190, 190),
        FaultKind::Pause => RGBColor(200, 220, 255),
    }
}

pub fn draw(path: &Path, history: &[OpRecord], s: &Schedule, end_s: f64) -> Result<(), String> {
    let e = |x: &dyn std::fmt::Display| x.to_string();
    let root = SVGBackend::new(path, (1200, 700)).into_drawing_area();
    root.fill(&WHITE).map_err(|x| e(&x))?;
    let (top, bottom) = root.split_vertically(350);
    let end_s = end_s.max(1.0);

    // Throughput: acknowledgements per 1 s bucket, per learner.
    let mut per: BTreeMap<&str, Vec<u32>> = BTreeMap::new();
    let buckets = end_s.ceil() as usize + 1;
    for o in history.iter().filter(|o| o.outcome == Outcome::Ok) {
        let b = ((o.complete_ms / 1000.0) as usize).min(buckets - 1);
        per.entry(o.learner.as_str())
            .or_insert_with(|| vec![0; buckets])[b] += 1;
    }
    let ymax = per.values().flatten().copied().max().unwrap_or(1).max(1) as f64 * 1.15;
    let mut ch = ChartBuilder::on(&top)
        .caption("acknowledged operations per second", ("sans-serif", 18))
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(50)
        .build_cartesian_2d(0f64..end_s, 0f64..ymax)
        .map_err(|x| e(&x))?;
    ch.configure_mesh()
        .x_desc("seconds")
        .draw()
        .map_err(|x| e(&x))?;
    windows(&mut ch, s, ymax)?;
    for (i, (l, v)) in per.iter().enumerate() {
        let c = COLOURS[i % COLOURS.len()];
        ch.draw_series(LineSeries::new(
            v.iter()
                .enumerate()
                .map(|(b, n)| (b as f64 + 0.5, *n as f64)),
            c.stroke_width(2),
        ))
        .map_err(|x| e(&x))?
        .label(l.to_string())
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2)));
    }
    ch.configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|x| e(&x))?;

    // Latency of every acknowledged operation, at its completion time.
    let lat: Vec<(&str, f64, f64)> = history
        .iter()
        .filter(|o| o.outcome == Outcome::Ok)
        .map(|o| {
            (
                o.learner.as_str(),
                o.complete_ms / 1000.0,
                o.complete_ms - o.invoke_ms,
            )
        })
        .collect();
    let lmax = lat.iter().map(|x| x.2).fold(10.0, f64::max) * 1.1;
    let mut ch = ChartBuilder::on(&bottom)
        .caption(
            "latency of acknowledged operations (ms)",
            ("sans-serif", 18),
        )
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(50)
        .build_cartesian_2d(0f64..end_s, 0f64..lmax)
        .map_err(|x| e(&x))?;
    ch.configure_mesh()
        .x_desc("seconds")
        .draw()
        .map_err(|x| e(&x))?;
    windows(&mut ch, s, lmax)?;
    for (i, l) in per.keys().enumerate() {
        let c = COLOURS[i % COLOURS.len()];
        ch.draw_series(
            lat.iter()
                .filter(|x| x.0 == *l)
                .map(|x| Circle::new((x.1, x.2), 2, c.filled())),
        )
        .map_err(|x| e(&x))?;
    }
    root.present().map_err(|x| e(&x))?;
    Ok(())
}

type Chart<'a, 'b> = ChartContext<
    'a,
    SVGBackend<'b>,
    Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
>;

fn windows(ch: &mut Chart<'_, '_>, s: &Schedule, ymax: f64) -> Result<(), String> {
    let e = |x: &dyn std::fmt::Display| x.to_string();
    for w in &s.windows {
        let (a, b) = (w.start_ms as f64 / 1000.0, w.end_ms as f64 / 1000.0);
        ch.draw_series(std::iter::once(Rectangle::new(
            [(a, 0.0), (b, ymax)],
            shade(w.kind).mix(0.6).filled(),
        )))
        .map_err(|x| e(&x))?;
        let label = format!("{:?} {}", w.kind, w.nodes.join(",")).to_lowercase();
        ch.draw_series(std::iter::once(Text::new(
            label,
            (a, ymax * 0.97),
            ("sans-serif", 11),
        )))
        .map_err(|x| e(&x))?;
    }
    let h = s.heal_ms as f64 / 1000.0;
    ch.draw_series(std::iter::once(PathElement::new(
        vec![(h, 0.0), (h, ymax)],
        BLACK.stroke_width(2),
    )))
    .map_err(|x| e(&x))?;
    ch.draw_series(std::iter::once(Text::new(
        "heal".to_string(),
        (h, ymax * 0.90),
        ("sans-serif", 12),
    )))
    .map_err(|x| e(&x))?;
    Ok(())
}
