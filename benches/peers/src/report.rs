//! The results: a Markdown table of medians and ratios, and a grouped bar chart (SVG) of each
//! implementation's cost relative to zsync's.

use crate::IMPLS;

/// One workload's medians, one per implementation (in `IMPLS` order; NaN where not run).
#[derive(Clone)]
pub struct Row {
    pub name: String,
    pub unit: &'static str,
    pub higher_is_better: bool,
    pub values: Vec<f64>,
    /// Per implementation: it ran but never produced a number (crashed, aborted or hung).
    pub failed: Vec<bool>,
}

impl Row {
    /// zsync's advantage over implementation `i`: above 1, zsync is better.
    fn advantage(&self, i: usize) -> f64 {
        if self.higher_is_better {
            self.values[0] / self.values[i]
        } else {
            self.values[i] / self.values[0]
        }
    }
}

fn number(v: f64) -> String {
    if v.is_nan() {
        "-".to_string()
    } else if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// The results as a Markdown table: medians, then zsync's advantage over each peer.
pub fn markdown(rows: &[Row]) -> String {
    let mut out = String::from("| workload | unit |");
    for i in IMPLS {
        out += &format!(" {i} |");
    }
    for i in &IMPLS[1..] {
        out += &format!(" vs {i} |");
    }
    out += &format!("\n|---|---|{}\n", "---:|".repeat(IMPLS.len() * 2 - 1));
    for row in rows {
        out += &format!("| {} | {} |", row.name, row.unit);
        for (v, failed) in row.values.iter().zip(&row.failed) {
            out += &if *failed {
                " failed |".to_string()
            } else {
                format!(" {} |", number(*v))
            };
        }
        for i in 1..IMPLS.len() {
            let a = row.advantage(i);
            out += &if a.is_nan() {
                " - |".to_string()
            } else {
                format!(" {a:.2}x |")
            };
        }
        out += "\n";
    }
    out +=
        "\n\"vs peer\" is zsync's advantage: above 1.00x zsync is better (faster, smaller, more \
            requests, reads, MiB or redis commands per second, or more parked tasks, or a less late ticker, or a lower p99 latency); below 1.00x the peer is better. \
            \"-\": the workload does not apply to that implementation; \"failed\": it ran and \
            crashed or hung without a result (the runner prints why).\n";
    out
}

/// A grouped bar chart: per workload, each implementation's cost relative to zsync's (zsync =
/// 1; lower is better), on a log scale from 0.01x to 1000x.
pub fn svg(rows: &[Row]) -> String {
    const COLORS: [&str; 6] = [
        "#d62728", "#1f77b4", "#2ca02c", "#7f7f7f", "#17becf", "#9467bd",
    ];
    const DECADES: f64 = 5.0; // 0.01x .. 1000x
    let (left, top, plot_h, bar_w) = (60.0, 40.0, 320.0, 14.0);
    let group_w = bar_w * IMPLS.len() as f64 + 16.0;
    let width = left + group_w * rows.len() as f64 + 20.0;
    let height = top + plot_h + 110.0;
    let y = |ratio: f64| top + plot_h * (1.0 - (ratio.log10() + 2.0) / DECADES);
    let mut out = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="11">
<rect width="100%" height="100%" fill="white"/>
<text x="{left}" y="20" font-size="13">Cost of each implementation relative to zsync (zsync = 1x; above the line the peer is worse; log scale; &#x2715; = failed)</text>
"#
    );
    for (k, label) in [
        (0.01, "0.01x"),
        (0.1, "0.1x"),
        (1.0, "1x"),
        (10.0, "10x"),
        (100.0, "100x"),
        (1000.0, "1000x"),
    ] {
        out += &format!(
            r##"<line x1="{left}" x2="{}" y1="{y}" y2="{y}" stroke="{}"/><text x="{}" y="{}" text-anchor="end">{label}</text>
"##,
            width - 10.0,
            if k == 1.0 { "#000" } else { "#ddd" },
            left - 6.0,
            y(k) + 4.0,
            y = y(k)
        );
    }
    for (g, row) in rows.iter().enumerate() {
        let x0 = left + group_w * g as f64 + 8.0;
        for i in 0..IMPLS.len() {
            let x = x0 + bar_w * i as f64;
            if row.failed[i] {
                out += &format!(
                    r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" fill="{}">&#x2715;<title>{} {}: failed</title></text>
"#,
                    x + bar_w / 2.0,
                    y(1.0) - 4.0,
                    COLORS[i],
                    row.name,
                    IMPLS[i]
                );
                continue;
            }
            // The peer's cost relative to zsync's is zsync's advantage over it.
            let cost = row.advantage(i);
            if !cost.is_finite() || cost <= 0.0 {
                continue;
            }
            let cost = cost.clamp(0.01, 1000.0);
            let (top_y, base) = (y(cost).min(y(1.0)), y(cost).max(y(1.0)));
            out += &format!(
                r#"<rect x="{}" y="{top_y:.1}" width="{bar_w}" height="{:.1}" fill="{}"><title>{} {}: {} {} ({:.2}x zsync's cost)</title></rect>
"#,
                x,
                (base - top_y).max(1.5),
                COLORS[i],
                row.name,
                IMPLS[i],
                number(row.values[i]),
                row.unit,
                cost
            );
        }
        // Workload names run downwards under their group so that long names do not collide.
        let (lx, ly) = (x0 + group_w / 2.0 - 8.0, top + plot_h + 12.0);
        out += &format!(
            r#"<text x="{lx}" y="{ly}" transform="rotate(30 {lx} {ly})">{}</text>
"#,
            row.name
        );
    }
    for (i, name) in IMPLS.iter().enumerate() {
        let x = left + 100.0 * i as f64;
        let ly = top + plot_h + 90.0;
        out += &format!(
            r#"<rect x="{x}" y="{}" width="12" height="12" fill="{}"/><text x="{}" y="{ly}">{name}</text>
"#,
            ly - 10.0,
            COLORS[i],
            x + 16.0,
        );
    }
    out + "</svg>\n"
}
