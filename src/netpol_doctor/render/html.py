"""`netpol-doctor report`: one self-contained HTML page. No network fetch of any kind
(no CDN, fonts or images: CSS and JS inline, the SVG drawn by the page's own script);
the data sits in a `<script type="application/json">` element, escaped so that no
object name can close the element (`<`, `>`, `&` and the JS line separators become
\\u escapes, which JSON.parse reads back unchanged), and every name reaches the page
through `textContent`, never as markup.

Imports nothing from the package: it renders a dict built by `analysis.report`.
"""

from __future__ import annotations

import html
import json
from typing import Any

__all__ = ["embed_json", "render_report"]


def embed_json(data: Any) -> str:
    """JSON safe inside a script element
    (https://html.spec.whatwg.org/multipage/scripting.html#restrictions-for-contents-of-script-elements)."""
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    for raw, esc in (
        ("&", "\\u0026"),
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(raw, esc)
    return text


def render_report(data: dict[str, Any], title: str) -> str:
    return (
        _PAGE.replace("@TITLE@", html.escape(title))
        .replace("@CSS@", _CSS)
        .replace("@JS@", _JS)
        .replace("@DATA@", embed_json(data))
    )


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; \
style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>@TITLE@</title><style>@CSS@</style></head>
<body>
<header><h1>@TITLE@</h1><p id="summary"></p></header>
<nav><a href="#heat">Heatmap</a> <a href="#iso">Isolation</a> <a href="#lint">Lint</a>
<a href="#questions">Questions</a></nav>
<section id="heat"><h2>Workload pairs, namespace by namespace</h2>
<p class="legend">Each cell: workload pairs from the row's namespace to the column's,
<span class="sw a"></span> some port allowed, <span class="sw u"></span> unknown,
<span class="sw d"></span> every port denied. Click a row's namespace or a cell to
see its workloads.</p>
<div class="scroll"><table id="heatmap"></table></div></section>
<section id="drill" hidden><h2 id="drill-title"></h2><div id="graph"></div>
<h3>Workloads</h3><table id="workloads"></table>
<h3>Edges</h3><table id="edges"></table><p id="edges-note"></p></section>
<section id="iso"><h2>Isolation per namespace</h2><table id="isolation"></table></section>
<section id="lint"><h2>Lint findings</h2><p id="lint-summary"></p><table id="findings"></table>
</section>
<section id="questions"><h2>Questions</h2><div id="diagnoses"></div></section>
<script type="application/json" id="data">@DATA@</script>
<script>@JS@</script>
</body></html>
"""

_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:0 1.5em 2em;color:#1d1d1f}
h1{font-size:1.4em}h2{font-size:1.2em;margin-top:1.6em}
nav a{margin-right:1em}
table{border-collapse:collapse}td,th{padding:2px 6px;border:1px solid #ddd;text-align:left}
.scroll{overflow:auto;max-height:70vh;max-width:100%}
#heatmap td.c{width:18px;height:18px;padding:0;cursor:pointer}
#heatmap th.r{cursor:pointer;white-space:nowrap;color:#0645ad}
#heatmap th.col{writing-mode:vertical-rl;transform:rotate(180deg);white-space:nowrap;
font-weight:normal}
.sw{display:inline-block;width:12px;height:12px;vertical-align:middle}
.a{background:#2e9d4a}.u{background:#f0b429}.d{background:#c7ccd1}.e{background:#fff}
.sel{outline:2px solid #000}
.yes{color:#1a7f37}.no{color:#b42318}.maybe{color:#9a6700}
pre{background:#f6f8fa;padding:.6em;overflow:auto}
svg text{font-size:11px}
"""

_JS = r"""
"use strict";
const D = JSON.parse(document.getElementById("data").textContent);
function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}
function row(table, cells, head) {
  const tr = el("tr");
  for (const c of cells) tr.appendChild(c instanceof Node ? c : el(head ? "th" : "td", c));
  table.appendChild(tr);
  return tr;
}
const NS = D.namespaces;
document.getElementById("summary").textContent =
  D.pods + " pods, " + D.members.length + " workloads and address blocks in " +
  NS.length + " namespaces; ports swept: " + D.ports.join(", ") +
  ". Read from " + D.sources.join(", ") + ".";

function heatColor(c) {
  const [a, d, u] = c, t = a + d + u;
  if (!t) return "#ffffff";
  if (u) return "rgb(240," + Math.round(230 - 50 * u / t) + ",120)";
  const f = a / t;
  return "rgb(" + Math.round(199 - 153 * f) + "," + Math.round(204 - 47 * f) + "," +
    Math.round(209 - 135 * f) + ")";
}
function drawHeatmap() {
  // one listener for the table (41,000 cells at 200 namespaces), rows built off-page
  const t = document.getElementById("heatmap");
  const frag = document.createDocumentFragment();
  const head = el("tr");
  head.appendChild(el("th", "source \\ destination"));
  for (const n of NS) head.appendChild(el("th", n, "col"));
  frag.appendChild(head);
  NS.forEach((src, i) => {
    const tr = el("tr");
    tr.dataset.row = i;
    tr.appendChild(el("th", src, "r"));
    NS.forEach((dst, j) => {
      const c = D.heatmap[i][j];
      const td = el("td", null, "c");
      td.style.background = heatColor(c);
      td.title = src + " \u2192 " + dst + ": " + c[0] + " allowed, " + c[1] +
        " denied, " + c[2] + " unknown";
      td.dataset.src = src; td.dataset.dst = dst;
      tr.appendChild(td);
    });
    frag.appendChild(tr);
  });
  t.appendChild(frag);
  t.addEventListener("click", (ev) => {
    const tr = ev.target.closest("tr");
    if (tr && tr.dataset.row !== undefined && ev.target.closest("td.c, th.r"))
      drill(Number(tr.dataset.row));
  });
}

const SVGNS = "http://www.w3.org/2000/svg";
function svg(tag, attrs) {
  const e = document.createElementNS(SVGNS, tag);
  for (const k in attrs) e.setAttribute(k, attrs[k]);
  return e;
}
function drawGraph(box, members, edges) {
  // nodes on a circle: no crossings to minimise, readable up to a few dozen nodes
  box.textContent = "";
  if (!members.length) return;
  const prefix = NS[current] + "/";
  const name = (k) => D.members[k][0].startsWith(prefix) ?
    D.members[k][0].slice(prefix.length) : D.members[k][0];
  const longest = Math.max(...members.map((k) => name(k).length));
  const n = members.length, r = Math.max(90, n * 14), pad = 20 + 7 * longest;
  const width = 2 * (r + pad), height = 2 * r + 60, cx = width / 2, cy = height / 2;
  const s = svg("svg", {width: width, height: height, viewBox: "0 0 " + width + " " + height,
                        role: "img", "aria-label": "workload graph"});
  const defs = svg("defs", {});
  const m = svg("marker", {id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5,
                           markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse"});
  m.appendChild(svg("path", {d: "M0,0L10,5L0,10z", fill: "#555"}));
  defs.appendChild(m); s.appendChild(defs);
  const pos = new Map();
  members.forEach((k, i) => {
    const a = 2 * Math.PI * i / n - Math.PI / 2;
    pos.set(k, [cx + r * Math.cos(a), cy + r * Math.sin(a)]);
  });
  const words = edges.length <= 30;  // labels on the edges while they stay legible
  for (const [i, j, lab, certain] of edges) {
    const [x1, y1] = pos.get(i), [x2, y2] = pos.get(j);
    const len = Math.hypot(x2 - x1, y2 - y1) || 1, k = 9 / len;
    // bowed to the right of its direction: a -> b and b -> a stay apart
    const mx = (x1 + x2) / 2 + (y2 - y1) * 0.22, my = (y1 + y2) / 2 - (x2 - x1) * 0.22;
    const path = svg("path", {d: "M" + (x1 + (mx - x1) * k) + "," + (y1 + (my - y1) * k) +
      " Q" + mx + "," + my + " " + (x2 - (x2 - mx) * k) + "," + (y2 - (y2 - my) * k),
      fill: "none", stroke: certain ? "#2e7d32" : "#b7791f", "stroke-width": 1.5,
      "marker-end": "url(#arrow)", class: "edge"});
    if (!certain) path.setAttribute("stroke-dasharray", "5,4");
    const title = svg("title", {});
    title.textContent = D.members[i][0] + " \u2192 " + D.members[j][0] + ": " + D.labels[lab];
    path.appendChild(title);
    s.appendChild(path);
    if (words) {
      const t = svg("text", {x: (x1 + x2) / 4 + mx / 2, y: (y1 + y2) / 4 + my / 2,
                             "text-anchor": "middle", fill: "#555", class: "edge-label"});
      t.textContent = D.labels[lab];
      s.appendChild(t);
    }
  }
  for (const k of members) {
    const [x, y] = pos.get(k);
    const g = svg("g", {class: "node"});
    g.appendChild(svg("circle", {cx: x, cy: y, r: 7, fill: D.members[k][1] === "IPBlock" ?
      "#fff" : "#4a6fa5", stroke: "#333"}));
    const t = svg("text", {x: x + (x >= cx ? 10 : -10), y: y + 4,
                           "text-anchor": x >= cx ? "start" : "end"});
    t.textContent = name(k);
    g.appendChild(t);
    s.appendChild(g);
  }
  box.appendChild(s);
}
let current = 0;
function drill(i) {
  current = i;
  const d = D.detail[i], sec = document.getElementById("drill");
  sec.hidden = false;
  document.getElementById("drill-title").textContent = "Namespace " + NS[i];
  for (const td of document.querySelectorAll("#heatmap .sel")) td.classList.remove("sel");
  for (const th of document.querySelectorAll("#heatmap th.r"))
    if (th.textContent === NS[i]) th.classList.add("sel");
  drawGraph(document.getElementById("graph"), d.members, d.edges);
  const w = document.getElementById("workloads");
  w.textContent = "";
  row(w, ["workload", "kind", "pods"], true);
  for (const k of d.members) {
    const m = D.members[k];
    row(w, [m[0], m[1], m[1] === "IPBlock" ? "" : m[2]]).className = "workload";
  }
  const e = document.getElementById("edges");
  e.textContent = "";
  row(e, ["source", "destination", "ports", ""], true);
  for (const [a, b, lab, certain] of d.edges.concat(d.out, d.in))
    row(e, [D.members[a][0], D.members[b][0], D.labels[lab], certain ? "" : "undecided"]);
  const note = [];
  if (d.out_total > d.out.length) note.push((d.out_total - d.out.length) +
    " more edges out of the namespace not listed");
  if (d.in_total > d.in.length) note.push((d.in_total - d.in.length) +
    " more edges into the namespace not listed");
  document.getElementById("edges-note").textContent = note.length ?
    note.join("; ") + " (at most " + D.cross_limit + " each way; the heatmap counts them)." : "";
  sec.scrollIntoView();
}
function drawIsolation() {
  const t = document.getElementById("isolation");
  row(t, ["namespace", "default deny ingress", "default deny egress", "DNS egress (UDP 53)"],
      true);
  for (const x of D.isolation) {
    const yesno = (l) => el("td", l.length ? "yes (" + l.join(", ") + ")" : "no",
                            l.length ? "yes" : "no");
    const dns = el("td", x.dns, x.dns === "allowed" ? "yes" : x.dns === "denied" ? "no" : "maybe");
    row(t, [el("td", x.namespace), yesno(x.deny_ingress), yesno(x.deny_egress), dns]);
  }
}
function drawLint() {
  const L = D.lint;
  document.getElementById("lint-summary").textContent = L.total + " findings" +
    (L.total > L.findings.length ? " (first " + L.findings.length + " listed)" : "") +
    (L.total ? ": " + Object.entries(L.by_id).map(([k, v]) => k + " " + v).join(", ") : "");
  const t = document.getElementById("findings");
  if (L.findings.length) row(t, ["severity", "id", "object", "message"], true);
  for (const f of L.findings) row(t, [f.severity, f.id, f.objects.join(", "), f.message]);
}
function drawQuestions() {
  const box = document.getElementById("diagnoses");
  if (!D.questions.length) box.appendChild(el("p", "No question asked (report --question " +
    "'SRC DST PORT')."));
  for (const q of D.questions) {
    box.appendChild(el("h3", q.question + ": " + q.verdict));
    box.appendChild(el("pre", q.text));
  }
}
const started = performance.now();
drawHeatmap(); drawIsolation(); drawLint(); drawQuestions();
document.body.dataset.drawnMs = Math.round(performance.now() - started);
"""
