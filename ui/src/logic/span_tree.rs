//! A trace's spans as the waterfall shows them: a tree by parent span id, laid out depth-first
//! with siblings by start time, and what the page asks of it (which rows show while some
//! subtrees are collapsed, which spans a search finds, the trace's summary).
//!
//! Real traces are messy, and the tree copes: spans arrive in any order, a parent may be missing
//! (not sampled, still in flight, dropped), ids may repeat, and a bad client may even send a
//! parent cycle. A span whose parent is missing becomes a top-level row marked as such; a cycle
//! is cut at its earliest span; every span appears exactly once. Work is linear in the spans
//! (plus sorting siblings) and never recursive, so a 10,000-span trace, or a 10,000-deep chain,
//! builds in milliseconds.

use std::collections::{HashMap, HashSet};

use otelite_api::traces::{Span, StatusCode, Trace};

use crate::logic::span_values::value_text;

/// A fetched trace with everything the trace page derives from it once, when it loads.
#[derive(Debug, Clone)]
pub struct TraceLayout {
    pub trace: Trace,
    pub tree: SpanTree,
    pub overview: TraceOverview,
    pub finder: SpanFinder,
}

impl TraceLayout {
    pub fn new(trace: Trace) -> TraceLayout {
        let tree = SpanTree::build(&trace.spans);
        let overview = TraceOverview::of(&trace, &tree);
        let finder = SpanFinder::new(&trace);
        TraceLayout {
            trace,
            tree,
            overview,
            finder,
        }
    }

    /// The index of the span with id `span_id`, if the trace has it.
    pub fn span_index(&self, span_id: &str) -> Option<usize> {
        self.trace.spans.iter().position(|s| s.span_id == span_id)
    }
}

/// Where one span sits in the tree. Indexes are into the trace's `spans`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// The parent span, `None` for a top-level row.
    pub parent: Option<usize>,
    /// 0 for top-level rows.
    pub depth: usize,
    /// Direct children shown under this span.
    pub children: usize,
    /// This span's row in [`SpanTree::order`].
    pub position: usize,
    /// The row just past this span's last descendant in [`SpanTree::order`].
    pub subtree_end: usize,
    /// The span names a parent that is not in the trace (or that would close a cycle).
    pub missing_parent: bool,
}

/// The spans of one trace, ordered for display.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpanTree {
    order: Vec<usize>,
    nodes: Vec<Node>,
}

impl SpanTree {
    pub fn build(spans: &[Span]) -> SpanTree {
        let n = spans.len();
        // The first span with an id owns it: children of a repeated id hang under the first.
        let mut by_id: HashMap<&str, usize> = HashMap::with_capacity(n);
        for (i, span) in spans.iter().enumerate() {
            by_id.entry(span.span_id.as_str()).or_insert(i);
        }
        let mut parent: Vec<Option<usize>> = Vec::with_capacity(n);
        let mut missing_parent = vec![false; n];
        for (i, span) in spans.iter().enumerate() {
            let found = match span.parent_span_id.as_str() {
                "" => None,
                id => {
                    let found = by_id.get(id).copied().filter(|p| *p != i);
                    missing_parent[i] = found.is_none();
                    found
                }
            };
            parent.push(found);
        }
        let mut children: Vec<Vec<usize>> = vec![Vec::new(); n];
        for (i, p) in parent.iter().enumerate() {
            if let Some(p) = *p {
                children[p].push(i);
            }
        }
        let by_start = |a: &usize, b: &usize| {
            (spans[*a].start_unix_nano, *a).cmp(&(spans[*b].start_unix_nano, *b))
        };
        for list in &mut children {
            list.sort_by(by_start);
        }
        // Real roots first, then spans whose parent is missing, each group by start time.
        let mut roots: Vec<usize> = (0..n).filter(|i| parent[*i].is_none()).collect();
        roots.sort_by(|a, b| {
            missing_parent[*a]
                .cmp(&missing_parent[*b])
                .then(by_start(a, b))
        });

        let mut tree = SpanTree {
            order: Vec::with_capacity(n),
            nodes: vec![
                Node {
                    parent: None,
                    depth: 0,
                    children: 0,
                    position: 0,
                    subtree_end: 0,
                    missing_parent: false,
                };
                n
            ],
        };
        let mut visited = vec![false; n];
        for root in roots {
            tree.walk(root, &children, &mut visited);
        }
        // What is left hangs off a parent cycle: cut each cycle at its earliest span.
        if tree.order.len() < n {
            let mut rest: Vec<usize> = (0..n).filter(|i| !visited[*i]).collect();
            rest.sort_by(by_start);
            for span in rest {
                if !visited[span] {
                    missing_parent[span] = true;
                    tree.walk(span, &children, &mut visited);
                }
            }
        }
        for (node, missing) in tree.nodes.iter_mut().zip(missing_parent) {
            node.missing_parent = missing;
        }
        tree
    }

    /// Lays out `root` as a top-level row and its unvisited descendants depth-first, without
    /// recursion.
    fn walk(&mut self, root: usize, children: &[Vec<usize>], visited: &mut [bool]) {
        let mut stack: Vec<(usize, usize)> = Vec::new();
        self.enter(root, None, 0, visited);
        stack.push((root, 0));
        while let Some((span, next_child)) = stack.last_mut() {
            let span = *span;
            match children[span].get(*next_child) {
                Some(&child) => {
                    *next_child += 1;
                    if !visited[child] {
                        let depth = self.nodes[span].depth + 1;
                        self.enter(child, Some(span), depth, visited);
                        self.nodes[span].children += 1;
                        stack.push((child, 0));
                    }
                }
                None => {
                    self.nodes[span].subtree_end = self.order.len();
                    stack.pop();
                }
            }
        }
    }

    fn enter(&mut self, span: usize, parent: Option<usize>, depth: usize, visited: &mut [bool]) {
        visited[span] = true;
        let node = &mut self.nodes[span];
        node.parent = parent;
        node.depth = depth;
        node.position = self.order.len();
        self.order.push(span);
    }

    /// Every span, depth-first, siblings by start time.
    pub fn order(&self) -> &[usize] {
        &self.order
    }

    pub fn node(&self, span: usize) -> &Node {
        &self.nodes[span]
    }

    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// The number of levels: 1 for a lone root.
    pub fn depth(&self) -> usize {
        self.nodes.iter().map(|n| n.depth + 1).max().unwrap_or(0)
    }

    /// How many spans sit below `span`.
    pub fn descendants(&self, span: usize) -> usize {
        let node = &self.nodes[span];
        node.subtree_end - node.position - 1
    }

    /// The rows shown while the spans in `collapsed` have their subtrees folded away.
    pub fn visible_rows(&self, collapsed: &HashSet<usize>) -> Vec<usize> {
        let mut rows = Vec::with_capacity(if collapsed.is_empty() { self.len() } else { 64 });
        let mut position = 0;
        while let Some(&span) = self.order.get(position) {
            rows.push(span);
            position = if collapsed.contains(&span) {
                self.nodes[span].subtree_end
            } else {
                position + 1
            };
        }
        rows
    }

    /// Every span that has children: what "collapse all" folds.
    pub fn parents(&self) -> HashSet<usize> {
        (0..self.nodes.len())
            .filter(|s| self.nodes[*s].children > 0)
            .collect()
    }

    /// Unfolds every ancestor of `span`, so its row shows.
    pub fn reveal(&self, span: usize, collapsed: &mut HashSet<usize>) {
        let mut current = self.nodes[span].parent;
        while let Some(p) = current {
            collapsed.remove(&p);
            current = self.nodes[p].parent;
        }
    }
}

/// The `service.name` of the resource `span` came from.
pub fn span_service<'a>(trace: &'a Trace, span: &Span) -> &'a str {
    trace
        .resources
        .get(span.resource)
        .map(|r| r.service.as_str())
        .unwrap_or("")
}

pub fn is_error(span: &Span) -> bool {
    span.status.code == StatusCode::Error
}

pub fn duration_ns(span: &Span) -> u64 {
    span.end_unix_nano.saturating_sub(span.start_unix_nano)
}

/// What the trace page's header says about a trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceOverview {
    /// The root span, or the earliest span when no root arrived.
    pub root: Option<usize>,
    pub has_root: bool,
    /// Earliest start and latest end of any span.
    pub start_ns: u64,
    pub end_ns: u64,
    /// Each service with its span count, most spans first.
    pub services: Vec<(String, u64)>,
    pub depth: usize,
    pub span_count: usize,
    pub error_count: usize,
}

impl TraceOverview {
    pub fn of(trace: &Trace, tree: &SpanTree) -> TraceOverview {
        let spans = &trace.spans;
        let first_row = tree.order().first().copied();
        let has_root = first_row.is_some_and(|s| spans[s].parent_span_id.is_empty());
        // Without a root, the earliest span stands for the trace (the first top-level row is
        // the earliest orphan, which may start later than a descendant of a cycle: take the min).
        let root = if has_root {
            first_row
        } else {
            (0..spans.len()).min_by_key(|i| (spans[*i].start_unix_nano, *i))
        };
        let start_ns = spans.iter().map(|s| s.start_unix_nano).min().unwrap_or(0);
        let end_ns = spans
            .iter()
            .map(|s| s.end_unix_nano.max(s.start_unix_nano))
            .max()
            .unwrap_or(0);
        let mut counts: HashMap<&str, u64> = HashMap::new();
        for span in spans {
            *counts.entry(span_service(trace, span)).or_default() += 1;
        }
        let mut services: Vec<(String, u64)> =
            counts.into_iter().map(|(s, n)| (s.to_owned(), n)).collect();
        services.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        TraceOverview {
            root,
            has_root,
            start_ns,
            end_ns,
            services,
            depth: tree.depth(),
            span_count: spans.len(),
            error_count: spans.iter().filter(|s| is_error(s)).count(),
        }
    }

    pub fn duration_ns(&self) -> u64 {
        self.end_ns.saturating_sub(self.start_ns)
    }

    /// Where `span`'s bar starts and how wide it is, in percent of the trace's duration. Bars
    /// are at least 0.2% wide so an instant span still shows.
    pub fn bar(&self, span: &Span) -> (f64, f64) {
        let total = self.duration_ns().max(1) as f64;
        let left = span.start_unix_nano.saturating_sub(self.start_ns) as f64 / total * 100.0;
        let width = (duration_ns(span) as f64 / total * 100.0).max(0.2);
        let left = left.min(99.8);
        (left, width.min(100.0 - left))
    }
}

/// Find-in-trace: which spans mention some text in their name, service, id or attributes.
///
/// Each span's searchable text is lower-cased once when the trace loads, so each keystroke is
/// one pass of substring checks however many attributes the spans carry.
#[derive(Debug, Clone)]
pub struct SpanFinder {
    haystacks: Vec<String>,
}

impl SpanFinder {
    pub fn new(trace: &Trace) -> SpanFinder {
        let haystacks = trace
            .spans
            .iter()
            .map(|span| {
                let mut text = format!(
                    "{}\n{}\n{}\n",
                    span.name,
                    span_service(trace, span),
                    span.span_id
                );
                for kv in &span.attributes {
                    text.push_str(&kv.key);
                    text.push('=');
                    text.push_str(&value_text(&kv.value));
                    text.push('\n');
                }
                if !span.status.message.is_empty() {
                    text.push_str(&span.status.message);
                }
                text.to_lowercase()
            })
            .collect();
        SpanFinder { haystacks }
    }

    /// The spans, in `tree` order, whose text holds every whitespace-separated word of `query`
    /// (case-insensitive). An empty query finds nothing.
    pub fn find(&self, tree: &SpanTree, query: &str) -> Vec<usize> {
        let query = query.to_lowercase();
        let words: Vec<&str> = query.split_whitespace().collect();
        if words.is_empty() {
            return Vec::new();
        }
        tree.order()
            .iter()
            .copied()
            .filter(|s| words.iter().all(|w| self.haystacks[*s].contains(w)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use otelite_api::traces::{AnyValue, KeyValue, Resource, SpanKind, Status};

    fn span(id: &str, parent: &str, start: u64, end: u64) -> Span {
        Span {
            resource: 0,
            scope: 0,
            span_id: id.to_owned(),
            parent_span_id: parent.to_owned(),
            name: format!("op-{id}"),
            kind: SpanKind::Internal,
            start_unix_nano: start,
            end_unix_nano: end,
            attributes: Vec::new(),
            dropped_attributes_count: 0,
            events: Vec::new(),
            dropped_events_count: 0,
            links: Vec::new(),
            dropped_links_count: 0,
            status: Status {
                code: StatusCode::Unset,
                message: String::new(),
            },
            trace_state: String::new(),
            flags: 0,
        }
    }

    fn ids(spans: &[Span], rows: &[usize]) -> Vec<String> {
        rows.iter().map(|i| spans[*i].span_id.clone()).collect()
    }

    fn trace(spans: Vec<Span>) -> Trace {
        Trace {
            trace_id: "0af7651916cd43dd8448eb211c80319c".to_owned(),
            resources: ["frontend", "checkout"]
                .map(|service| Resource {
                    service: service.to_owned(),
                    attributes: Vec::new(),
                    dropped_attributes_count: 0,
                    schema_url: String::new(),
                })
                .to_vec(),
            scopes: Vec::new(),
            spans,
        }
    }

    /// root ── a ── a1
    ///      └─ b        (b starts before a, arrives last)
    fn small() -> Vec<Span> {
        vec![
            span("a1", "a", 30, 40),
            span("a", "root", 20, 50),
            span("root", "", 0, 100),
            span("b", "root", 10, 15),
        ]
    }

    #[test]
    fn children_follow_their_parent_by_start_time() {
        let spans = small();
        let tree = SpanTree::build(&spans);
        assert_eq!(ids(&spans, tree.order()), ["root", "b", "a", "a1"]);
        let depth: Vec<_> = tree.order().iter().map(|s| tree.node(*s).depth).collect();
        assert_eq!(depth, [0, 1, 1, 2]);
        assert_eq!(tree.node(2).children, 2);
        assert_eq!(tree.descendants(2), 3);
        assert_eq!(tree.node(0).parent, Some(1));
        assert_eq!(tree.depth(), 3);
    }

    #[test]
    fn spans_with_missing_parents_become_marked_top_level_rows() {
        let spans = vec![
            span("late", "gone", 50, 60),
            span("root", "", 0, 100),
            span("early", "gone", 5, 10),
            span("kid", "early", 6, 7),
        ];
        let tree = SpanTree::build(&spans);
        // The real root first, then the orphans by start, each with its subtree.
        assert_eq!(ids(&spans, tree.order()), ["root", "early", "kid", "late"]);
        assert!(!tree.node(1).missing_parent);
        assert!(tree.node(2).missing_parent && tree.node(0).missing_parent);
        assert!(!tree.node(3).missing_parent);
        assert_eq!(tree.node(3).depth, 1);

        let overview = TraceOverview::of(&trace(spans), &tree);
        assert!(overview.has_root);
        assert_eq!(overview.root, Some(1));
    }

    #[test]
    fn a_trace_without_its_root_is_summarised_by_its_earliest_span() {
        let spans = vec![span("x", "gone", 20, 30), span("y", "gone", 10, 40)];
        let tree = SpanTree::build(&spans);
        let overview = TraceOverview::of(&trace(spans), &tree);
        assert!(!overview.has_root);
        assert_eq!(overview.root, Some(1));
        assert_eq!((overview.start_ns, overview.end_ns), (10, 40));
    }

    #[test]
    fn cycles_and_repeated_ids_still_show_every_span_once() {
        let spans = vec![
            span("root", "", 0, 100),
            span("p", "q", 10, 20),
            span("q", "p", 15, 25),
            span("self", "self", 30, 40),
            span("root", "", 50, 60),
            span("kid", "root", 55, 56),
        ];
        let tree = SpanTree::build(&spans);
        let mut seen = tree.order().to_vec();
        seen.sort();
        assert_eq!(seen, [0, 1, 2, 3, 4, 5]);
        // The repeated root is a second top-level row; the kid hangs under the first "root".
        assert_eq!(tree.node(5).parent, Some(0));
        // The cycle p <-> q is cut at p, its earliest span.
        assert_eq!(tree.node(1).parent, None);
        assert!(tree.node(1).missing_parent);
        assert_eq!(tree.node(2).parent, Some(1));
        assert!(tree.node(3).missing_parent);
        for s in 0..spans.len() {
            let node = tree.node(s);
            assert_eq!(tree.order()[node.position], s);
            assert!(node.subtree_end > node.position);
        }
    }

    #[test]
    fn a_ten_thousand_deep_chain_builds_without_recursion() {
        let spans: Vec<Span> = (0..10_000u64)
            .map(|i| {
                let parent = if i == 0 {
                    String::new()
                } else {
                    format!("{:016x}", i - 1)
                };
                span(&format!("{i:016x}"), &parent, i, 20_000 - i)
            })
            .collect();
        let tree = SpanTree::build(&spans);
        assert_eq!(tree.depth(), 10_000);
        assert_eq!(tree.order(), (0..10_000).collect::<Vec<_>>());
        assert_eq!(tree.descendants(0), 9_999);
    }

    #[test]
    fn collapsing_hides_a_subtree_and_revealing_opens_its_ancestors() {
        let spans = small();
        let tree = SpanTree::build(&spans);
        let mut collapsed = HashSet::new();
        assert_eq!(tree.visible_rows(&collapsed).len(), 4);
        collapsed.insert(1); // "a"
        assert_eq!(
            ids(&spans, &tree.visible_rows(&collapsed)),
            ["root", "b", "a"]
        );
        collapsed = tree.parents();
        assert_eq!(collapsed, HashSet::from([1, 2]));
        assert_eq!(ids(&spans, &tree.visible_rows(&collapsed)), ["root"]);
        tree.reveal(0, &mut collapsed); // "a1"
        assert!(collapsed.is_empty());
        assert_eq!(tree.visible_rows(&collapsed).len(), 4);
    }

    #[test]
    fn find_matches_names_services_and_attribute_values() {
        let mut spans = small();
        spans[0].attributes.push(KeyValue {
            key: "http.status_code".into(),
            value: AnyValue::Int(500),
        });
        spans[3].resource = 1;
        let trace = trace(spans);
        let tree = SpanTree::build(&trace.spans);
        let finder = SpanFinder::new(&trace);
        let find = |q| ids(&trace.spans, &finder.find(&tree, q));
        assert_eq!(find("OP-A"), ["a", "a1"]);
        assert_eq!(find("checkout"), ["b"]);
        assert_eq!(find("500"), ["a1"]);
        assert_eq!(find("http.status_code=500"), ["a1"]);
        assert_eq!(find("op frontend"), ["root", "a", "a1"]);
        assert!(find("  ").is_empty());
        assert!(find("nothing").is_empty());
    }

    #[test]
    fn a_layout_finds_spans_by_id() {
        let layout = TraceLayout::new(trace(small()));
        assert_eq!(layout.span_index("b"), Some(3));
        assert_eq!(layout.span_index("nope"), None);
        assert_eq!(layout.overview.span_count, 4);
    }

    #[test]
    fn the_overview_counts_services_errors_and_depth() {
        let mut spans = small();
        spans[0].status.code = StatusCode::Error;
        spans[3].resource = 1;
        let trace = trace(spans);
        let tree = SpanTree::build(&trace.spans);
        let overview = TraceOverview::of(&trace, &tree);
        assert_eq!(overview.root, Some(2));
        assert_eq!(
            overview.services,
            [("frontend".to_owned(), 3), ("checkout".to_owned(), 1)]
        );
        assert_eq!(
            (overview.depth, overview.span_count, overview.error_count),
            (3, 4, 1)
        );
        assert_eq!(overview.duration_ns(), 100);
        assert_eq!(overview.bar(&trace.spans[1]), (20.0, 30.0));
        let (left, width) = overview.bar(&span("z", "", 100, 100));
        assert!(left + width <= 100.0 && width > 0.0);
    }
}
