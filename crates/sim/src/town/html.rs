//! The HTML report: one self-contained page (inline CSS and SVG, no
//! scripts, no external assets) with the colors over time, precision and
//! recall beside the GAEN-style baseline, and the attenuation histogram.

use super::{Outcome, START_DAY};
use std::fmt::Write as _;

const GREEN: &str = "#2e9e4f";
const YELLOW: &str = "#e0b000";
const RED: &str = "#c9302c";
const BLUE: &str = "#3a6fb0";
const GREY: &str = "#8a8f98";
const LIGHT_BLUE: &str = "#9cc0e8";

/// Escapes text for HTML.
fn esc(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// The page.
pub(super) fn render(o: &Outcome) -> String {
    let mut page = String::new();
    let opts = &o.options;
    let _ = write!(
        page,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Greenlight town simulation</title>\
         <style>body{{font-family:system-ui,sans-serif;max-width:960px;margin:2em auto;color:#222}}\
         table{{border-collapse:collapse}}td,th{{padding:2px 10px;text-align:right;border-bottom:1px solid #ddd}}\
         th:first-child,td:first-child{{text-align:left;white-space:nowrap}}svg{{background:#fafafa;border:1px solid #ddd}}\
         .note{{color:#555;font-size:90%}}</style></head><body>"
    );
    let _ = write!(
        page,
        "<h1>Greenlight town simulation</h1><p>{} residents, {} days from {}, seed {}. {} residents infected, {} reported \
         through the staff portal and the client; {} residents were ground-truth close contacts of a reporter \
         ({} of them through a venue visit only). {} check-ins at the posters of buses, restaurants and shops; \
         {} visits revealed by reporters, {} venue cases traced through the portal.</p>",
        opts.residents,
        opts.days,
        START_DAY.iso_date(),
        opts.seed,
        o.infected,
        o.reported,
        o.should_be_yellow,
        o.venue_only,
        o.scans,
        o.revealed,
        o.cases
    );

    page.push_str("<h2>Residents by color, end of each day</h2>");
    page.push_str(&colors_chart(o));
    page.push_str(&days_table(o));

    page.push_str("<h2>Who should have turned yellow, and who did</h2>");
    page.push_str(&scores_chart(o));
    page.push_str(
        "<p class=\"note\">Precision: of the phones that turned yellow, the share that really were close contacts \
         of someone who reported. Recall: of the real close contacts, the share whose phone turned yellow. Right, \
         false and missed alerts are counts of phones; hours to alert run from the positive test to the phone \
         turning yellow (median, and the slowest tenth from p90).</p>",
    );
    page.push_str("<table><tr><th></th><th>precision</th><th>recall</th><th>F1</th><th>right alerts</th><th>false alerts</th><th>missed</th><th>median hours to alert</th><th>p90</th></tr>");
    for (name, s) in [
        ("Greenlight (signed policy)", &o.greenlight),
        ("Greenlight, Bluetooth alone", &o.bluetooth_only),
        ("GAEN-style default", &o.gaen),
    ] {
        let h = |q: f64| s.delay_quantile(q).map_or("-".to_owned(), |v| format!("{v:.1}"));
        let _ = write!(
            page,
            "<tr><td>{name}</td><td>{:.1}%</td><td>{:.1}%</td><td>{:.3}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            100.0 * s.precision(),
            100.0 * s.recall(),
            s.f1(),
            s.true_positives,
            s.false_positives,
            s.false_negatives,
            h(0.5),
            h(0.9)
        );
    }
    page.push_str("</table>");
    let p = &o.policy;
    let _ = write!(
        page,
        "<p class=\"note\">Signed policy: attenuation buckets at {:?} dB weighted {:?} %, at least {} weighted minutes \
         a day, transmission risk at least {}. GAEN-style default: under {} dB full, under {} dB half, at least 15 \
         weighted minutes a day, same transmission-risk window, no venue check-ins. All score the same matches of the \
         same sightings; venue visits count from this much time inside a traced window: {}. Hours to alert count \
         from the positive result.</p>",
        p.attenuation_thresholds_db,
        p.bucket_weights_percent,
        p.min_weighted_minutes_per_day,
        p.min_transmission_risk,
        super::score::GAEN_THRESHOLDS_DB[0],
        super::score::GAEN_THRESHOLDS_DB[1],
        super::strategies::venue_overlaps_text(&p.min_venue_overlap_minutes)
    );

    if !o.strategies.is_empty() {
        page.push_str(&strategies_section(o));
    }

    page.push_str("<h2>Attenuation of sightings by true distance</h2>");
    page.push_str(&histogram_chart(o));
    let _ = write!(
        page,
        "<p class=\"note\">Sightings of phones whose keys were later published, as the client computes attenuation \
         (advertised transmit power minus received strength): the lower, the closer. In all, phones heard one \
         another's broadcasts {} times and held {} of those sightings at the end; they checked {} published files \
         with {} keys of people who reported. Generated by <code>greenlight-sim</code>.</p>",
        o.receptions, o.stored_sightings, o.batches, o.keys_downloaded
    );
    page.push_str("</body></html>\n");
    page
}

/// The colour chart's frame: the plot area inside the picture, leaving
/// room for the y-axis (left), the dates (below) and the legend (right),
/// so that nothing is drawn over the data.
struct Frame {
    width: f64,
    height: f64,
    left: f64,
    right: f64,
    top: f64,
    bottom: f64,
}

const COLORS_FRAME: Frame = Frame { width: 900.0, height: 280.0, left: 70.0, right: 780.0, top: 30.0, bottom: 240.0 };

/// A round step for about five ticks up to `max`.
fn tick_step(max: f64) -> f64 {
    let raw = (max / 5.0).max(1.0);
    let magnitude = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * magnitude).find(|s| *s >= raw).unwrap_or(10.0 * magnitude)
}

/// A chart's y-axis in `f`: the line, a tick and its number every `step`
/// up to `top`, and `label` written up the axis; `y` maps a value to its
/// height.
fn y_axis(svg: &mut String, f: &Frame, top: f64, step: f64, label: &str, y: &dyn Fn(f64) -> f64) {
    let _ = write!(
        svg,
        "<line class=\"y-axis\" x1=\"{l}\" y1=\"{t}\" x2=\"{l}\" y2=\"{b}\" stroke=\"#444\"/>",
        l = f.left,
        t = f.top,
        b = f.bottom
    );
    let mut tick = 0.0;
    while tick <= top + 0.5 {
        let _ = write!(
            svg,
            "<line x1=\"{:.1}\" y1=\"{yy:.1}\" x2=\"{l}\" y2=\"{yy:.1}\" stroke=\"#444\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\" text-anchor=\"end\">{tick}</text>",
            f.left - 4.0,
            f.left - 6.0,
            y(tick) + 3.0,
            yy = y(tick),
            l = f.left,
        );
        tick += step;
    }
    let _ = write!(
        svg,
        "<text class=\"axis-label\" x=\"14\" y=\"{mid:.1}\" font-size=\"11\" text-anchor=\"middle\" \
         transform=\"rotate(-90 14 {mid:.1})\">{}</text>",
        esc(label),
        mid = (f.top + f.bottom) / 2.0
    );
}

/// The date (month-day) under each of `days` days, at `x(day)`.
fn day_labels(svg: &mut String, f: &Frame, days: usize, x: &dyn Fn(usize) -> f64) {
    for i in 0..days {
        let date = START_DAY.plus(u32::try_from(i).unwrap_or(0)).iso_date().to_string();
        let _ = write!(
            svg,
            "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\" text-anchor=\"middle\">{}</text>",
            x(i),
            f.bottom + 14.0,
            esc(&date[5..])
        );
    }
}

/// Stacked areas: green, yellow, red per day, with a y-axis of residents
/// and the legend beside the plot.
fn colors_chart(o: &Outcome) -> String {
    let f = &COLORS_FRAME;
    let total = f64::from(o.options.residents.max(1));
    let n = o.colors.len().max(2);
    let x = |i: usize| f.left + (f.right - f.left) * i as f64 / (n - 1) as f64;
    let y = |v: f64| f.bottom - (f.bottom - f.top) * v / total;
    let (w, h) = (f.width, f.height);
    let mut svg = format!(
        "<svg width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"residents by color, end of each day\">"
    );
    // Bands from the bottom: red, yellow, green.
    let layers: [(usize, &str); 3] = [(2, RED), (1, YELLOW), (0, GREEN)];
    let mut base = vec![0.0f64; o.colors.len()];
    for (index, color) in layers {
        let top: Vec<f64> = o.colors.iter().zip(&base).map(|(c, b)| b + f64::from(c[index])).collect();
        let mut points = String::new();
        for (i, t) in top.iter().enumerate() {
            let _ = write!(points, "{:.1},{:.1} ", x(i), y(*t));
        }
        for (i, b) in base.iter().enumerate().rev() {
            let _ = write!(points, "{:.1},{:.1} ", x(i), y(*b));
        }
        let _ = write!(svg, "<polygon points=\"{points}\" fill=\"{color}\" opacity=\"0.85\"/>");
        base = top;
    }
    // The y-axis: residents, with round ticks.
    y_axis(&mut svg, f, total, tick_step(total), "residents", &y);
    day_labels(&mut svg, f, o.colors.len(), &x);
    let _ = write!(
        svg,
        "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"middle\">day (end of)</text>",
        (f.left + f.right) / 2.0,
        h - 8.0
    );
    // The legend, right of the plot area.
    let _ = write!(svg, "<g class=\"legend\">");
    for (label, c, row) in [("red", RED, 0), ("yellow", YELLOW, 1), ("green", GREEN, 2)] {
        let yy = f.top + 10.0 + 16.0 * f64::from(row);
        let _ = write!(
            svg,
            "<rect x=\"{}\" y=\"{}\" width=\"10\" height=\"10\" fill=\"{c}\"/><text x=\"{}\" y=\"{}\" font-size=\"11\">{label}</text>",
            f.right + 20.0,
            yy - 9.0,
            f.right + 35.0,
            yy
        );
    }
    svg.push_str("</g>");
    let last = o.colors.last().copied().unwrap_or_default();
    let _ = write!(
        svg,
        "<text x=\"{}\" y=\"16\" font-size=\"11\">last day: {} green, {} yellow, {} red</text></svg>",
        f.left, last[0], last[1], last[2]
    );
    svg
}

/// The strategies side by side: their table, the epidemic curves and the
/// residents yellow per day.
fn strategies_section(o: &Outcome) -> String {
    let mut page = String::new();
    let n = f64::from(o.options.residents.max(1));
    let no_app = o.strategies[0].metrics.infections;
    let _ = write!(
        page,
        "<h2>Strategies side by side</h2><p class=\"note\">Each strategy is its own pass over the same town and seed: \
         the same epidemic until its first alert, then residents who turn yellow stay home for {} days ({:.0} % of \
         them comply) and meet no one at work, on a bus or in a venue. Cases stay home for {} days in every \
         strategy.</p><table><tr><th></th><th>infected</th><th>averted</th><th>quarantine person-days</th>\
         <th>of people never infected</th><th>alerted per case</th><th>alerted who were infected</th>\
         <th>ever yellow</th><th>yellow at most at once</th><th>median hours to alert</th></tr>",
        super::truth::YELLOW_DAYS,
        100.0 * o.options.behaviour.compliance,
        super::truth::RED_DAYS
    );
    for s in &o.strategies {
        let m = &s.metrics;
        let _ = write!(
            page,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{:.0}</td><td>{:.0}</td><td>{:.1}</td><td>{}</td><td>{:.1}%</td>\
             <td>{:.1}%</td><td>{}</td></tr>",
            esc(&s.name),
            m.infections,
            i64::from(no_app) - i64::from(m.infections),
            m.quarantine_days,
            m.quarantine_days_uninfected,
            m.notifications_per_reporter(),
            m.attack_rate().map_or("-".to_owned(), |r| format!("{:.1}%", 100.0 * r)),
            100.0 * f64::from(m.notified) / n,
            100.0 * f64::from(m.peak_yellow) / n,
            m.hours_quantile(0.5).map_or("-".to_owned(), |h| format!("{h:.1}"))
        );
    }
    page.push_str("</table>");
    let palette = [GREY, RED, LIGHT_BLUE, BLUE, GREEN, YELLOW, "#7a4fb0", "#b05f2e"];
    let series = |f: &dyn Fn(&super::strategies::Metrics) -> Vec<u32>| -> Vec<(&str, &'static str, Vec<f64>)> {
        o.strategies
            .iter()
            .zip(palette)
            .map(|(s, c)| (s.name.as_str(), c, f(&s.metrics).into_iter().map(f64::from).collect()))
            .collect()
    };
    page.push_str("<h3>New infections per day</h3>");
    page.push_str(&lines_chart("new infections", &series(&|m| m.infections_per_day.clone())));
    page.push_str("<h3>Residents yellow, end of each day</h3>");
    page.push_str(&lines_chart("residents yellow", &series(&|m| m.yellow_per_day.clone())));
    page
}

/// One line per series over the days, a labelled y-axis and the legend
/// beside the plot.
fn lines_chart(label: &str, series: &[(&str, &str, Vec<f64>)]) -> String {
    let f = &Frame { right: 730.0, ..COLORS_FRAME };
    let days = series.iter().map(|s| s.2.len()).max().unwrap_or(0).max(2);
    let max = series.iter().flat_map(|s| s.2.iter().copied()).fold(1.0f64, f64::max);
    let step = tick_step(max);
    let top = (max / step).ceil() * step;
    let x = |i: usize| f.left + (f.right - f.left) * i as f64 / (days - 1) as f64;
    let y = |v: f64| f.bottom - (f.bottom - f.top) * v / top;
    let (w, h) = (f.width, f.height);
    let mut svg = format!(
        "<svg width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"{}\">",
        esc(label)
    );
    y_axis(&mut svg, f, top, step, label, &y);
    day_labels(&mut svg, f, days, &x);
    for (_, color, values) in series {
        let points: Vec<String> = values.iter().enumerate().map(|(i, v)| format!("{:.1},{:.1}", x(i), y(*v))).collect();
        let _ = write!(
            svg,
            "<polyline points=\"{}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"2\"/>",
            points.join(" ")
        );
    }
    let _ = write!(svg, "<g class=\"legend\">");
    for (row, (name, color, _)) in series.iter().enumerate() {
        let yy = f.top + 10.0 + 16.0 * row as f64;
        let _ = write!(
            svg,
            "<rect x=\"{}\" y=\"{}\" width=\"10\" height=\"10\" fill=\"{color}\"/><text x=\"{}\" y=\"{}\" font-size=\"9\">{}</text>",
            f.right + 8.0,
            yy - 9.0,
            f.right + 21.0,
            yy,
            esc(name)
        );
    }
    svg.push_str("</g></svg>");
    svg
}

/// The day-by-day table under the colour chart, every column named.
fn days_table(o: &Outcome) -> String {
    let mut table = String::from(
        "<table class=\"days\"><tr><th>day</th><th>green</th><th>yellow</th><th>red</th>\
         <th>newly infected (simulated truth; no phone knows it)</th><th>reported a positive test</th></tr>",
    );
    for (i, c) in o.colors.iter().enumerate() {
        let date = START_DAY.plus(u32::try_from(i).unwrap_or(0)).iso_date().to_string();
        let _ = write!(
            table,
            "<tr><td>{date}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            c[0],
            c[1],
            c[2],
            o.infections_per_day.get(i).copied().unwrap_or(0),
            o.reports_per_day.get(i).copied().unwrap_or(0)
        );
    }
    table.push_str("</table>");
    table
}

/// Grouped bars: precision, recall, F1 for both.
fn scores_chart(o: &Outcome) -> String {
    let (w, h, pad) = (680.0f64, 220.0f64, 30.0f64);
    let mut svg = format!(
        "<svg width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"precision and recall\">"
    );
    let (g, b, gaen) = (&o.greenlight, &o.bluetooth_only, &o.gaen);
    let metrics = [
        ("precision", [g.precision(), b.precision(), gaen.precision()]),
        ("recall", [g.recall(), b.recall(), gaen.recall()]),
        ("F1", [g.f1(), b.f1(), gaen.f1()]),
    ];
    for (i, (name, values)) in metrics.iter().enumerate() {
        let x0 = pad + 180.0 * i as f64;
        for (k, (v, color)) in values.iter().zip([BLUE, LIGHT_BLUE, GREY]).enumerate() {
            let bh = (h - 2.0 * pad) * v;
            let x = x0 + 5.0 + 52.0 * k as f64;
            let _ = write!(
                svg,
                "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"46\" height=\"{bh:.1}\" fill=\"{color}\"/>\
                 <text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"middle\">{:.0}%</text>",
                h - pad - bh,
                x + 23.0,
                h - pad - bh - 4.0,
                100.0 * v
            );
        }
        let _ = write!(
            svg,
            "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"12\" text-anchor=\"middle\">{name}</text>",
            x0 + 83.0,
            h - 10.0
        );
    }
    let _ = write!(
        svg,
        "<rect x=\"{lx}\" y=\"8\" width=\"10\" height=\"10\" fill=\"{BLUE}\"/><text x=\"{tx}\" y=\"17\" font-size=\"11\">Greenlight</text>\
         <rect x=\"{lx}\" y=\"24\" width=\"10\" height=\"10\" fill=\"{LIGHT_BLUE}\"/><text x=\"{tx}\" y=\"33\" font-size=\"11\">Bluetooth alone</text>\
         <rect x=\"{lx}\" y=\"40\" width=\"10\" height=\"10\" fill=\"{GREY}\"/><text x=\"{tx}\" y=\"49\" font-size=\"11\">GAEN-style</text></svg>",
        lx = w - 110.0,
        tx = w - 95.0,
    );
    svg
}

/// Two overlaid histograms: within 2 m and farther, each normalised.
fn histogram_chart(o: &Outcome) -> String {
    let (w, h, pad) = (900.0f64, 240.0f64, 40.0f64);
    let bins = o.histogram[0].len();
    let mut svg = format!(
        "<svg width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"attenuation histogram\">"
    );
    let bw = (w - 2.0 * pad) / bins as f64;
    for (series, color, label) in [(0usize, RED, "within 2 m"), (1, BLUE, "farther than 2 m")] {
        let total: u64 = o.histogram[series].iter().sum();
        let max = o.histogram[series].iter().copied().max().unwrap_or(0).max(1);
        for (i, &count) in o.histogram[series].iter().enumerate() {
            let bh = (h - 2.0 * pad) * count as f64 / max as f64;
            let x = pad + bw * i as f64;
            let _ = write!(
                svg,
                "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{bh:.1}\" fill=\"{color}\" opacity=\"0.45\"/>",
                h - pad - bh,
                bw * 0.95
            );
        }
        let yy = 16.0 + 14.0 * series as f64;
        let _ = write!(
            svg,
            "<rect x=\"{}\" y=\"{}\" width=\"10\" height=\"10\" fill=\"{color}\" opacity=\"0.6\"/><text x=\"{}\" y=\"{yy}\" font-size=\"11\">{label} ({total} sightings)</text>",
            w - 260.0,
            yy - 9.0,
            w - 245.0
        );
    }
    for db in (0..=118).step_by(10) {
        let x = pad + bw * (db as f64 / f64::from(super::phones::BIN_DB));
        let _ = write!(
            svg,
            "<text x=\"{x:.1}\" y=\"{:.1}\" font-size=\"10\" text-anchor=\"middle\">{db}</text>",
            h - pad + 14.0
        );
    }
    let _ = write!(
        svg,
        "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"middle\">signal loss (attenuation), dB</text>\
         <text class=\"axis-label\" x=\"14\" y=\"{mid:.1}\" font-size=\"11\" text-anchor=\"middle\" \
         transform=\"rotate(-90 14 {mid:.1})\">sightings (each kind scaled to its peak)</text></svg>",
        w / 2.0,
        h - 6.0,
        mid = h / 2.0
    );
    svg
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::town::score::Scores;
    use crate::town::{Options, PolicyChoice};

    fn outcome() -> Outcome {
        Outcome {
            options: Options {
                residents: 300,
                days: 3,
                seed_cases: 4,
                seed: 1,
                database_url: None,
                progress: false,
                policy: PolicyChoice::Close,
                shared_work: true,
                behaviour: crate::town::Behaviour::default(),
                strategies: true,
                candidates: Vec::new(),
            },
            places: Vec::new(),
            place_kinds: Vec::new(),
            colors: vec![[300, 0, 0], [280, 18, 2], [290, 7, 3]],
            infections_per_day: vec![4, 6, 2],
            infected: 12,
            reports_per_day: vec![0, 2, 1],
            reported: 3,
            should_be_yellow: 20,
            venue_only: 4,
            greenlight: Scores::default(),
            bluetooth_only: Scores::default(),
            gaen: Scores::default(),
            histogram: [[1; crate::town::phones::BINS]; 2],
            batches: 5,
            keys_downloaded: 40,
            receptions: 38_791_584,
            stored_sightings: 572_499,
            exposures: 0,
            stays: 0,
            scans: 0,
            revealed: 0,
            cases: 0,
            trace_batches: 0,
            policy: *greenlight_protocol::policy::ColorPolicy::recommended(1, START_DAY.start()).params(),
            strategies: Vec::new(),
            seconds: [0.0; 4],
            ends: Vec::new(),
        }
    }

    fn number(node: roxmltree::Node<'_, '_>, attribute: &str) -> f64 {
        node.attribute(attribute).and_then(|v| v.parse().ok()).unwrap_or_else(|| panic!("{attribute} of {node:?}"))
    }

    /// Issue 21 item 21: the colour chart has a labelled y-axis of
    /// residents and its legend beside the plot, never over the data.
    #[test]
    fn the_color_chart_has_a_labelled_y_axis_and_its_legend_outside_the_plot() {
        let svg = colors_chart(&outcome());
        let doc = roxmltree::Document::parse(&svg).expect("the chart is well-formed SVG");
        let texts: Vec<&str> = doc.descendants().filter(|n| n.has_tag_name("text")).filter_map(|n| n.text()).collect();
        let label = doc.descendants().find(|n| n.attribute("class") == Some("axis-label")).expect("a y-axis label");
        assert_eq!(label.text(), Some("residents"));
        assert!(label.attribute("transform").is_some_and(|t| t.starts_with("rotate(-90")), "written up the axis");
        for tick in ["0", "100", "200", "300"] {
            assert!(texts.contains(&tick), "tick {tick} on the y-axis: {texts:?}");
        }
        // The plot: every point of the coloured areas.
        let points: Vec<(f64, f64)> = doc
            .descendants()
            .filter(|n| n.has_tag_name("polygon"))
            .flat_map(|n| n.attribute("points").unwrap_or("").split_whitespace().map(str::to_owned).collect::<Vec<_>>())
            .map(|p| {
                let (x, y) = p.split_once(',').expect("x,y");
                (x.parse().expect("x"), y.parse().expect("y"))
            })
            .collect();
        let right = points.iter().map(|p| p.0).fold(f64::MIN, f64::max);
        let legend = doc.descendants().find(|n| n.attribute("class") == Some("legend")).expect("a legend");
        let boxes: Vec<_> = legend.children().filter(|n| n.has_tag_name("rect")).collect();
        assert_eq!(boxes.len(), 3);
        for rect in boxes {
            assert!(
                number(rect, "x") > right,
                "legend box at x {} is right of the plot (ends at {right})",
                number(rect, "x")
            );
        }
    }

    /// Issue 22 item 7: the strategies side by side, a row each in the
    /// table and a line each in the epidemic and yellow charts.
    #[test]
    fn the_report_shows_the_strategies_side_by_side() {
        let mut o = outcome();
        for (name, infections) in [("no app", 9), ("centralized health code", 5)] {
            let metrics = crate::town::strategies::Metrics {
                infections,
                infections_per_day: vec![3, 4, 2],
                yellow_per_day: vec![0, 40, 30],
                ..Default::default()
            };
            o.strategies.push(crate::town::StrategyRun {
                name: name.into(),
                key: name.into(),
                seconds: 0.0,
                metrics,
                transmissions: Vec::new(),
                first_result: None,
                first_upload: None,
            });
        }
        let page = render(&o);
        assert!(page.contains("<h2>Strategies side by side</h2>"), "{page}");
        assert!(page.contains("<tr><td>centralized health code</td><td>5</td><td>4</td>"), "averted against no app");
        assert_eq!(page.matches("<polyline").count(), 4, "two charts, a line per strategy");
        assert!(!render(&outcome()).contains("Strategies side by side"), "no section without strategies");
    }

    /// Every column of the day table is named, and the totals are told in
    /// words a health official reads, not "receptions".
    #[test]
    fn the_report_names_its_columns_and_says_what_the_radio_figures_mean() {
        let page = render(&outcome());
        assert!(page.contains("<th>newly infected (simulated truth; no phone knows it)</th>"), "{page}");
        assert!(page.contains("<th>reported a positive test</th>"));
        assert!(
            page.contains("phones heard one another's broadcasts 38791584 times and held 572499 of those sightings")
        );
        assert!(!page.contains("receptions"), "no jargon");
        assert!(page.contains("<th>right alerts</th><th>false alerts</th><th>missed</th>"));
    }
}
