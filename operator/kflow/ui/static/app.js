// kflow ui: a hash-routed page over the JSON API of `kflow ui` (operator/kflow/ui/server.py).
// Pages: #/flows[/ns/name], #/executions[?filters], #/executions/ns/name, #/triggers.
"use strict";
const { esc, fmtDuration } = window.KflowGantt;
const K = {
  info: { allowActions: false, actions: [] },
  cleanup: [],
  main: () => document.getElementById("main"),
};
window.Kflow = K;

K.api = async (path) => {
  const r = await fetch(path, { headers: { Accept: "application/json" } });
  const body = await r.json().catch(() => ({ error: `HTTP ${r.status}` }));
  if (!r.ok) throw Object.assign(new Error(body.error || `HTTP ${r.status}`), { body });
  return body;
};
K.post = async (path, data) => {
  const r = await fetch(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(data || {}) });
  const body = await r.json().catch(() => ({ error: `HTTP ${r.status}` }));
  if (!r.ok) throw Object.assign(new Error(body.error || `HTTP ${r.status}`), { body });
  return body;
};
K.stream = (path, onData) => {  // server-sent events; closed when the page changes or the server says `end`
  const es = new EventSource(path);
  es.onmessage = (ev) => onData(JSON.parse(ev.data));
  es.addEventListener("end", () => es.close());
  K.cleanup.push(() => es.close());
  return es;
};
K.say = (text) => { document.getElementById("status").textContent = text || ""; };
K.can = (action) => K.info.allowActions && K.info.actions.includes(action);
K.badge = (state) => `<span class="badge state-bg-${esc(state)}">${esc(state)}</span>`;
K.when = (iso) => (iso ? esc(iso.replace("T", " ").replace(/\.\d+/, "").replace("+00:00", "Z")) : "");
K.execHref = (key) => `#/executions/${key.split("/").map(encodeURIComponent).join("/")}`;
K.flowHref = (key) => `#/flows/${key.split("/").map(encodeURIComponent).join("/")}`;
K.path = (key) => key.split("/").map(encodeURIComponent).join("/");

K.table = (t, caption) => {
  if (t.kind === "error") return `<p class="alert">${esc(t.message)}</p>`;
  if (t.kind === "text") return `<pre class="source">${esc(t.text)}</pre>`;
  const cell = (v) => esc(v !== null && typeof v === "object" ? JSON.stringify(v) : v);
  return `<table class="grid preview">${caption ? `<caption class="muted">${esc(caption)}</caption>` : ""}` +
    `<thead><tr>${t.columns.map((c) => `<th scope="col">${esc(c)}</th>`).join("")}</tr></thead>` +
    `<tbody>${t.rows.map((r) => `<tr>${r.map((v) => `<td>${cell(v)}</td>`).join("")}</tr>`).join("")}</tbody></table>` +
    (t.truncated ? `<p class="muted">First ${t.rows.length} rows shown.</p>` : "");
};

K.dialog = (title, html) => {
  const d = document.getElementById("dialog");
  document.getElementById("dialog-title").textContent = title;
  document.getElementById("dialog-body").innerHTML = html;
  if (!d.open) d.showModal();
  const first = d.querySelector("#dialog-body input, #dialog-body select, #dialog-body textarea, #dialog-body button");
  if (first) first.focus();
  return d;
};

// ---- flows -----------------------------------------------------------------------------------------
K.pages = {};
K.pages.flows = async (parts) => {
  if (parts.length >= 2) return K.pages.flow(parts.slice(0, 2).join("/"));
  const flows = await K.api("/api/flows");
  K.main().innerHTML = `<h1>Flows</h1><table class="grid"><thead><tr><th scope="col">Flow</th><th scope="col">Namespace</th>` +
    `<th scope="col">Validation</th><th scope="col">Tasks</th><th scope="col">Inputs</th><th scope="col">Triggers</th></tr></thead><tbody>` +
    flows.map((f) => `<tr><td><a href="${K.flowHref(f.key)}">${esc(f.id || f.name)}</a></td><td>${esc(f.namespace || "")}</td>` +
      `<td>${f.valid ? '<span class="badge state-bg-SUCCESS">valid</span>' : `<span class="badge state-bg-FAILED">invalid</span> <span class="muted">${esc(f.problems.length)} problem(s)</span>`}</td>` +
      `<td>${esc(f.tasks ?? "")}</td><td>${esc((f.inputs || []).map((i) => i.id).join(", "))}</td>` +
      `<td>${esc((f.triggers || []).map((t) => t.cron || t.id).join(", "))}</td></tr>`).join("") +
    `</tbody></table>${flows.length ? "" : '<p class="muted">No flows.</p>'}`;
};

K.pages.flow = async (key) => {
  const f = await K.api(`/api/flows/${K.path(key)}`);
  K.main().innerHTML = `<h1>${esc(f.namespace || "")}${f.namespace ? "." : ""}${esc(f.id || f.name)}
      ${f.valid ? '<span class="badge state-bg-SUCCESS">valid</span>' : '<span class="badge state-bg-FAILED">invalid</span>'}
      <span class="actions">${K.can("execute") && f.valid ? '<button id="execute">Execute</button>' : ""}
      <a class="button secondary" href="#/executions?flow=${encodeURIComponent((f.namespace ? f.namespace + "." : "") + (f.id || f.name))}">Executions</a></span></h1>
    ${f.description ? `<p>${esc(f.description)}</p>` : ""}
    ${f.problems.length ? `<div class="alert" role="alert"><strong>Validation problems</strong><ul>${f.problems.map((p) => `<li>${esc(p)}</li>`).join("")}</ul></div>` : ""}
    <h2>Source</h2><pre class="source" aria-label="Flow source YAML" tabindex="0">${esc(f.source)}</pre>`;
  const b = document.getElementById("execute");
  if (b) b.onclick = () => K.executeDialog(f);
  return "flow";
};

K.fieldHtml = (inp) => {
  const id = `in-${inp.id}`, name = inp.displayName || inp.id;
  const def = inp.defaults === undefined ? "" : (typeof inp.defaults === "object" ? JSON.stringify(inp.defaults) : String(inp.defaults));
  const help = `${esc(inp.type)}${inp.required && inp.defaults === undefined ? ", required" : ""}${inp.description ? " — " + esc(inp.description) : ""}`;
  const attrs = `id="${esc(id)}" name="${esc(inp.id)}" data-type="${esc(inp.type)}" aria-describedby="${esc(id)}-help ${esc(id)}-err"`;
  let control;
  if (inp.type === "BOOLEAN" || inp.type === "BOOL") {
    control = `<input type="checkbox" ${attrs} ${def === "true" ? "checked" : ""}>`;
  } else if ((inp.type === "SELECT" || inp.type === "ENUM") && inp.values && !inp.allowCustomValue) {
    control = `<select ${attrs}>${inp.defaults === undefined ? '<option value=""></option>' : ""}${inp.values.map((v) => `<option ${String(v) === def ? "selected" : ""}>${esc(v)}</option>`).join("")}</select>`;
  } else if (inp.type === "MULTISELECT" && inp.values) {
    const chosen = Array.isArray(inp.defaults) ? inp.defaults.map(String) : [];
    control = `<select multiple ${attrs}>${inp.values.map((v) => `<option ${chosen.includes(String(v)) ? "selected" : ""}>${esc(v)}</option>`).join("")}</select>`;
  } else if (["ARRAY", "JSON", "YAML", "MULTISELECT"].includes(inp.type)) {
    control = `<textarea ${attrs}>${esc(def)}</textarea>`;
  } else {
    const mode = inp.type === "INT" ? ' inputmode="numeric"' : inp.type === "FLOAT" ? ' inputmode="decimal"' : "";
    const ph = { DATE: "2024-01-31", DATETIME: "2024-01-31T10:00:00Z", TIME: "10:00:00", DURATION: "PT5M" }[inp.type] || "";
    control = `<input type="text" ${attrs}${mode} value="${esc(def)}" placeholder="${esc(ph)}">`;
  }
  return `<label for="${esc(id)}">${esc(name)}${control}<span class="help" id="${esc(id)}-help">${help}</span>` +
    `<span class="field-error" id="${esc(id)}-err"></span></label>`;
};

K.formValue = (el) => {
  const t = el.dataset.type;
  if (el.type === "checkbox") return el.checked;
  if (el.multiple) return [...el.selectedOptions].map((o) => o.value);
  const v = el.value;
  if (v === "") return undefined;  // the input's defaults apply, as with `kflow run` without -i
  if (t === "ARRAY" && !v.trim().startsWith("[")) return v.split("\n").map((s) => s.trim()).filter(Boolean);
  return v;
};

K.executeDialog = (f) => {
  const fields = (f.inputs || []).map(K.fieldHtml).join("");
  K.dialog(`Execute ${f.id || f.name}`, `<form class="form" id="exec-form" novalidate>
      <div id="exec-error" role="alert"></div>
      ${fields || '<p class="muted">This flow has no inputs.</p>'}
      <label for="exec-labels">Labels<textarea id="exec-labels" placeholder="key=value, one per line" aria-describedby="exec-labels-help"></textarea>
        <span class="help" id="exec-labels-help">Optional execution labels, one key=value per line</span></label>
      <div><button type="submit">Execute</button></div></form>`);
  document.getElementById("exec-form").onsubmit = async (ev) => {
    ev.preventDefault();
    const form = ev.target;
    const inputs = {};
    form.querySelectorAll("[data-type]").forEach((el) => {
      el.removeAttribute("aria-invalid");
      document.getElementById(`${el.id}-err`).textContent = "";
      const v = K.formValue(el);
      if (v !== undefined) inputs[el.name] = v;
    });
    const labels = {};
    for (const line of document.getElementById("exec-labels").value.split("\n")) {
      const i = line.indexOf("=");
      if (i > 0) labels[line.slice(0, i).trim()] = line.slice(i + 1).trim();
    }
    const err = document.getElementById("exec-error");
    err.innerHTML = "";
    try {
      const made = await K.post(`/api/flows/${K.path(f.key)}/execute`, { inputs, labels });
      document.getElementById("dialog").close();
      location.hash = K.execHref(made.key);
    } catch (e) {
      err.innerHTML = `<p class="alert">${esc(e.message)}</p>`;
      const field = e.body && e.body.field && form.querySelector(`[name="${CSS.escape(e.body.field)}"]`);
      if (field) {
        field.setAttribute("aria-invalid", "true");
        document.getElementById(`${field.id}-err`).textContent = e.message;
        field.focus();
      }
    }
  };
};

// ---- executions ------------------------------------------------------------------------------------
const STATES = ["", "CREATED", "QUEUED", "RUNNING", "PAUSED", "SUCCESS", "WARNING", "FAILED", "KILLED", "CANCELLED"];
K.pages.executions = async (parts, query) => {
  if (parts.length >= 2) return K.pages.execution(parts.slice(0, 2).join("/"), query);
  const q = (n) => esc(query.get(n) || "");
  K.main().innerHTML = `<h1>Executions</h1>
    <form class="filters" id="filters" role="search" aria-label="Filter executions">
      <label for="f-flow">Flow<input id="f-flow" name="flow" value="${q("flow")}" placeholder="namespace.flow"></label>
      <label for="f-state">State<select id="f-state" name="state">${STATES.map((s) => `<option value="${s}" ${s === query.get("state") ? "selected" : ""}>${s || "any"}</option>`).join("")}</select></label>
      <label for="f-label">Label<input id="f-label" name="label" value="${q("label")}" placeholder="key=value"></label>
      <label for="f-since">From<input id="f-since" name="since" type="date" value="${q("since")}"></label>
      <label for="f-until">To<input id="f-until" name="until" type="date" value="${q("until")}"></label>
      <button type="submit">Filter</button></form>
    <table class="grid" aria-live="off"><thead><tr><th scope="col">Execution</th><th scope="col">Flow</th><th scope="col">State</th>
      <th scope="col">Start</th><th scope="col">Duration</th><th scope="col">Task runs</th><th scope="col">Labels</th></tr></thead>
      <tbody id="exec-rows"></tbody></table><p id="exec-count" class="muted"></p>`;
  document.getElementById("filters").onsubmit = (ev) => {
    ev.preventDefault();
    const p = new URLSearchParams();
    for (const [k, v] of new FormData(ev.target)) if (v) p.set(k, v);
    location.hash = `#/executions${p.toString() ? "?" + p : ""}`;
  };
  const filters = new URLSearchParams([...query].filter(([, v]) => v));
  K.stream(`/api/stream/executions?${filters}`, (rows) => {
    document.getElementById("exec-rows").innerHTML = rows.map((e) => `<tr data-key="${esc(e.key)}">
        <td><a href="${K.execHref(e.key)}" class="mono">${esc(e.id)}</a></td><td>${esc(e.namespace)}.${esc(e.flowId)}</td>
        <td>${K.badge(e.state)}</td><td>${K.when(e.startDate)}</td><td>${esc(fmtDuration(e.duration))}</td>
        <td>${esc(e.taskRunCount)}</td><td>${Object.entries(e.labels || {}).map(([k, v]) => `<code>${esc(k)}=${esc(v)}</code>`).join(" ")}</td></tr>`).join("");
    document.getElementById("exec-count").textContent = `${rows.length} execution(s)`;
  });
};

// ---- triggers ----------------------------------------------------------------------------------------
K.pages.triggers = async () => {
  K.main().innerHTML = `<h1>Triggers</h1><table class="grid"><thead><tr><th scope="col">CronTrigger</th><th scope="col">Flow</th>
      <th scope="col">Schedule</th><th scope="col">Last tick</th><th scope="col">Next tick</th><th scope="col">Active</th>
      <th scope="col">Backfill</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead><tbody id="trigger-rows"></tbody></table>
      <p id="trigger-empty" class="muted"></p>`;
  K.stream("/api/stream/triggers", (rows) => {
    document.getElementById("trigger-empty").textContent = rows.length ? "" : "No CronTriggers.";
    document.getElementById("trigger-rows").innerHTML = rows.map((t) => {
      const b = t.backfill || {};
      const pct = b.total ? Math.round((100 * (b.decided || 0)) / b.total) : 0;
      const progress = b.total ? `<div class="progress" role="progressbar" aria-label="Backfill of ${esc(t.name)}" aria-valuemin="0" aria-valuemax="${b.total}" aria-valuenow="${b.decided || 0}"><span style="width:${pct}%"></span></div>
        <span class="muted">${b.decided || 0}/${b.total} ticks · ${b.created || 0} created · ${b.succeeded || 0} ok · ${b.failed || 0} failed · ${b.active || 0} active${b.completionTime ? " · complete" : ""}</span>` : '<span class="muted">none</span>';
      return `<tr data-key="${esc(t.key)}"><td>${esc(t.namespace)}/${esc(t.name)}${t.suspend ? ' <span class="badge">suspended</span>' : ""}</td>
        <td><a href="${K.flowHref(t.flowKey)}">${esc(t.flowKey.split("/")[1])}</a></td><td><code>${esc(t.cron)}</code> <span class="muted">${esc(t.timezone)}</span></td>
        <td>${K.when(t.lastScheduleTime)}</td><td>${K.when(t.nextScheduleTime)}</td><td>${esc(t.active.length)}</td><td>${progress}</td>
        <td>${K.can("backfill") ? `<button class="secondary" data-backfill="${esc(t.key)}">Backfill</button>` : ""}</td></tr>`;
    }).join("");
    document.querySelectorAll("[data-backfill]").forEach((btn) => { btn.onclick = () => K.backfillDialog(btn.dataset.backfill); });
  });
};

K.backfillDialog = (key) => {
  K.dialog(`Backfill executions of ${key}`, `<form class="form" id="bf-form" novalidate>
    <label for="bf-start">Start<input id="bf-start" name="start" required placeholder="2019-01-01"><span class="help">date or RFC 3339 time (UTC), included</span></label>
    <label for="bf-end">End<input id="bf-end" name="end" required placeholder="2019-03-31"><span class="help">date, RFC 3339 time or now; not in the future</span></label>
    <label for="bf-reprocess">Reprocess<select id="bf-reprocess" name="reprocess"><option value="missing">missing: ticks without an execution</option>
      <option value="failed">failed: and ticks whose last run failed</option><option value="all">all: every tick</option></select></label>
    <label for="bf-max">Max active executions<input id="bf-max" name="maxActive" type="number" min="1" max="1000" value="1"></label>
    <label for="bf-order">Order<select id="bf-order" name="order"><option>oldest-first</option><option>newest-first</option></select></label>
    <div id="bf-error" role="alert"></div>
    <div><button type="submit" id="bf-preview" class="secondary">Preview (dry run)</button> <button type="button" id="bf-confirm" disabled>Start backfill</button></div>
    <div id="bf-plan" aria-live="polite"></div></form>`);
  const form = document.getElementById("bf-form");
  const body = () => ({ ...Object.fromEntries(new FormData(form)), maxActive: Number(form.maxActive.value || 1) });
  const confirm = document.getElementById("bf-confirm");
  form.oninput = () => { confirm.disabled = true; };  // a changed request needs a new preview
  const run = async (dryRun) => {
    document.getElementById("bf-error").innerHTML = "";
    try {
      const r = await K.post(`/api/triggers/${K.path(key)}/backfill`, { ...body(), dryRun });
      const rows = { kind: "table", columns: ["tick", "action", "execution", "why"], rows: r.ticks.map((t) => [t.tick, t.action, t.execution, t.why]), truncated: r.ticks.length < r.total };
      document.getElementById("bf-plan").innerHTML = `<p id="bf-summary"><strong>${r.total} tick(s): ${r.run} would run</strong>${r.applied ? " — backfill started" : ""}</p>` + K.table(rows);
      confirm.disabled = r.applied || r.run === 0;
      if (r.applied) { K.say(`Backfill of ${key} started: ${r.run} execution(s) to create`); document.getElementById("dialog").close(); }
    } catch (e) {
      document.getElementById("bf-error").innerHTML = `<p class="alert">${esc(e.message)}</p>`;
      confirm.disabled = true;
    }
  };
  form.onsubmit = (ev) => { ev.preventDefault(); run(true); };
  confirm.onclick = () => run(false);
};

// ---- router ------------------------------------------------------------------------------------------
K.route = async () => {
  K.cleanup.splice(0).forEach((f) => f());
  const [path, qs] = (location.hash.slice(1) || "/executions").split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  const page = K.pages[parts[0]] ? parts[0] : "executions";
  document.querySelectorAll("[data-nav]").forEach((a) => a.toggleAttribute("aria-current", false));
  const nav = document.querySelector(`[data-nav="${page}"]`);
  if (nav) nav.setAttribute("aria-current", "page");
  delete document.body.dataset.ready;
  let ready = "error";
  try {
    ready = (await K.pages[page](parts.slice(1), new URLSearchParams(qs || ""))) || page;
    document.title = `kflow · ${ready}`;
    K.say("");
  } catch (e) {
    K.main().innerHTML = `<h1>Error</h1><p class="alert" role="alert">${esc(e.message)}</p>`;
  }
  document.body.dataset.ready = ready;
};

window.addEventListener("hashchange", K.route);
document.addEventListener("DOMContentLoaded", async () => {  // after every deferred script (execution.js)
  performance.mark("kflow:scripts");
  try { K.info = await (window.kflowInfo || K.api("/api/info")); } catch (e) { K.say(`kflow ui: ${e.message}`); }
  document.getElementById("source").textContent = `${K.info.source || ""}${K.info.allowActions ? " · actions allowed" : " · read-only"}`;
  K.route();
});
