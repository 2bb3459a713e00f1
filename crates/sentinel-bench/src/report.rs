//! Printing figures with their anchors, as text or one JSON line each.

use serde_json::json;
use std::io::Write;

pub struct Figure {
    pub figure: &'static str,
    pub value: f64,
    pub unit: &'static str,
    pub anchor: &'static str,
    pub anchor_value: f64,
    /// What the budget says about value / anchor_value, for the text form.
    pub budget: &'static str,
}

/// Prints the figures to stdout; a closed stdout (`| head`) is an error to report, not a panic.
pub fn print(figures: &[Figure], as_json: bool) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    for f in figures {
        if as_json {
            writeln!(
                out,
                "{}",
                json!({"figure": f.figure, "value": round(f.value), "unit": f.unit, "anchor": f.anchor, "anchor_value": round(f.anchor_value)})
            )?;
        } else {
            if f.anchor_value.is_nan() {
                // The anchor's side did not run (e.g. `--no-sql`): no number that could pass for one.
                writeln!(
                    out,
                    "{:<34} {:>12.3} {:<6} | anchor {:<34} not measured | ({})",
                    f.figure, f.value, f.unit, f.anchor, f.budget
                )?;
                continue;
            }
            let ratio = if f.anchor_value > 0.0 { f.value / f.anchor_value } else { f64::NAN };
            // Budgets such as 0.02 (50× faster) are judged on four decimals, not two.
            let ratio = if ratio < 1.0 { format!("{ratio:.4}") } else { format!("{ratio:.2}") };
            writeln!(
                out,
                "{:<34} {:>12.3} {:<6} | anchor {:<34} {:>12.3} {:<6} | ratio {:>7}  ({})",
                f.figure, f.value, f.unit, f.anchor, f.anchor_value, f.unit, ratio, f.budget
            )?;
        }
    }
    out.flush()
}

fn round(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}
