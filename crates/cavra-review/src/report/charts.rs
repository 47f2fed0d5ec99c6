//! The report's charts, drawn here as SVG (plotters' SVG backend): a reader's browser only
//! displays them, runs no script and fetches nothing. Text is SVG `<text>`, so no font file
//! is read when drawing.

use plotters::prelude::*;

use crate::ReviewError;

const SIZE: (u32, u32) = (640, 300);
const BAR: RGBColor = RGBColor(0x2f, 0x6f, 0xb3);
const LINE: RGBColor = RGBColor(0x1b, 0x7f, 0x4d);

fn drawing(e: impl std::fmt::Display) -> ReviewError {
    ReviewError::Render(format!("drawing a chart: {e}"))
}

/// A bar per label, `values` high, titled `caption`.
pub fn bars(caption: &str, labels: &[String], values: &[u64]) -> Result<String, ReviewError> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(drawing)?;
        let n = labels.len().max(1);
        let top = values.iter().copied().max().unwrap_or(0).max(1);
        let mut chart = ChartBuilder::on(&root)
            .caption(caption, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(48)
            .build_cartesian_2d(0f64..n as f64, 0f64..(top as f64 * 1.1))
            .map_err(drawing)?;
        let name = |x: &f64| {
            // Labels at the bars' centres only.
            let i = x.floor();
            if (x - i - 0.5).abs() < 1e-9 && i >= 0.0 {
                labels.get(i as usize).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        };
        chart
            .configure_mesh()
            .disable_x_mesh()
            .max_light_lines(0)
            .x_labels(n * 2 + 1)
            .x_label_formatter(&name)
            .y_label_formatter(&|y| format!("{y:.0}"))
            .draw()
            .map_err(drawing)?;
        chart
            .draw_series(values.iter().enumerate().map(|(i, v)| {
                let x = i as f64;
                Rectangle::new([(x + 0.15, 0.0), (x + 0.85, *v as f64)], BAR.filled())
            }))
            .map_err(drawing)?;
        root.present().map_err(drawing)?;
    }
    Ok(svg)
}

/// A line through `points` (label, value; a missing value breaks nothing, it is skipped),
/// on a 0–`max` scale, titled `caption`.
pub fn line(
    caption: &str,
    points: &[(String, Option<f64>)],
    max: f64,
) -> Result<String, ReviewError> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(drawing)?;
        let n = points.len().max(2);
        let mut chart = ChartBuilder::on(&root)
            .caption(caption, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(48)
            .build_cartesian_2d(0f64..(n - 1) as f64, 0f64..max)
            .map_err(drawing)?;
        let label = |x: &f64| {
            let i = x.round();
            if (x - i).abs() < 1e-9 && i >= 0.0 {
                points
                    .get(i as usize)
                    .map(|p| p.0.clone())
                    .unwrap_or_default()
            } else {
                String::new()
            }
        };
        chart
            .configure_mesh()
            .max_light_lines(0)
            .x_labels(points.len().clamp(2, 8))
            .x_label_formatter(&label)
            .y_label_formatter(&|y| format!("{y:.0}"))
            .draw()
            .map_err(drawing)?;
        let values: Vec<(f64, f64)> = points
            .iter()
            .enumerate()
            .filter_map(|(i, (_, v))| v.map(|v| (i as f64, v)))
            .collect();
        chart
            .draw_series(LineSeries::new(
                values.iter().copied(),
                LINE.stroke_width(2),
            ))
            .map_err(drawing)?;
        chart
            .draw_series(values.iter().map(|p| Circle::new(*p, 3, LINE.filled())))
            .map_err(drawing)?;
        root.present().map_err(drawing)?;
    }
    Ok(svg)
}
