// One execution: header with actions, tabs Gantt / Logs / Outputs / Overview, live over SSE while it runs.
"use strict";
(function () {
  const K = window.Kflow;
  const { esc, fmtDuration } = window.KflowGantt;
  const TERMINAL = ["SUCCESS", "WARNING", "FAILED", "KILLED", "CANCELLED", "RETRIED", "SKIPPED"];
  const LEVELS = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR"];
  const TABS = ["gantt", "logs", "outputs", "overview"];
  const TAB_NAMES = { gantt: "Gantt", logs: "Logs", outputs: "Outputs", overview: "Overview" };

  const levelSelect = (id, label) => `<label for="${id}">${label}<select id="${id}">` +
    LEVELS.map((l) => `<option ${l === "DEBUG" ? "selected" : ""}>${l}</option>`).join("") + "</select></label>";

  function logsHtml(entries) {
    if (!entries.length) return '<p class="muted">No logs.</p>';
    return entries.map((e) => `<div class="line"><span class="lvl lvl-${esc(e.level)}">${esc(e.level)}</span>` +
      `<span class="task">[${esc(e.taskRunId || e.taskId || "execution")}]</span> ${esc(e.message)}</div>`).join("");
  }

  function flatten(value, prefix, out) {
    if (value && typeof value === "object" && !Array.isArray(value) && Object.keys(value).length) {
      for (const [k, v] of Object.entries(value)) flatten(v, prefix ? `${prefix}.${k}` : k, out);
    } else out.push([prefix, value]);
    return out;
  }

  K.pages.execution = (key, query) => new Promise((resolve) => {
    const st = { doc: null, tab: TABS.includes(query.get("tab")) ? query.get("tab") : "gantt", run: null, cache: new Map(), lastLogs: 0 };
    const main = K.main();
    main.innerHTML = `<div id="exec-head"></div>
      <div class="tabs"><div role="tablist" aria-label="Execution views">${TABS.map((t) =>
        `<button role="tab" id="tab-${t}" aria-controls="panel-${t}" aria-selected="${t === st.tab}" tabindex="${t === st.tab ? 0 : -1}">${TAB_NAMES[t]}</button>`).join("")}</div>
      <section role="tabpanel" id="panel-gantt" aria-labelledby="tab-gantt" ${st.tab === "gantt" ? "" : "hidden"}><div id="gantt"></div><div id="run-detail" aria-live="polite"></div></section>
      <section role="tabpanel" id="panel-logs" aria-labelledby="tab-logs" ${st.tab === "logs" ? "" : "hidden"}>
        <div class="filters">${levelSelect("logs-level", "Level")}<label for="logs-task">Task run<select id="logs-task"><option value="">all</option></select></label></div>
        <div id="logs-all" class="logs" tabindex="0" aria-label="Execution logs"></div></section>
      <section role="tabpanel" id="panel-outputs" aria-labelledby="tab-outputs" ${st.tab === "outputs" ? "" : "hidden"}><div id="outputs"></div></section>
      <section role="tabpanel" id="panel-overview" aria-labelledby="tab-overview" ${st.tab === "overview" ? "" : "hidden"}><div id="overview"></div></section></div>`;
    const tabs = [...main.querySelectorAll('[role="tab"]')];
    const show = (t) => {
      st.tab = t;
      tabs.forEach((b) => { const on = b.id === `tab-${t}`; b.setAttribute("aria-selected", on); b.tabIndex = on ? 0 : -1; });
      TABS.forEach((x) => { document.getElementById(`panel-${x}`).hidden = x !== t; });
      paint(true);
    };
    tabs.forEach((b, i) => {
      b.onclick = () => show(TABS[i]);
      b.onkeydown = (ev) => {  // WAI-ARIA tabs: arrows move, Home/End jump
        const j = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: TABS.length - 1 }[ev.key];
        if (j === undefined) return;
        const n = (j + TABS.length) % TABS.length;
        tabs[n].focus(); show(TABS[n]); ev.preventDefault();
      };
    });
    document.getElementById("logs-level").onchange = () => loadLogs(true);
    document.getElementById("logs-task").onchange = () => loadLogs(true);

    async function loadLogs(force) {
      if (!st.doc || (!force && Date.now() - st.lastLogs < 1000)) return;
      st.lastLogs = Date.now();
      if (st.tab === "logs") {
        const p = new URLSearchParams({ level: document.getElementById("logs-level").value });
        const task = document.getElementById("logs-task").value;
        if (task) p.set("taskRunId", task);
        document.getElementById("logs-all").innerHTML = logsHtml(await K.api(`/api/executions/${K.path(key)}/logs?${p}`));
      }
      const lvl = document.getElementById("run-level");
      if (st.run && lvl) {
        const p = new URLSearchParams({ level: lvl.value, taskRunId: st.run });
        document.getElementById("run-logs").innerHTML = logsHtml(await K.api(`/api/executions/${K.path(key)}/logs?${p}`));
      }
    }

    function head(d) {
      const terminal = TERMINAL.includes(d.state);
      const buttons = [];
      if (K.can("kill") && !terminal) buttons.push('<button class="danger" data-act="kill">Kill</button>');
      if (K.can("resume") && d.state === "PAUSED") buttons.push('<button data-act="resume">Resume</button>');
      if (K.can("restart") && ["FAILED", "KILLED", "WARNING"].includes(d.state)) buttons.push('<button data-act="restart">Restart</button>');
      document.getElementById("exec-head").innerHTML = `<h1><a href="${K.flowHref(d.flowKey || `${d.namespace}/${d.flowId}`)}">${esc(d.namespace)}.${esc(d.flowId)}</a>
          <span class="mono">${esc(d.id)}</span> <span id="exec-state">${K.badge(d.state)}</span><span class="actions">${buttons.join("")}</span></h1>
        <p class="muted">Started ${K.when(d.startDate)}${d.duration != null ? ` · took ${esc(fmtDuration(d.duration))}` : ""} · ${d.taskRuns.length} task run(s)</p>
        ${d.error ? `<p class="alert">${esc(d.error)}</p>` : ""}`;
      document.querySelectorAll("#exec-head [data-act]").forEach((b) => { b.onclick = () => act(b.dataset.act); });
    }

    async function act(verb, extra) {
      try {
        const r = await K.post(`/api/executions/${K.path(key)}/${verb}`, extra);
        K.say(`${verb} requested`);
        if (r.key && r.key !== key) location.hash = K.execHref(r.key);
        else K.route();  // the same execution goes on (restart, resume): follow it live again
      } catch (e) { K.say(`${verb}: ${e.message}`); }
    }

    function detail(d) {
      const el = document.getElementById("run-detail");
      const tr = st.run && d.taskRuns.find((r) => r.id === st.run);
      if (!tr) { el.innerHTML = ""; el.dataset.run = ""; return; }
      if (el.dataset.run === tr.id && el.dataset.state === tr.state) return;  // logs refresh on their own
      el.dataset.run = tr.id; el.dataset.state = tr.state;
      const atts = tr.attempts.map((a, i) => `<tr><td>${i + 1}</td><td>${K.badge(a.state)}</td><td>${K.when(a.startDate)}</td><td>${K.when(a.endDate)}</td>` +
        `<td>${esc(a.exitCode ?? "")}</td></tr>`).join("");
      el.innerHTML = `<div class="gantt-detail"><h2>Task run <span class="mono">${esc(tr.id)}</span> ${K.badge(tr.state)}
          ${K.can("replay") && TERMINAL.includes(d.state) ? '<button class="secondary" id="replay">Replay from this task run</button>' : ""}</h2>
        ${tr.error ? `<p class="alert">${esc(tr.error)}</p>` : ""}
        ${atts ? `<table class="grid"><caption class="muted">Attempts</caption><thead><tr><th scope="col">#</th><th scope="col">State</th><th scope="col">Start</th><th scope="col">End</th><th scope="col">Exit code</th></tr></thead><tbody>${atts}</tbody></table>` : ""}
        <div class="filters">${levelSelect("run-level", "Log level")}</div>
        <div id="run-logs" class="logs" tabindex="0" aria-label="Logs of ${esc(tr.id)}"></div></div>`;
      document.getElementById("run-level").onchange = () => loadLogs(true);
      const rp = document.getElementById("replay");
      if (rp) rp.onclick = () => act("replay", { taskRunId: tr.id });
      loadLogs(true);
    }

    function outputs(d) {
      const runs = d.taskRuns.filter((tr) => Object.keys(tr.outputs || {}).length || tr.preview);
      const el = document.getElementById("outputs");
      const sig = runs.map((r) => r.id + ":" + r.state).join("|");
      if (el.dataset.sig === sig) return;
      el.dataset.sig = sig;
      el.innerHTML = runs.length ? runs.map((tr) => {
        const rows = flatten(tr.outputs || {}, "", []).map(([k, v]) => {
          const isUri = typeof v === "string" && v.startsWith("kestra://");
          const val = v !== null && typeof v === "object" ? JSON.stringify(v) : v;
          const tools = isUri && K.info.files ? ` <button class="secondary" data-preview="${esc(v)}" aria-controls="pv-${esc(tr.id)}-${esc(k)}">Preview</button>` +
            ` <a class="button secondary" href="/api/executions/${K.path(key)}/file?uri=${encodeURIComponent(v)}" download>Download</a>` : "";
          return `<dt>${esc(k)}</dt><dd><span class="mono">${esc(val)}</span>${tools}<div class="pv" id="pv-${esc(tr.id)}-${esc(k)}"></div></dd>`;
        }).join("");
        return `<div class="panel" data-outputs="${esc(tr.id)}"><h2>${esc(tr.id)}</h2><dl class="kv">${rows}</dl>` +
          (tr.preview ? K.table(tr.preview, "Preview of the stored result") : "") + "</div>";
      }).join("") : '<p class="muted">No outputs yet.</p>';
      el.querySelectorAll("[data-preview]").forEach((b) => {
        const target = document.getElementById(b.getAttribute("aria-controls"));
        const uri = b.dataset.preview;
        if (st.cache.has(uri)) target.innerHTML = st.cache.get(uri);
        b.onclick = async () => {
          try { st.cache.set(uri, K.table(await K.api(`/api/executions/${K.path(key)}/preview?uri=${encodeURIComponent(uri)}`))); }
          catch (e) { st.cache.set(uri, `<p class="alert">${esc(e.message)}</p>`); }
          target.innerHTML = st.cache.get(uri);
        };
      });
    }

    function overview(d) {
      const kv = (o) => Object.keys(o || {}).length ? `<dl class="kv">${Object.entries(o).map(([k, v]) =>
        `<dt>${esc(k)}</dt><dd class="mono">${esc(typeof v === "object" ? JSON.stringify(v) : v)}</dd>`).join("")}</dl>` : '<p class="muted">none</p>';
      document.getElementById("overview").innerHTML = `<div class="panel"><h2>Inputs</h2>${kv(d.inputs)}</div>
        <div class="panel"><h2>Labels</h2>${kv(d.labels)}</div>
        ${d.trigger ? `<div class="panel"><h2>Trigger</h2>${kv(d.trigger)}</div>` : ""}
        ${Object.keys(d.outputs || {}).length ? `<div class="panel"><h2>Flow outputs</h2>${kv(d.outputs)}</div>` : ""}
        <div class="panel"><h2>History</h2><table class="grid"><thead><tr><th scope="col">State</th><th scope="col">Date</th></tr></thead>
        <tbody>${d.histories.map((h) => `<tr><td>${K.badge(h.state)}</td><td>${K.when(h.date)}</td></tr>`).join("")}</tbody></table></div>`;
    }

    function paint(force) {
      const d = st.doc;
      if (!d) return;
      if (st.tab === "gantt") {
        window.KflowGantt.render(document.getElementById("gantt"), d, (run) => { st.run = run; detail(st.doc); });
        detail(d);
      } else if (st.tab === "outputs") outputs(d);
      else if (st.tab === "overview") overview(d);
      const sel = document.getElementById("logs-task");
      if (st.tab === "logs" && sel.options.length !== d.taskRuns.length + 1) {
        const cur = sel.value;
        sel.innerHTML = '<option value="">all</option>' + d.taskRuns.map((r) => `<option ${r.id === cur ? "selected" : ""}>${esc(r.id)}</option>`).join("");
      }
      loadLogs(force);
    }

    const update = (d) => {
      if (!d.taskRuns) { main.innerHTML = `<h1>Execution</h1><p class="alert" role="alert">${esc(d.error)}</p>`; resolve("execution"); return; }
      const first = !st.doc;
      st.doc = d;
      head(d);
      paint(false);
      document.body.dataset.state = d.state;
      (window.kflowStates = window.kflowStates || []).push(d.state);  // the states this page showed, in order
      if (first) {  // the page counts as loaded once the browser has painted the Gantt
        requestAnimationFrame(() => setTimeout(() => { window.kflowFirstPaint = performance.now(); resolve("execution"); }));
      }
    };
    // Running bars grow with the clock between two changes of the execution.
    const tick = setInterval(() => {
      if (st.doc && !TERMINAL.includes(st.doc.state) && st.tab === "gantt") {
        window.KflowGantt.render(document.getElementById("gantt"), st.doc, (run) => { st.run = run; detail(st.doc); });
      }
    }, 1000);
    K.cleanup.push(() => clearInterval(tick));
    // The document once (started early by index.html when the page opens here), then its changes.
    const early = window.kflowEarly && window.kflowEarly.key === key ? window.kflowEarly.got : null;
    window.kflowEarly = null;
    (early || fetch(`/api/executions/${K.path(key)}`)).then(async (r) => {
      const d = await r.json().catch(() => ({ error: `HTTP ${r.status}` }));
      performance.mark("kflow:data");
      update(d);
      performance.mark("kflow:rendered");
      if (r.ok && !TERMINAL.includes(d.state)) {
        K.stream(`/api/stream/executions/${K.path(key)}?after=${r.headers.get("X-Kflow-Version") || ""}`, update);
      }
    }, (e) => update({ error: e.message }));
  });
})();
