// The Gantt of an execution: one row (a button) per task run, its bar placed on the execution's time
// span, split into one segment per attempt. Fed with the execution document of /api/executions/{key};
// rendered as one HTML string; from VIRTUAL task runs on, only the rows in view (and a margin) are in
// the DOM, redrawn on scroll, so an execution of thousands of task runs opens as fast as a small one.
"use strict";
(function () {
  const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
  const ms = (t) => (t ? Date.parse(t) : NaN);

  function fmtDuration(seconds) {
    if (seconds == null || isNaN(seconds)) return "";
    if (seconds < 1) return `${Math.round(seconds * 1000)}ms`;
    if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 2 : 1)}s`;
    const m = Math.floor(seconds / 60), s = Math.round(seconds % 60);
    if (m < 60) return `${m}m${s}s`;
    return `${Math.floor(m / 60)}h${m % 60}m`;
  }

  function span(doc, now) {
    let t0 = ms(doc.startDate), t1 = ms(doc.endDate);
    for (const tr of doc.taskRuns) {
      const s = ms(tr.startDate), e = ms(tr.endDate);
      if (!isNaN(s) && (isNaN(t0) || s < t0)) t0 = s;
      if (!isNaN(e) && (isNaN(t1) || e > t1)) t1 = e;
    }
    if (!doc.endDate || isNaN(t1)) t1 = Math.max(isNaN(t1) ? now : t1, now);
    if (isNaN(t0)) t0 = now;
    return [t0, Math.max(t1, t0 + 1)];
  }

  function label(tr, depth) {
    const v = tr.value != null ? ` [${tr.value}]` : "";
    return `${"\u00a0\u00a0".repeat(depth)}${tr.taskId}${v}`;
  }

  function rowHtml(tr, depth, t0, total, now) {
    const start = ms(tr.startDate), end = isNaN(ms(tr.endDate)) ? now : ms(tr.endDate);
    const atts = tr.attempts || [];
    let bar = "";
    let seconds = null;
    if (!isNaN(start)) {
      const left = ((start - t0) / total) * 100, width = Math.max(((end - start) / total) * 100, 0.2);
      seconds = (end - start) / 1000;
      let segs = "";
      if (atts.length > 1) {
        const len = Math.max(end - start, 1);
        for (const a of atts) {
          const as = ms(a.startDate), ae = isNaN(ms(a.endDate)) ? end : ms(a.endDate);
          const w = Math.max(((ae - as) / len) * 100, 1);
          segs += `<span class="gantt-att state-bg-${esc(a.state)}" style="width:${w.toFixed(2)}%" title="attempt ${esc(a.state)}"></span>`;
        }
      }
      bar = `<span class="gantt-bar state-bg-${esc(tr.state)}" style="left:${left.toFixed(3)}%;width:${Math.min(width, 100 - left).toFixed(3)}%">${segs}</span>`;
    }
    const n = atts.length;
    const aria = `${label(tr, 0)}: ${tr.state}${seconds != null ? ", " + fmtDuration(seconds) : ""}${n ? `, ${n} attempt${n > 1 ? "s" : ""}` : ""}`;
    return `<li><button type="button" class="gantt-row" data-run="${esc(tr.id)}" aria-expanded="false" aria-label="${esc(aria)}">` +
      `<span class="gantt-name" title="${esc(tr.id)}">${esc(label(tr, depth))}</span>` +
      `<span class="gantt-track" aria-hidden="true">${bar}</span>` +
      `<span class="gantt-dur">${esc(fmtDuration(seconds))}</span></button></li>`;
  }

  function depths(runs) {
    const byId = new Map(runs.map((r) => [r.id, r]));
    const memo = new Map();
    const depth = (r) => {
      if (memo.has(r.id)) return memo.get(r.id);
      const p = r.parentId && byId.get(r.parentId);
      const d = p ? depth(p) + 1 : 0;
      memo.set(r.id, d);
      return d;
    };
    return runs.map(depth);
  }

  const ROW = 27;       // px, as in app.css
  const WINDOW = 60;    // rows drawn around the visible ones
  const VIRTUAL = 300;  // from this many task runs on, only the rows in view are in the DOM

  // Draws rows [from, to) of the current data into the list (absolutely placed when virtual);
  // `keep` is a row index that must be drawn whatever the scroll position reads (a key jump).
  function draw(el, keep) {
    const g = el._gantt;
    const list = el.querySelector(".gantt-rows");
    let from = 0, to = g.runs.length;
    if (g.virtual) {
      const top = list.scrollTop, height = list.clientHeight || 600;
      from = Math.max(0, Math.floor(top / ROW) - WINDOW);
      to = Math.min(g.runs.length, Math.ceil((top + height) / ROW) + WINDOW);
      if (keep !== undefined && (keep < from || keep >= to)) {
        from = Math.max(0, keep - WINDOW);
        to = Math.min(g.runs.length, keep + WINDOW + 1);
      }
    }
    let html = "";
    for (let i = from; i < to; i++) {
      const row = rowHtml(g.runs[i], g.depths[i], g.t0, g.total, g.now);
      html += g.virtual ? row.replace("<li>", `<li style="top:${i * ROW}px" aria-setsize="${g.runs.length}" aria-posinset="${i + 1}">`) : row;
    }
    const focused = list.contains(document.activeElement) && document.activeElement.dataset.run;
    list.querySelector(".gantt-body").innerHTML = html;
    const find = (id) => list.querySelector(`.gantt-row[data-run="${CSS.escape(id)}"]`);
    if (g.selected && find(g.selected)) find(g.selected).setAttribute("aria-expanded", "true");
    if (focused && find(focused)) find(focused).focus({ preventScroll: true });  // a redraw keeps the focus
  }

  function render(el, doc, onSelect) {
    const now = Date.now();
    const [t0, t1] = span(doc, now);
    const runs = doc.taskRuns;
    const virtual = runs.length >= VIRTUAL;
    const prev = el._gantt;
    el._gantt = { runs, depths: depths(runs), t0, total: t1 - t0, now, virtual, onSelect,
                  selected: prev ? prev.selected : null };
    if (!prev || prev.virtual !== virtual || prev.runs.length !== runs.length) {
      el.innerHTML = `<div class="gantt" role="group" aria-label="Gantt of ${runs.length} task runs" data-count="${runs.length}">` +
        `<div class="gantt-head" aria-hidden="true"><span>Task run</span><span class="gantt-span"></span><span>Duration</span></div>` +
        `<div class="gantt-rows${virtual ? " virtual" : ""}"><ol class="gantt-body" style="${virtual ? `height:${runs.length * ROW}px` : ""}"></ol></div></div>`;
      const list = el.querySelector(".gantt-rows");
      if (virtual) list.addEventListener("scroll", () => {
        if (el._gantt.raf) return;
        el._gantt.raf = requestAnimationFrame(() => { el._gantt.raf = 0; draw(el); });
      });
    }
    el.querySelector(".gantt-span").textContent = `${new Date(t0).toISOString()} \u2192 ${fmtDuration((t1 - t0) / 1000)}`;
    draw(el);
    if (!el.dataset.wired) wire(el);
  }

  function wire(el) {
    el.dataset.wired = "1";
    el.addEventListener("click", (ev) => {
      const b = ev.target.closest(".gantt-row");
      if (!b) return;
      const g = el._gantt;
      const same = g.selected === b.dataset.run;
      el.querySelectorAll('.gantt-row[aria-expanded="true"]').forEach((x) => x.setAttribute("aria-expanded", "false"));
      g.selected = same ? null : b.dataset.run;
      if (!same) b.setAttribute("aria-expanded", "true");
      g.onSelect(g.selected);
    });
    el.addEventListener("keydown", (ev) => {  // arrows move between rows, Home/End to the ends
      const b = ev.target.closest(".gantt-row");
      if (!b || !["ArrowDown", "ArrowUp", "Home", "End"].includes(ev.key)) return;
      const g = el._gantt;
      const i = g.runs.findIndex((r) => r.id === b.dataset.run);
      const j = { ArrowDown: i + 1, ArrowUp: i - 1, Home: 0, End: g.runs.length - 1 }[ev.key];
      if (j < 0 || j >= g.runs.length) return;
      ev.preventDefault();
      const list = el.querySelector(".gantt-rows");
      if (g.virtual) {
        const top = j * ROW;
        if (top < list.scrollTop) list.scrollTop = top;
        else if (top + ROW > list.scrollTop + list.clientHeight) list.scrollTop = top + ROW - list.clientHeight;
        draw(el, j);
      }
      const next = list.querySelector(`.gantt-row[data-run="${CSS.escape(g.runs[j].id)}"]`);
      if (next) next.focus();
    });
  }

  window.KflowGantt = { render, fmtDuration, esc };
})();
