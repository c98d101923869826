//! Pictures of a [`PhysicalPlan`]: text for `explain`, Graphviz DOT, and an SVG drawn
//! here (no Graphviz needed). All three render the plan object the executor runs;
//! with [`Analyzed`] (after a run) each operator shows its estimate beside what it
//! actually did.
//!
//! The SVG is a layered drawing of the operator graph: the query's output on top,
//! each operator above the operators it reads, a node's width fixed and its text cut
//! to fit. Leaves take consecutive columns in depth-first order and every other node
//! sits centred over its inputs, so edges never cross within a tree; a shared result
//! read twice gets one node with two outgoing edges. Colours tell scans, streaming
//! operators, breakers (double border), breakers expected or seen to spill, and the
//! output apart.

use std::collections::HashMap;
use std::fmt::Write as _;

use super::physical::{Estimate, OperatorId, OperatorKind, PhysicalOperator, PhysicalPlan};
use crate::metrics::{human_bytes, OperatorMetrics, QueryMetrics};

/// What a finished run adds to the picture.
pub struct Analyzed {
    /// Per operator, by id.
    pub metrics: QueryMetrics,
    /// Rows of the result.
    pub rows: usize,
    pub seconds: f64,
    /// The pool's high-water mark during the run, and its limit.
    pub pool_peak: usize,
    pub pool_limit: usize,
}

/// How `explain` renders a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExplainFormat {
    Text,
    Dot,
    Svg,
}

impl std::str::FromStr for ExplainFormat {
    type Err = crate::error::Error;
    fn from_str(s: &str) -> crate::error::Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "text" => Ok(ExplainFormat::Text),
            "dot" => Ok(ExplainFormat::Dot),
            "svg" => Ok(ExplainFormat::Svg),
            other => Err(crate::error::Error::Config(format!(
                "unknown explain format '{other}' (text, dot or svg)"
            ))),
        }
    }
}

/// The operator's kind as a short name.
fn kind_name(op: &PhysicalOperator) -> &'static str {
    match &op.kind {
        OperatorKind::Scan(_) => "Scan",
        OperatorKind::Values(_) => "Values",
        OperatorKind::Filter { .. } => "Filter",
        OperatorKind::Project { .. } => "Project",
        OperatorKind::Expand { .. } => "Expand",
        OperatorKind::HashAggregate(_) => "HashAggregate",
        OperatorKind::Sort { .. } => "ExternalSort",
        OperatorKind::TopK { .. } => "TopK",
        OperatorKind::Window(_) => "Window",
        OperatorKind::Limit { .. } => "Limit",
        OperatorKind::HashJoin(_) => "HashJoin",
        OperatorKind::Materialize { .. } => "Materialize",
        OperatorKind::Union => "Union",
        OperatorKind::Output(_) => "Output",
    }
}

/// Whether the operator holds state across its input (a pipeline breaker).
fn is_breaker(op: &PhysicalOperator) -> bool {
    matches!(
        op.kind,
        OperatorKind::HashAggregate(_)
            | OperatorKind::Sort { .. }
            | OperatorKind::Window(_)
            | OperatorKind::TopK { .. }
            | OperatorKind::Limit { .. }
            | OperatorKind::HashJoin(_)
            | OperatorKind::Materialize { .. }
    )
}

/// What an operator does as a pipeline's source.
fn source_role(op: &PhysicalOperator) -> &'static str {
    match op.kind {
        OperatorKind::HashAggregate(_) => " (final)",
        OperatorKind::Sort { .. } => " (merge)",
        OperatorKind::Window(_) => " (windows)",
        OperatorKind::TopK { .. } | OperatorKind::Limit { .. } => " (rows)",
        OperatorKind::HashJoin(_) => " (tail)",
        OperatorKind::Materialize { .. } => " (read)",
        _ => "",
    }
}

/// What an operator does as a pipeline's sink.
fn sink_role(op: &PhysicalOperator) -> &'static str {
    match op.kind {
        OperatorKind::HashAggregate(_) => " (partial)",
        OperatorKind::Sort { .. } | OperatorKind::Window(_) => " (sorted runs)",
        OperatorKind::HashJoin(_) => " (build)",
        OperatorKind::Materialize { .. } => " (collect)",
        _ => "",
    }
}

fn rows(v: f64) -> String {
    format!("{:.0}", v.max(0.0))
}

fn estimate_line(e: &Estimate) -> String {
    let mut line = format!("rows ~{}", rows(e.rows));
    if e.memory > 0 {
        let _ = write!(line, ", memory ~{}", human_bytes(e.memory));
    }
    if e.spills() {
        let _ = write!(line, ", spills ~{}", human_bytes(e.spill));
    }
    line
}

fn actual_line(m: &OperatorMetrics) -> String {
    let mut line = format!("rows {}", m.rows_out());
    if m.peak_reserved() > 0 {
        let _ = write!(line, ", peak {}", human_bytes(m.peak_reserved() as u64));
    }
    if m.spill_files() > 0 {
        let _ = write!(
            line,
            ", spilled {} ({} files)",
            human_bytes(m.spilled_bytes()),
            m.spill_files()
        );
    }
    let _ = write!(line, ", {:.1} ms", m.time().as_secs_f64() * 1000.0);
    line
}

/// The `explain` text: the pipelines, then every operator with its estimates (and,
/// after a run, its actuals).
pub fn text(plan: &PhysicalPlan, analyzed: Option<&Analyzed>) -> String {
    let mut out = String::new();
    let s = &plan.settings;
    let _ = writeln!(out, "Pipelines:");
    for (i, p) in plan.pipelines.iter().enumerate() {
        let mut steps = vec![];
        if let Some(o) = plan.operators.get(p.source) {
            steps.push(format!("#{} {}{}", o.id, kind_name(o), source_role(o)));
        }
        for &id in &p.operators {
            if let Some(o) = plan.operators.get(id) {
                let role = if matches!(o.kind, OperatorKind::HashJoin(_)) {
                    " (probe)"
                } else {
                    ""
                };
                steps.push(format!("#{} {}{role}", o.id, kind_name(o)));
            }
        }
        if let Some(o) = plan.operators.get(p.sink) {
            steps.push(format!("#{} {}{}", o.id, kind_name(o), sink_role(o)));
        }
        let _ = writeln!(out, "Pipeline {}: {}", i + 1, steps.join(" -> "));
    }
    let _ = writeln!(
        out,
        "\nOperators (estimates at a {} memory limit, {} threads):",
        human_bytes(s.memory_limit as u64),
        s.threads
    );
    for o in &plan.operators {
        let _ = writeln!(out, "#{} {}", o.id, o.label);
        let mut line = format!("    estimate: {}", estimate_line(&o.estimate));
        if is_breaker(o) {
            line.push_str(if o.estimate.spills() {
                "; expected to spill"
            } else {
                "; expected in memory"
            });
        }
        let _ = writeln!(out, "{line}");
        if let Some(a) = analyzed {
            if let Ok(m) = a.metrics.get(o.id) {
                let mut line = format!("    actual:   {}", actual_line(&m));
                let note = m.note();
                if !note.is_empty() {
                    let _ = write!(line, "; {note}");
                }
                let _ = writeln!(out, "{line}");
            }
        }
    }
    if let Some(a) = analyzed {
        let spilled: u64 = a.metrics.spilled_bytes();
        let in_flight = a
            .metrics
            .operators()
            .iter()
            .map(|m| m.in_flight_peak())
            .max()
            .unwrap_or(0);
        let _ = writeln!(
            out,
            "\ntotal: {} rows in {:.3} s; pool peak {} of {}; spilled {} in {} files; \
             largest morsel in flight {} (unreserved, at most one per worker)",
            a.rows,
            a.seconds,
            human_bytes(a.pool_peak as u64),
            human_bytes(a.pool_limit as u64),
            human_bytes(spilled),
            a.metrics.spill_files(),
            human_bytes(in_flight as u64),
        );
    }
    out
}

/// Escapes text for a DOT label.
fn dot_escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// Cuts `s` to at most `n` characters (an ellipsis marks the cut).
fn cut(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        return s.to_string();
    }
    let mut t: String = s.chars().take(n.saturating_sub(1)).collect();
    t.push('…');
    t
}

/// The lines shown in a node.
fn node_lines(o: &PhysicalOperator, analyzed: Option<&Analyzed>, width: usize) -> Vec<String> {
    let mut lines = vec![cut(&format!("#{} {}", o.id, o.label), width)];
    lines.push(cut(&format!("est: {}", estimate_line(&o.estimate)), width));
    if let Some(m) = analyzed.and_then(|a| a.metrics.get(o.id).ok()) {
        lines.push(cut(&format!("actual: {}", actual_line(&m)), width));
    }
    lines
}

/// Whether `o` spilled (after a run) or is expected to (before).
fn spills(o: &PhysicalOperator, analyzed: Option<&Analyzed>) -> bool {
    match analyzed.and_then(|a| a.metrics.get(o.id).ok()) {
        Some(m) => m.spill_files() > 0,
        None => o.estimate.spills(),
    }
}

/// Fill colour by role.
fn colour(o: &PhysicalOperator, analyzed: Option<&Analyzed>) -> &'static str {
    match o.kind {
        OperatorKind::Scan(_) | OperatorKind::Values(_) => "#dbe9f6",
        OperatorKind::Output(_) => "#dcf0dc",
        _ if is_breaker(o) && spills(o, analyzed) => "#f8d0c8",
        _ if is_breaker(o) => "#fbefc9",
        _ => "#ffffff",
    }
}

/// Which pipelines each edge (input → consumer) belongs to, for labels.
fn edge_pipelines(plan: &PhysicalPlan) -> HashMap<(OperatorId, OperatorId), Vec<usize>> {
    let mut edges: HashMap<(OperatorId, OperatorId), Vec<usize>> = HashMap::new();
    for (i, p) in plan.pipelines.iter().enumerate() {
        let chain: Vec<OperatorId> = std::iter::once(p.source)
            .chain(p.operators.iter().copied())
            .chain(std::iter::once(p.sink))
            .collect();
        for w in chain.windows(2) {
            edges.entry((w[0], w[1])).or_default().push(i + 1);
        }
    }
    edges
}

/// The label of edge `input → consumer`.
fn edge_label(
    plan: &PhysicalPlan,
    pipelines: &HashMap<(OperatorId, OperatorId), Vec<usize>>,
    input: OperatorId,
    consumer: &PhysicalOperator,
) -> String {
    let mut label = match &consumer.kind {
        OperatorKind::HashJoin(_) if consumer.inputs.first() == Some(&input) => "build".to_string(),
        OperatorKind::HashJoin(_) => "probe".to_string(),
        _ => String::new(),
    };
    // Pipelines are edges between a pipeline's parts; a union's inputs feed its
    // consumer directly, so look one step further through a union.
    let mut numbers: Vec<usize> = pipelines
        .get(&(input, consumer.id))
        .cloned()
        .unwrap_or_default();
    if numbers.is_empty() {
        for ((from, _), ps) in pipelines.iter().filter(|((from, _), _)| *from == input) {
            let _ = from;
            numbers.extend(ps);
        }
        numbers.sort_unstable();
        numbers.dedup();
    }
    if !numbers.is_empty() && plan.pipelines.len() > 1 {
        let list: Vec<String> = numbers.iter().map(|n| n.to_string()).collect();
        if !label.is_empty() {
            label.push(' ');
        }
        let _ = write!(label, "P{}", list.join(",P"));
    }
    label
}

/// Graphviz DOT of the operator graph: data flows upwards, from the scans to the
/// output; breakers have a double border, spilling ones a red fill; edges name the
/// pipelines that carry them.
pub fn dot(plan: &PhysicalPlan, analyzed: Option<&Analyzed>) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "digraph floe {{");
    let _ = writeln!(out, "  rankdir=BT;");
    let _ = writeln!(
        out,
        "  node [shape=box, style=\"rounded,filled\", fontname=\"monospace\", fontsize=10];"
    );
    let _ = writeln!(out, "  edge [fontname=\"monospace\", fontsize=9];");
    for o in &plan.operators {
        let label = node_lines(o, analyzed, 72)
            .iter()
            .map(|l| dot_escape(l))
            .collect::<Vec<_>>()
            .join("\\l");
        let periph = if is_breaker(o) { 2 } else { 1 };
        let _ = writeln!(
            out,
            "  op{} [label=\"{}\\l\", fillcolor=\"{}\", peripheries={}];",
            o.id,
            label,
            colour(o, analyzed),
            periph
        );
    }
    let pipelines = edge_pipelines(plan);
    for o in &plan.operators {
        for &input in &o.inputs {
            let label = edge_label(plan, &pipelines, input, o);
            let _ = writeln!(
                out,
                "  op{input} -> op{} [label=\"{}\"];",
                o.id,
                dot_escape(&label)
            );
        }
    }
    let _ = writeln!(out, "}}");
    out
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Where each node goes: (column centre in slots, layer from the top).
struct Layout {
    x: Vec<f64>,
    layer: Vec<usize>,
    columns: f64,
    layers: usize,
}

fn layout(plan: &PhysicalPlan) -> Layout {
    let n = plan.operators.len();
    // Layer: longest path from the output, so a shared node sits below all readers.
    let mut layer = vec![0usize; n];
    let root = plan.output().map(|o| o.id).unwrap_or(n.saturating_sub(1));
    // Relax edges (inputs are deeper than consumers); at most n rounds.
    for _ in 0..n {
        let mut changed = false;
        for o in &plan.operators {
            for &i in &o.inputs {
                if i < n && layer[i] < layer[o.id] + 1 {
                    layer[i] = layer[o.id] + 1;
                    changed = true;
                }
            }
        }
        if !changed {
            break;
        }
    }
    let mut x = vec![f64::NAN; n];
    let mut next = 0.0;
    fn place(
        plan: &PhysicalPlan,
        id: OperatorId,
        x: &mut Vec<f64>,
        next: &mut f64,
        depth: usize,
    ) -> f64 {
        if !x[id].is_nan() || depth > plan.operators.len() {
            return x[id];
        }
        let inputs = &plan.operators[id].inputs;
        let mut placed = vec![];
        for &i in inputs {
            if i < x.len() && x[i].is_nan() {
                placed.push(place(plan, i, x, next, depth + 1));
            }
        }
        let here = if placed.is_empty() {
            let v = *next;
            *next += 1.0;
            v
        } else {
            placed.iter().sum::<f64>() / placed.len() as f64
        };
        x[id] = here;
        here
    }
    if root < n {
        place(plan, root, &mut x, &mut next, 0);
    }
    for id in 0..n {
        if x[id].is_nan() {
            place(plan, id, &mut x, &mut next, 0);
        }
    }
    let layers = layer.iter().copied().max().unwrap_or(0) + 1;
    Layout {
        x,
        layer,
        columns: next.max(1.0),
        layers,
    }
}

/// An SVG picture of the operator graph (see the module doc), self-contained.
pub fn svg(plan: &PhysicalPlan, analyzed: Option<&Analyzed>) -> String {
    const CHARS: usize = 50;
    const CHAR_W: f64 = 6.6;
    const LINE_H: f64 = 14.0;
    const PAD: f64 = 8.0;
    const GAP_X: f64 = 24.0;
    const GAP_Y: f64 = 44.0;
    let node_w = CHARS as f64 * CHAR_W + 2.0 * PAD;
    let lay = layout(plan);
    let lines: Vec<Vec<String>> = plan
        .operators
        .iter()
        .map(|o| node_lines(o, analyzed, CHARS))
        .collect();
    let height_of = |id: usize| lines[id].len() as f64 * LINE_H + 2.0 * PAD;
    let mut layer_h = vec![0.0f64; lay.layers];
    for (id, &l) in lay.layer.iter().enumerate() {
        layer_h[l] = layer_h[l].max(height_of(id));
    }
    let mut layer_y = vec![0.0f64; lay.layers];
    let mut y = 20.0;
    for l in 0..lay.layers {
        layer_y[l] = y;
        y += layer_h[l] + GAP_Y;
    }
    let width = lay.columns * (node_w + GAP_X) + GAP_X;
    let height = y + 10.0;
    let pos = |id: usize| -> (f64, f64) {
        let cx = GAP_X + lay.x[id] * (node_w + GAP_X) + node_w / 2.0;
        (cx, layer_y[lay.layer[id]])
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0}\" height=\"{height:.0}\" \
         viewBox=\"0 0 {width:.0} {height:.0}\" font-family=\"monospace\" font-size=\"11\">"
    );
    let _ = writeln!(
        out,
        "<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" \
         markerWidth=\"7\" markerHeight=\"7\" orient=\"auto-start-reverse\">\
         <path d=\"M 0 0 L 10 5 L 0 10 z\" fill=\"#555\"/></marker></defs>"
    );
    let _ = writeln!(
        out,
        "<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>"
    );
    let pipelines = edge_pipelines(plan);
    // Edges first, under the nodes: from an input's top to its consumer's bottom.
    for o in &plan.operators {
        for &input in &o.inputs {
            if input >= plan.operators.len() {
                continue;
            }
            let (x1, y1) = pos(input);
            let (x2, y2) = pos(o.id);
            let y2 = y2 + height_of(o.id);
            let _ = writeln!(
                out,
                "<line x1=\"{x1:.1}\" y1=\"{y1:.1}\" x2=\"{x2:.1}\" y2=\"{y2:.1}\" stroke=\"#555\" \
                 stroke-width=\"1.2\" marker-end=\"url(#arrow)\"/>"
            );
            let label = edge_label(plan, &pipelines, input, o);
            if !label.is_empty() {
                let (mx, my) = ((x1 + x2) / 2.0 + 4.0, (y1 + y2) / 2.0);
                let _ = writeln!(
                    out,
                    "<text x=\"{mx:.1}\" y=\"{my:.1}\" fill=\"#333\" font-size=\"10\">{}</text>",
                    xml_escape(&label)
                );
            }
        }
    }
    for o in &plan.operators {
        let (cx, top) = pos(o.id);
        let h = height_of(o.id);
        let left = cx - node_w / 2.0;
        let stroke = if spills(o, analyzed) {
            "#b03020"
        } else {
            "#333"
        };
        let _ = writeln!(
            out,
            "<rect x=\"{left:.1}\" y=\"{top:.1}\" width=\"{node_w:.1}\" height=\"{h:.1}\" rx=\"6\" \
             fill=\"{}\" stroke=\"{stroke}\" stroke-width=\"1.2\"/>",
            colour(o, analyzed)
        );
        if is_breaker(o) {
            let _ = writeln!(
                out,
                "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" rx=\"4\" \
                 fill=\"none\" stroke=\"{stroke}\" stroke-width=\"0.8\"/>",
                left + 3.0,
                top + 3.0,
                node_w - 6.0,
                h - 6.0
            );
        }
        for (i, line) in lines[o.id].iter().enumerate() {
            let weight = if i == 0 { " font-weight=\"bold\"" } else { "" };
            let _ = writeln!(
                out,
                "<text x=\"{:.1}\" y=\"{:.1}\"{weight}>{}</text>",
                left + PAD,
                top + PAD + LINE_H * (i as f64 + 0.8),
                xml_escape(line)
            );
        }
    }
    let _ = writeln!(out, "</svg>");
    out
}
