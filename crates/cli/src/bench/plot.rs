//! `hpaxos bench --plot FILE.svg`: throughput against latency, one point
//! per run of the sweep (p50 and p99), the bound and the floor of the same
//! run in the caption.
//!
//! Data flow: [`super::run`] hands it the reports at the end.

use super::RunReport;
use plotters::prelude::*;
use std::path::Path;

const P50: RGBColor = RGBColor(31, 119, 180);
const P99: RGBColor = RGBColor(214, 39, 40);

pub fn draw(path: &Path, rs: &[RunReport]) -> Result<(), String> {
    let e = |x: &dyn std::fmt::Display| x.to_string();
    let Some(r0) = rs.first() else {
        return Ok(());
    };
    let root = SVGBackend::new(path, (900, 560)).into_drawing_area();
    root.fill(&WHITE).map_err(|x| e(&x))?;
    let xmax = rs.iter().map(|r| r.commands_per_second).fold(1.0, f64::max) * 1.2;
    let ymax = rs.iter().map(|r| r.p99_ms).fold(1.0, f64::max) * 1.2;
    let caption = format!(
        "{}: throughput against latency (bound {:.0} cmd/s, floor {:.2} ms)",
        r0.config, r0.bound_commands_per_second, r0.floor_ms
    );
    let mut ch = ChartBuilder::on(&root)
        .caption(caption, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..xmax, 0f64..ymax)
        .map_err(|x| e(&x))?;
    ch.configure_mesh()
        .x_desc("committed commands per second")
        .y_desc("end-to-end latency (ms)")
        .draw()
        .map_err(|x| e(&x))?;
    for (name, colour, pick) in [
        (
            "p50",
            P50,
            (|r: &RunReport| r.p50_ms) as fn(&RunReport) -> f64,
        ),
        ("p99", P99, |r: &RunReport| r.p99_ms),
    ] {
        let mut pts: Vec<(f64, f64)> = rs
            .iter()
            .map(|r| (r.commands_per_second, pick(r)))
            .collect();
        pts.sort_by(|a, b| a.0.total_cmp(&b.0));
        ch.draw_series(LineSeries::new(pts.clone(), colour.stroke_width(2)))
            .map_err(|x| e(&x))?
            .label(name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2))
            });
        ch.draw_series(pts.into_iter().map(|p| Circle::new(p, 4, colour.filled())))
            .map_err(|x| e(&x))?;
    }
    ch.configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|x| e(&x))?;
    root.present().map_err(|x| e(&x))?;
    Ok(())
}
