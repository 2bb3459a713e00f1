//! Printing figures with their anchors, as text or one JSON line each; diagnostics on standard error.

use serde_json::json;
use std::io::Write;

/// Writes one line of diagnostics to standard error, best effort: `eprintln!` would panic on a closed
/// pipe (`sentinel-bench gate 2>&1 | head`), and a lost progress line must not stop a benchmark.
macro_rules! note {
    ($($arg:tt)*) => {
        $crate::report::note_line(format_args!($($arg)*))
    };
}

pub fn note_line(line: std::fmt::Arguments) {
    // Ignored on purpose: see `note!`.
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

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
    write_figures(&mut std::io::stdout().lock(), figures, as_json)
}

/// One line a figure: the `--json` contract's five fields, or a table row with the ratio and the budget.
fn write_figures(out: &mut impl Write, figures: &[Figure], as_json: bool) -> std::io::Result<()> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn figures() -> Vec<Figure> {
        let figure = |figure, value, anchor_value| Figure {
            figure,
            value,
            unit: "/s",
            anchor: "raw_ed25519_verify_per_s",
            anchor_value,
            budget: "budget: ratio ≥ 0.50",
        };
        vec![figure("gate_scans_per_s_sqlite", 12_345.678_9, 24_000.0), figure("other", 1.0, f64::NAN)]
    }

    #[test]
    fn json_lines_carry_the_contract_fields() {
        let mut out = Vec::new();
        write_figures(&mut out, &figures(), true).unwrap();
        let lines: Vec<serde_json::Value> =
            String::from_utf8(out).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(
            lines[0],
            json!({"figure": "gate_scans_per_s_sqlite", "value": 12_345.679, "unit": "/s",
                   "anchor": "raw_ed25519_verify_per_s", "anchor_value": 24_000.0})
        );
        // An anchor that was not measured is null, never a number that could pass for one.
        assert!(lines[1]["anchor_value"].is_null());
    }

    #[test]
    fn text_rows_show_the_ratio_or_say_the_anchor_was_not_measured() {
        let mut out = Vec::new();
        write_figures(&mut out, &figures(), false).unwrap();
        let text = String::from_utf8(out).unwrap();
        let rows: Vec<&str> = text.lines().collect();
        assert!(rows[0].contains("ratio  0.5144") && rows[0].contains("budget: ratio ≥ 0.50"), "{text}");
        assert!(rows[1].contains("not measured") && !rows[1].contains("| ratio"), "{text}");
    }

    /// A reader that went away (`sentinel-bench gate | head -1`).
    struct Closed;

    impl Write for Closed {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::ErrorKind::BrokenPipe.into())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_closed_output_is_an_error_not_a_panic() {
        for as_json in [true, false] {
            let err = write_figures(&mut Closed, &figures(), as_json).unwrap_err();
            assert_eq!(err.kind(), std::io::ErrorKind::BrokenPipe);
        }
    }
}
