//! `latency-vs-range.svg`: median latency against range length, one line per plan, both axes
//! logarithmic. plotters' SVG backend writes text as SVG `<text>`, so no font is loaded.

use std::path::Path;

use plotters::prelude::*;

pub struct Series {
    pub plan: String,
    /// (range in days, latency in ms), by range.
    pub points: Vec<(u32, f64)>,
}

fn colour(plan: &str) -> RGBColor {
    match plan {
        "baseline" => RGBColor(160, 160, 160),
        "raw" => RGBColor(31, 119, 180),
        _ => RGBColor(214, 39, 40),
    }
}

pub fn draw(path: &Path, title: &str, series: &[Series]) -> Result<(), Box<dyn std::error::Error>> {
    let max_days = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .max()
        .unwrap_or(365);
    let ms = series.iter().flat_map(|s| s.points.iter().map(|p| p.1));
    let (lo, hi) = ms.fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let (lo, hi) = if lo <= hi { (lo, hi) } else { (1.0, 1000.0) };
    let y_range = (lo / 2.0).max(0.1)..hi * 2.0;

    let root = SVGBackend::new(path, (900, 540)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(64)
        .build_cartesian_2d(
            (0.8f64..f64::from(max_days) * 1.25).log_scale(),
            y_range.log_scale(),
        )?;
    chart
        .configure_mesh()
        .x_desc("range (days, log scale)")
        .y_desc("median latency (ms, log scale)")
        .x_label_formatter(&|d| format!("{d:.0}"))
        .y_label_formatter(&|ms| format!("{ms}"))
        .draw()?;
    for s in series {
        let c = colour(&s.plan);
        let points: Vec<(f64, f64)> = s.points.iter().map(|&(d, ms)| (f64::from(d), ms)).collect();
        chart
            .draw_series(LineSeries::new(points.clone(), c.stroke_width(2)))?
            .label(s.plan.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2)));
        chart.draw_series(points.iter().map(|&p| Circle::new(p, 4, c.filled())))?;
        chart.draw_series(points.iter().map(|&(d, ms)| {
            Text::new(
                format!("{ms:.0}"),
                (d * 1.06, ms * 1.12),
                ("sans-serif", 12).into_font().color(&c),
            )
        }))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .border_style(BLACK)
        .background_style(WHITE.mix(0.9))
        .draw()?;
    root.present()?;
    Ok(())
}
