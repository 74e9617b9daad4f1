//! The canvas of a workflow: its steps as nodes by kind, with their badges, and `needs` as
//! edges. Steps come from `monstrum_model::edit::outline` (the text as written, so a step that
//! does not validate still has its node, where its problems show). Steps the user has not
//! placed are laid out in layers (Sugiyama, `rust-sugiyama`), left to right.
//!
//! Editing (on the workflow page): select (shift adds), drag the selection, drag from a node's
//! port to another node to connect, click an edge to select it, drag the background to pan, the
//! wheel (or the buttons) to zoom. Drags are pointer events on the canvas, which holds the
//! pointer until it is released.

use leptos::prelude::*;
use monstrum_model::edit::Outline;
use std::collections::{BTreeMap, HashMap, HashSet};

pub const W: f64 = 190.0;
pub const H: f64 = 64.0;
/// Room between layers and between the nodes of a layer.
const GAP_X: f64 = 70.0;
const GAP_Y: f64 = 28.0;
const MARGIN: f64 = 20.0;

/// Where nodes sit, by step id.
pub type Positions = BTreeMap<String, (f64, f64)>;

/// Which way layers run when the canvas lays nodes out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    LeftRight,
    TopBottom,
}

/// A step placed on the canvas.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub id: String,
    pub kind: &'static str,
    pub detail: String,
    pub badges: Vec<&'static str>,
    /// The problems the checks found in this step.
    pub problems: Vec<String>,
    pub x: f64,
    pub y: f64,
}

/// The canvas of a workflow: nodes, edges (from, to by id) and the size they take.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Layout {
    pub nodes: Vec<Node>,
    pub edges: Vec<(String, String)>,
    pub width: f64,
    pub height: f64,
}

/// The step a diagnostic's path is about (`steps[2].needs[0]` is step 2).
pub fn step_of(path: &str) -> Option<usize> {
    path.strip_prefix("steps[")?.split(']').next()?.parse().ok()
}

fn edges_of(steps: &[Outline]) -> Vec<(String, String)> {
    let ids: HashSet<&str> = steps.iter().map(|s| s.id.as_str()).collect();
    steps
        .iter()
        .flat_map(|s| {
            s.needs.iter().filter(|n| ids.contains(n.as_str()) && **n != s.id).map(|n| (n.clone(), s.id.clone()))
        })
        .collect()
}

/// Every step laid out in layers running `direction`.
pub fn auto_positions(steps: &[Outline], direction: Direction) -> Positions {
    if steps.is_empty() {
        return Positions::new();
    }
    let index: HashMap<&str, u32> = steps.iter().enumerate().map(|(i, s)| (s.id.as_str(), i as u32)).collect();
    let edges: Vec<(u32, u32)> = edges_of(steps).iter().map(|(a, b)| (index[a.as_str()], index[b.as_str()])).collect();
    // Sugiyama lays layers top to bottom; for left to right a node's size is given turned and
    // x and y are swapped back.
    let size = match direction {
        Direction::LeftRight => (H + GAP_Y, W + GAP_X),
        Direction::TopBottom => (W + GAP_Y, H + GAP_X),
    };
    let vertices: Vec<(u32, (f64, f64))> = (0..steps.len() as u32).map(|i| (i, size)).collect();
    let config = rust_sugiyama::configure::Config { vertex_spacing: 1.0, dummy_vertices: true, ..Default::default() };
    let mut out = Positions::new();
    // Components one after the other, across the layers.
    let mut offset = MARGIN;
    for (placed, _, _) in rust_sugiyama::from_vertices_and_edges(&vertices, &edges, &config) {
        let min_x = placed.iter().map(|(_, (x, _))| *x).fold(f64::INFINITY, f64::min);
        let min_y = placed.iter().map(|(_, (_, y))| *y).fold(f64::INFINITY, f64::min);
        let mut end = offset;
        for (i, (x, y)) in placed {
            let (across, along) = (offset + (x - min_x), MARGIN + (y - min_y));
            let at = match direction {
                Direction::LeftRight => (along, across),
                Direction::TopBottom => (across, along),
            };
            end = end.max(across + if direction == Direction::LeftRight { H } else { W });
            out.insert(steps[i].id.clone(), at);
        }
        offset = end + GAP_Y * 2.0;
    }
    out
}

/// The canvas of `steps`: a step is where `placed` says, else where `auto` put it; `problems`
/// are (step index, text).
pub fn layout(steps: &[Outline], problems: &[(usize, String)], placed: &Positions, auto: &Positions) -> Layout {
    let mut nodes: Vec<Node> = steps
        .iter()
        .map(|s| {
            let (x, y) = placed.get(&s.id).or_else(|| auto.get(&s.id)).copied().unwrap_or((MARGIN, MARGIN));
            Node {
                id: s.id.clone(),
                kind: s.kind,
                detail: s.detail.clone(),
                badges: s.badges.clone(),
                problems: Vec::new(),
                x,
                y,
            }
        })
        .collect();
    for (i, text) in problems {
        if let Some(node) = nodes.get_mut(*i) {
            node.problems.push(text.clone());
        }
    }
    let width = nodes.iter().map(|n| n.x + W + MARGIN).fold(0.0, f64::max);
    let height = nodes.iter().map(|n| n.y + H + MARGIN).fold(0.0, f64::max);
    Layout { nodes, edges: edges_of(steps), width, height }
}

/// A curve from the right of `from` to the left of `to` (or bottom to top when `to` is below).
fn edge_path(from: (f64, f64), to: (f64, f64)) -> String {
    if to.1 >= from.1 + H && (to.0 - from.0).abs() < W {
        let (x1, y1, x2, y2) = (from.0 + W / 2.0, from.1 + H, to.0 + W / 2.0, to.1);
        let bend = ((y2 - y1) / 2.0).max(20.0);
        return format!("M{x1},{y1} C{x1},{} {x2},{} {x2},{y2}", y1 + bend, y2 - bend);
    }
    let (x1, y1, x2, y2) = (from.0 + W, from.1 + H / 2.0, to.0, to.1 + H / 2.0);
    let bend = ((x2 - x1) / 2.0).abs().max(30.0);
    format!("M{x1},{y1} C{},{y1} {},{y2} {x2},{y2}", x1 + bend, x2 - bend)
}

/// What the canvas tells the editor, and the selection they share.
#[derive(Clone, Copy)]
pub struct Editing {
    pub selected: RwSignal<Vec<String>>,
    pub selected_edge: RwSignal<Option<(String, String)>>,
    /// The nodes a drag moved, where they now are.
    pub moved: Callback<Vec<(String, (f64, f64))>>,
    /// An edge drawn from a port (from, to).
    pub connect: Callback<(String, String)>,
    /// Pan and zoom of the view.
    pub view: RwSignal<View>,
    /// Whether nodes may be moved and connected (a viewer selects, pans and zooms only).
    pub can_edit: Signal<bool>,
}

/// The part of the canvas in view: a pan (in screen pixels) and a zoom.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct View {
    pub x: f64,
    pub y: f64,
    pub zoom: f64,
}

impl Default for View {
    fn default() -> Self {
        View { x: 0.0, y: 0.0, zoom: 1.0 }
    }
}

impl View {
    /// The view that shows all of `layout` in a `width` × `height` canvas, never zoomed in past 1.
    pub fn fit(layout: &Layout, width: f64, height: f64) -> View {
        if layout.nodes.is_empty() {
            return View::default();
        }
        let zoom = (width / layout.width).min(height / layout.height).clamp(0.05, 1.0);
        View { x: (width - layout.width * zoom) / 2.0, y: (height - layout.height * zoom) / 2.0, zoom }
    }
}

/// What a pointer held down on the canvas is doing.
#[derive(Clone, Debug)]
enum Gesture {
    /// Moving the selection: where the pointer went down (canvas units) and how far it went.
    Drag { start: (f64, f64), by: (f64, f64) },
    /// Drawing an edge from a node's port to the pointer.
    Connect { from: String, to: (f64, f64) },
    /// Moving the view: where the pointer went down (screen) and the view then.
    Pan { start: (f64, f64), view: View, moved: bool },
}

/// The canvas of `layout`; `status` gives each step's status in a run; `editing` makes it
/// editable.
#[component]
pub fn Canvas(
    #[prop(into)] layout: Signal<Layout>,
    #[prop(optional, into)] status: Option<Signal<HashMap<String, String>>>,
    #[prop(optional)] editing: Option<Editing>,
) -> impl IntoView {
    let svg = NodeRef::<leptos::svg::Svg>::new();
    let gesture = RwSignal::new(None::<Gesture>);
    let view = editing.map(|e| e.view).unwrap_or_else(|| RwSignal::new(View::default()));
    // Screen position of a pointer event, inside the canvas.
    let screen = move |x: i32, y: i32| {
        let rect = svg.get_untracked().map(|s| s.get_bounding_client_rect());
        rect.map(|r| (x as f64 - r.left(), y as f64 - r.top())).unwrap_or((x as f64, y as f64))
    };
    let to_canvas = move |(sx, sy): (f64, f64)| {
        let v = view.get_untracked();
        ((sx - v.x) / v.zoom, (sy - v.y) / v.zoom)
    };
    let selected = move |id: &str| editing.is_some_and(|e| e.selected.with(|s| s.iter().any(|x| x == id)));
    // How far a drag under way has moved the selection.
    let drag_by = Memo::new(move |_| match gesture.get() {
        Some(Gesture::Drag { by, .. }) => Some(by),
        _ => None,
    });
    // Where a node is drawn: its place, moved by a drag under way if it is selected. Only a
    // selected node reads the drag, so a pointer move redraws the selection and its edges, not
    // every node of a big graph.
    let offset_of = move |id: &str| if selected(id) { drag_by.get().unwrap_or((0.0, 0.0)) } else { (0.0, 0.0) };
    // Each node's place by id, for the edges (read once per layout, not searched per edge).
    let places = Memo::new(move |_| {
        layout.with(|l| l.nodes.iter().map(|n| (n.id.clone(), (n.x, n.y))).collect::<HashMap<String, (f64, f64)>>())
    });

    let pointer_down_bg = move |ev: leptos::ev::PointerEvent| {
        if editing.is_none() || ev.button() != 0 {
            return;
        }
        let _ = svg.get_untracked().map(|s| s.set_pointer_capture(ev.pointer_id()));
        gesture.set(Some(Gesture::Pan {
            start: (ev.client_x() as f64, ev.client_y() as f64),
            view: view.get_untracked(),
            moved: false,
        }));
    };
    let pointer_move = move |ev: leptos::ev::PointerEvent| {
        let Some(g) = gesture.get_untracked() else { return };
        let at = screen(ev.client_x(), ev.client_y());
        match g {
            Gesture::Drag { start, .. } => {
                let (x, y) = to_canvas(at);
                gesture.set(Some(Gesture::Drag { start, by: (x - start.0, y - start.1) }));
            }
            Gesture::Connect { from, .. } => gesture.set(Some(Gesture::Connect { from, to: to_canvas(at) })),
            Gesture::Pan { start, view: v, .. } => {
                let (dx, dy) = (ev.client_x() as f64 - start.0, ev.client_y() as f64 - start.1);
                if dx.abs() + dy.abs() > 2.0 {
                    view.set(View { x: v.x + dx, y: v.y + dy, zoom: v.zoom });
                    gesture.set(Some(Gesture::Pan { start, view: v, moved: true }));
                }
            }
        }
    };
    let pointer_up = move |ev: leptos::ev::PointerEvent| {
        let Some(g) = gesture.get_untracked() else { return };
        gesture.set(None);
        let Some(e) = editing else { return };
        match g {
            Gesture::Drag { by, .. } if by.0.abs() + by.1.abs() > 0.5 => {
                let ids = e.selected.get_untracked();
                let moved = layout.with_untracked(|l| {
                    l.nodes
                        .iter()
                        .filter(|n| ids.contains(&n.id))
                        .map(|n| (n.id.clone(), ((n.x + by.0).round(), (n.y + by.1).round())))
                        .collect::<Vec<_>>()
                });
                e.moved.run(moved);
            }
            Gesture::Connect { from, .. } => {
                let (x, y) = to_canvas(screen(ev.client_x(), ev.client_y()));
                let target = layout.with_untracked(|l| {
                    l.nodes
                        .iter()
                        .rev()
                        .find(|n| x >= n.x && x <= n.x + W && y >= n.y && y <= n.y + H)
                        .map(|n| n.id.clone())
                });
                if let Some(to) = target.filter(|t| *t != from) {
                    e.connect.run((from, to));
                }
            }
            Gesture::Pan { moved: false, .. } => {
                e.selected.set(Vec::new());
                e.selected_edge.set(None);
            }
            _ => {}
        }
    };
    let wheel = move |ev: leptos::ev::WheelEvent| {
        if editing.is_none() {
            return;
        }
        ev.prevent_default();
        let (sx, sy) = screen(ev.client_x(), ev.client_y());
        let v = view.get_untracked();
        let zoom = (v.zoom * if ev.delta_y() < 0.0 { 1.1 } else { 1.0 / 1.1 }).clamp(0.05, 4.0);
        // The point under the pointer stays under it.
        let (cx, cy) = ((sx - v.x) / v.zoom, (sy - v.y) / v.zoom);
        view.set(View { x: sx - cx * zoom, y: sy - cy * zoom, zoom });
    };

    let node_view = move |n: Node| {
        let id = n.id.clone();
        let (kind, invalid) = (n.kind, if n.problems.is_empty() { "" } else { "invalid" });
        let class = {
            let id = id.clone();
            move || {
                let state = status.and_then(|s| s.with(|m| m.get(&id).cloned())).unwrap_or_default();
                let chosen = if selected(&id) { "selected" } else { "" };
                format!("node kind-{kind} {invalid} {state} {chosen}")
            }
        };
        let transform = {
            let id = id.clone();
            let (x, y) = (n.x, n.y);
            Memo::new(move |_| {
                let (dx, dy) = offset_of(&id);
                format!("translate({},{})", x + dx, y + dy)
            })
        };
        let down = {
            let id = id.clone();
            move |ev: leptos::ev::PointerEvent| {
                let Some(e) = editing else { return };
                ev.stop_propagation();
                if ev.shift_key() {
                    e.selected.update(|s| {
                        if let Some(i) = s.iter().position(|x| *x == id) {
                            s.remove(i);
                        } else {
                            s.push(id.clone());
                        }
                    });
                } else if !selected(&id) {
                    e.selected.set(vec![id.clone()]);
                }
                e.selected_edge.set(None);
                if !e.can_edit.get_untracked() {
                    return;
                }
                let _ = svg.get_untracked().map(|s| s.set_pointer_capture(ev.pointer_id()));
                let start = to_canvas(screen(ev.client_x(), ev.client_y()));
                gesture.set(Some(Gesture::Drag { start, by: (0.0, 0.0) }));
            }
        };
        let port_down = {
            let id = id.clone();
            move |ev: leptos::ev::PointerEvent| {
                if editing.is_none() {
                    return;
                }
                ev.stop_propagation();
                let _ = svg.get_untracked().map(|s| s.set_pointer_capture(ev.pointer_id()));
                let to = to_canvas(screen(ev.client_x(), ev.client_y()));
                gesture.set(Some(Gesture::Connect { from: id.clone(), to }));
            }
        };
        let badges = n.badges.iter().map(|b| view! { <tspan class="badge">{format!("[{b}] ")}</tspan> }).collect_view();
        let title = if n.problems.is_empty() { n.detail.clone() } else { n.problems.join("\n") };
        // What fits in the box: kind and detail, cut with an ellipsis (the title has it all).
        let line = format!("{} · {}", n.kind, n.detail);
        let line =
            if line.chars().count() > 28 { format!("{}…", line.chars().take(27).collect::<String>()) } else { line };
        view! {
            <g class=class data-step=n.id.clone() transform=transform on:pointerdown=down>
                <title>{title}</title>
                <rect width=W height=H rx="8" />
                <text x="12" y="22" class="id">{n.id.clone()}</text>
                <text x="12" y="40" class="detail">{line}</text>
                <text x="12" y="56" class="badges">{badges}{(!n.problems.is_empty()).then(|| format!("⚠ {}", n.problems.len()))}</text>
                {editing.is_some_and(|e| e.can_edit.get_untracked()).then(|| view! {
                    <circle class="port in" cx="0" cy=H / 2.0 r="5" />
                    <circle class="port out" data-step=n.id.clone() cx=W cy=H / 2.0 r="6" on:pointerdown=port_down />
                })}
            </g>
        }
    };

    let edge_view = move |(from, to): (String, String)| {
        let ends = {
            let (from, to) = (from.clone(), to.clone());
            move || places.with(|p| Some((*p.get(&from)?, *p.get(&to)?)))
        };
        let d = {
            let (from, to) = (from.clone(), to.clone());
            Memo::new(move |_| {
                let Some((a, b)) = ends() else { return String::new() };
                let (da, db) = (offset_of(&from), offset_of(&to));
                edge_path((a.0 + da.0, a.1 + da.1), (b.0 + db.0, b.1 + db.1))
            })
        };
        let chosen = {
            let pair = (from.clone(), to.clone());
            move || editing.is_some_and(|e| e.selected_edge.get().as_ref() == Some(&pair))
        };
        let down = {
            let pair = (from.clone(), to.clone());
            move |ev: leptos::ev::PointerEvent| {
                let Some(e) = editing else { return };
                ev.stop_propagation();
                e.selected.set(Vec::new());
                e.selected_edge.set(Some(pair.clone()));
            }
        };
        view! {
            <g class="link" on:pointerdown=down>
                <path class="hit" d=d />
                <path class="edge" class:selected=chosen d=d data-from=from.clone() data-to=to.clone() />
            </g>
        }
    };

    let connecting = move || match gesture.get() {
        Some(Gesture::Connect { from, to }) => layout.with(|l| {
            l.nodes.iter().find(|n| n.id == from).map(|n| {
                let d = format!("M{},{} L{},{}", n.x + W, n.y + H / 2.0, to.0, to.1);
                view! { <path class="edge drawing" d=d /> }
            })
        }),
        _ => None,
    };
    let nodes = move || layout.with(|l| l.nodes.clone());
    let edges = move || layout.with(|l| l.edges.clone());
    let size = move || layout.with(|l| (l.width.max(1.0), l.height.max(1.0)));
    let transform = move || {
        let v = view.get();
        format!("translate({},{}) scale({})", v.x, v.y, v.zoom)
    };
    // Read only: the canvas is as big as the graph. Editing: it fills its box, and moves.
    let width = move || if editing.is_some() { "100%".to_string() } else { size().0.to_string() };
    let height = move || if editing.is_some() { "100%".to_string() } else { size().1.to_string() };
    let view_box = move || editing.is_none().then(|| format!("0 0 {} {}", size().0, size().1));
    view! {
        <svg id="canvas" node_ref=svg class="canvas" class:editing=editing.is_some() width=width height=height viewBox=view_box
            on:pointerdown=pointer_down_bg on:pointermove=pointer_move on:pointerup=pointer_up on:wheel=wheel>
            <g class="view" transform=transform>
                <g class="edges">
                    <For each=edges key=|e| e.clone() children=edge_view />
                </g>
                <g class="nodes">
                    <For each=nodes key=|n| format!("{n:?}") children=node_view />
                </g>
                {connecting}
            </g>
        </svg>
    }
}
