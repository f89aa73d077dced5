//! The run's outputs: `pinn_loss.csv`, `pinn_loss.png` and `pinn_solution.png`.
//!
//! Plots are drawn with plotters' pure-Rust bitmap backend. Text needs a font: a
//! system TrueType font is used when one of a few usual files exists; without one
//! the pictures are drawn without text.

use std::error::Error;
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::OnceLock;

use plotters::prelude::*;

type Result<T> = std::result::Result<T, Box<dyn Error>>;

/// Font files tried, in order, for the plots' text.
const FONTS: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/Library/Fonts/Arial.ttf",
    "C:\\Windows\\Fonts\\arial.ttf",
];

/// Whether text can be drawn (a font was found and registered), decided once.
fn have_font() -> bool {
    static FONT: OnceLock<bool> = OnceLock::new();
    *FONT.get_or_init(|| {
        FONTS.iter().any(|path| {
            let Ok(bytes) = fs::read(path) else {
                return false;
            };
            let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
            plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_ok()
        })
    })
}

/// `step,loss` per line, with a header.
pub fn write_csv(path: &Path, losses: &[f64]) -> Result<()> {
    let mut out = BufWriter::new(File::create(path)?);
    writeln!(out, "step,loss")?;
    for (step, loss) in losses.iter().enumerate() {
        writeln!(out, "{step},{loss:e}")?;
    }
    out.flush()?;
    Ok(())
}

/// The loss against the step, log scale.
pub fn plot_loss(path: &Path, losses: &[f64]) -> Result<()> {
    let root = BitMapBackend::new(path, (800, 500)).into_drawing_area();
    root.fill(&WHITE)?;
    let positive = || losses.iter().copied().filter(|l| *l > 0.0 && l.is_finite());
    let lo = positive().fold(f64::INFINITY, f64::min);
    let hi = positive().fold(0.0, f64::max);
    let (lo, hi) = if lo <= hi {
        (lo / 1.5, hi * 1.5)
    } else {
        (1e-8, 1.0)
    };
    let steps = losses.len().max(2) - 1;
    let mut builder = ChartBuilder::on(&root);
    builder.margin(20);
    let font = have_font();
    if font {
        builder
            .caption("PINN training loss (log scale)", ("sans-serif", 24))
            .x_label_area_size(40)
            .y_label_area_size(70);
    }
    let mut chart = builder.build_cartesian_2d(0..steps, (lo..hi).log_scale())?;
    if font {
        chart
            .configure_mesh()
            .x_desc("step")
            .y_desc("loss")
            .y_label_formatter(&|v| format!("{v:.0e}"))
            .draw()?;
    }
    chart.draw_series(LineSeries::new(
        losses
            .iter()
            .enumerate()
            .filter(|(_, l)| **l > 0.0 && l.is_finite())
            .map(|(s, l)| (s, *l)),
        BLUE.stroke_width(1),
    ))?;
    root.present()?;
    Ok(())
}

/// Maps a value to a colour.
type Colour<'a> = dyn Fn(f64) -> RGBColor + 'a;

/// A blue–white–red colour for `v` in `[−1, 1]`.
fn diverging(v: f64) -> RGBColor {
    let v = v.clamp(-1.0, 1.0);
    let fade = |c: f64| (255.0 * (1.0 - v.abs()) + c * v.abs()) as u8;
    if v >= 0.0 {
        RGBColor(fade(180.0), fade(20.0), fade(40.0))
    } else {
        RGBColor(fade(30.0), fade(60.0), fade(170.0))
    }
}

/// Three heat maps side by side: the learned solution, the exact one (both on the
/// exact solution's colour scale) and their difference (blue–white–red, symmetric
/// around zero). `learned` and `exact` are `n × n` grids, row-major with `y` outer.
pub fn plot_solution(path: &Path, learned: &[f64], exact: &[f64], n: usize) -> Result<()> {
    let root = BitMapBackend::new(path, (1260, 460)).into_drawing_area();
    root.fill(&WHITE)?;
    let diff: Vec<f64> = learned.iter().zip(exact).map(|(a, b)| a - b).collect();
    let max_diff = diff.iter().fold(0.0f64, |m, d| m.max(d.abs())).max(1e-300);
    let (lo, hi) = exact
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(*v), b.max(*v))
        });
    let span = (hi - lo).max(1e-300);
    let viridis = |v: f64| ViridisRGB::get_color(((v - lo) / span).clamp(0.0, 1.0));
    let panels: [(&str, &[f64], &Colour<'_>); 3] = [
        ("learned u", learned, &viridis),
        ("exact u = sin(πx) sin(πy)", exact, &viridis),
        ("difference", &diff, &|d| diverging(d / max_diff)),
    ];
    let font = have_font();
    for ((title, values, color), area) in panels.iter().zip(root.split_evenly((1, 3))) {
        let area = area.margin(10, 10, 10, 10);
        let area = if font {
            let title = if *title == "difference" {
                format!("learned − exact (max |·| = {max_diff:.1e})")
            } else {
                title.to_string()
            };
            area.titled(&title, ("sans-serif", 20))?
        } else {
            area
        };
        let (w, h) = area.dim_in_pixel();
        let side = w.min(h) as f64;
        let cell = side / n as f64;
        let x0 = (w as f64 - side) / 2.0;
        for j in 0..n {
            for i in 0..n {
                // y grows upwards.
                let top = side - (j + 1) as f64 * cell;
                let left = x0 + i as f64 * cell;
                area.draw(&Rectangle::new(
                    [
                        (left as i32, top as i32),
                        ((left + cell).ceil() as i32, (top + cell).ceil() as i32),
                    ],
                    color(values[j * n + i]).filled(),
                ))?;
            }
        }
    }
    root.present()?;
    Ok(())
}
