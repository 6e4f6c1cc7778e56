// Vigil's investigation UI. Every value from the API is rendered as text
// (textContent, setAttribute), never as HTML: process arguments, file
// names, user agents and user names are attacker-controlled.

const main = document.getElementById("main");
let session = null; // {role, name, csrf}
let timer = null;
let stream = null; // the threat events of the page shown

// live calls onChange(id) shortly after a threat is stored (server-sent
// events, coalesced), and every fallbackMs in case the stream is down.
function live(onChange, fallbackMs) {
  const ind = document.getElementById("live");
  let pending = null;
  const run = (id) => { Promise.resolve(onChange(id)).catch(() => {}); };
  stream = new EventSource("/api/v1/threats/events");
  stream.addEventListener("open", () => { ind.hidden = false; });
  stream.addEventListener("error", () => { ind.hidden = true; });
  stream.addEventListener("threat", (ev) => {
    let id = "";
    try { id = JSON.parse(ev.data).id; } catch (e) { id = ""; }
    if (pending) clearTimeout(pending);
    pending = setTimeout(() => { pending = null; run(id); }, 300);
  });
  if (fallbackMs) timer = setInterval(() => run(""), fallbackMs);
}

const SEVERITIES = ["critical", "high", "medium", "low", "info"];
const STATUSES = ["open", "in_progress", "resolved", "rejected"];
const RESOLUTIONS = ["malicious", "not_malicious", "security_test", "planned_action", "inconclusive"];

// h builds an element: attributes, then children (strings become text).
function h(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : String(v));
  }
  for (const k of kids.flat(Infinity)) {
    if (k === null || k === undefined || k === false) continue;
    e.append(k instanceof Node ? k : document.createTextNode(String(k)));
  }
  return e;
}

// link is an in-app link: only #/ routes, parts escaped.
function link(text, ...parts) {
  return h("a", { href: "#/" + parts.map(encodeURIComponent).join("/") }, text);
}

function sev(s) { return h("span", { class: "sev sev-" + (SEVERITIES.includes(s) ? s : "info") }, s); }
function when(t) { if (!t) return ""; const d = new Date(t); return isNaN(d) ? String(t) : d.toLocaleString(); }
function ago(t) {
  const s = Math.round((Date.now() - new Date(t)) / 1000);
  if (!isFinite(s)) return "";
  if (s < 60) return s + " s ago";
  if (s < 3600) return Math.round(s / 60) + " min ago";
  if (s < 86400) return Math.round(s / 3600) + " h ago";
  return Math.round(s / 86400) + " d ago";
}

class APIError extends Error {
  constructor(status, msg) { super(msg); this.status = status; }
}

async function api(method, path, body) {
  const headers = { "Accept": "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (session && method !== "GET") headers["X-Vigil-CSRF"] = session.csrf;
  const resp = await fetch(path, { method, headers, credentials: "same-origin", body: body === undefined ? undefined : JSON.stringify(body) });
  if (resp.status === 204) return null;
  let data = null;
  try { data = await resp.json(); } catch (e) { data = null; }
  if (!resp.ok) {
    if (resp.status === 401 && path !== "/api/v1/session") { session = null; showLogin(); }
    throw new APIError(resp.status, (data && data.error) || resp.statusText);
  }
  return data;
}

function setChrome() {
  const on = !!session;
  document.getElementById("nav").hidden = !on;
  document.getElementById("logout").hidden = !on;
  document.getElementById("who").textContent = on ? (session.name || "") + " (" + session.role + ")" : "";
}

function clear() {
  if (timer) { clearInterval(timer); timer = null; }
  if (stream) { stream.close(); stream = null; }
  document.getElementById("live").hidden = true;
  main.replaceChildren();
}

function showError(err) {
  main.replaceChildren(h("div", { class: "panel error", role: "alert" }, err.message || String(err)));
}

// Login: an API token, or a user and password from backend.yaml.
function showLogin(msg) {
  clear();
  setChrome();
  const err = h("div", { class: "error", id: "login-error", role: "alert" }, msg || "");
  const token = h("input", { id: "token", type: "password", autocomplete: "off", placeholder: "vgl_…" });
  const user = h("input", { id: "user", autocomplete: "username" });
  const pass = h("input", { id: "password", type: "password", autocomplete: "current-password" });
  const form = h("form", { class: "panel login", id: "login" },
    h("h1", {}, "Sign in to Vigil"),
    h("p", { class: "muted" }, "With an API token (the admin token is in the backend's data directory, admin.token), or a user of backend.yaml."),
    h("label", { for: "token" }, "API token"), token,
    h("label", { for: "user" }, "or user"), user,
    h("label", { for: "password" }, "password"), pass,
    err,
    h("div", { class: "row-actions" }, h("button", { class: "primary", type: "submit", id: "signin" }, "Sign in")));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const body = token.value ? { token: token.value.trim() } : { user: user.value, password: pass.value };
    try {
      session = await api("POST", "/api/v1/session", body);
      setChrome();
      if (!location.hash || location.hash === "#/login") location.hash = "#/threats"; else route();
    } catch (e) {
      err.textContent = e.message;
    }
  });
  main.append(form);
  token.focus();
}

function params() {
  const q = location.hash.split("?")[1] || "";
  return new URLSearchParams(q);
}

// Threats: counts by severity, filters, the list; refreshed every 5 s.
async function threatsPage() {
  const p = params();
  const sel = (name, values, label) => h("select", { name, "aria-label": label },
    h("option", { value: "" }, label), values.map((v) => h("option", { value: v, selected: p.get(name) === v }, v)));
  const input = (name, label) => h("input", { name, placeholder: label, value: p.get(name) || "", "aria-label": label, size: 14 });
  const form = h("form", { class: "filters", id: "filters" },
    sel("status", STATUSES, "any status"), sel("severity", SEVERITIES, "any severity"),
    sel("source", ["runtime", "cloudtrail", "k8saudit", "vpcflow"], "any source"),
    input("host", "host"), input("rule", "rule"), input("tactic", "tactic"),
    sel("since", ["1h", "24h", "7d", "30d"], "any time"),
    h("button", { type: "submit" }, "Filter"));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const q = new URLSearchParams();
    for (const [k, v] of new FormData(form)) if (v) q.set(k, v);
    location.hash = "#/threats" + (q.toString() ? "?" + q : "");
  });
  const counts = h("div", { class: "counts", id: "counts" });
  const body = h("tbody", { id: "threat-rows" });
  main.append(h("h1", {}, "Threats"), h("p", { class: "muted" }, "Attack chains joined from runtime, CloudTrail, Kubernetes audit and flow detections."),
    form, counts, h("table", {}, h("thead", {}, h("tr", {}, ["Severity", "Threat", "Status", "Sources", "Tactics", "Detections", "Last seen"].map((c) => h("th", {}, c)))), body));
  const load = async () => {
    const q = new URLSearchParams(p);
    const source = q.get("source");
    q.delete("source");
    q.set("limit", "500");
    const data = await api("GET", "/api/v1/threats?" + q);
    let list = data.threats || [];
    if (source) list = list.filter((t) => (t.sources || []).includes(source));
    const by = {};
    for (const t of list) by[t.severity] = (by[t.severity] || 0) + 1;
    counts.replaceChildren(...SEVERITIES.map((s) => h("div", { class: "count", "data-severity": s }, h("b", {}, by[s] || 0), sev(s))));
    body.replaceChildren(...(list.length ? list.map((t) => {
      const tr = h("tr", { class: "row", "data-id": t.id },
        h("td", {}, sev(t.severity)),
        h("td", {}, link(t.title || t.id, "threat", t.id), h("div", { class: "muted" }, t.id)),
        h("td", { class: "status-" + t.status }, t.status, t.resolution ? " · " + t.resolution : ""),
        h("td", {}, (t.sources || []).map((s) => h("span", { class: "pill" }, s))),
        h("td", {}, (t.tactics || []).join(" › ")),
        h("td", {}, (t.timeline || []).length + (t.omitted_detections || 0)),
        h("td", { title: when(t.last_seen) }, ago(t.last_seen)));
      tr.addEventListener("click", (ev) => { if (ev.target.tagName !== "A") location.hash = "#/threat/" + encodeURIComponent(t.id); });
      return tr;
    }) : [h("tr", {}, h("td", { colspan: 7, class: "empty" }, "No threats match. Try `sudo vigil simulate --all` on a host with the agent."))]));
  };
  await load();
  live(load, 30000);
}

// processTree merges the detections' processes and their ancestry into one
// tree, the processes the rules fired on highlighted.
function processTree(dets) {
  const nodes = new Map();
  const roots = [];
  const node = (p, key) => {
    if (!nodes.has(key)) nodes.set(key, { p, key, kids: [], rules: [], parent: null });
    return nodes.get(key);
  };
  for (const d of dets) {
    const a = d.evidence && d.evidence.alert;
    if (!a || !a.process) continue;
    const host = (a.host && a.host.id) || "";
    const chain = [...(a.process.ancestors || [])].reverse().concat([a.process]);
    let parent = null;
    for (const p of chain) {
      const key = host + "/" + (p.exec_id || p.pid);
      const n = node(p, key);
      if (parent && !n.parent && n !== parent) { n.parent = parent; parent.kids.push(n); }
      parent = n;
    }
    parent.rules.push(d.rule);
    parent.container = a.container;
  }
  for (const n of nodes.values()) if (!n.parent) roots.push(n);
  const render = (n) => {
    const p = n.p;
    let args = (p.args || []).join(" ");
    if (args.length > 300) args = args.slice(0, 300) + " …"; // whole in the raw JSON
    const user = p.user || (p.uid !== undefined ? "uid " + p.uid : "");
    const ctr = n.container && n.container.id ? "container " + (n.container.pod_namespace ? n.container.pod_namespace + "/" + n.container.pod_name : n.container.id.slice(0, 12)) : "";
    return h("li", {},
      h("span", { class: "proc" + (n.rules.length ? " offender" : ""), "data-exec-id": p.exec_id || "", "data-offender": n.rules.length ? "true" : "false" },
        h("b", {}, p.exe || p.name || "?"), args ? " " + args : "",
        h("span", { class: "meta" }, [user, "pid " + p.pid, p.exec_id ? "exec " + p.exec_id : "", ctr].filter(Boolean).join(" · ")),
        n.rules.length ? h("span", { class: "rule" }, "⚑ " + n.rules.join(", ")) : null),
      n.kids.length ? h("ul", {}, n.kids.map(render)) : null);
  };
  return roots.length ? h("div", { class: "tree", id: "process-tree" }, h("ul", {}, roots.map(render))) : h("p", { class: "muted" }, "No runtime detection: no process tree.");
}

// entityList shows the named entities first (hosts, identities, keys,
// pods, addresses), processes last; past ten, the rest fold away.
function entityList(title, ents) {
  const item = (e) => h("li", {}, h("span", { class: "kind" }, e.kind), link(e.name ? e.name + " (" + e.id + ")" : e.id, "entity", e.kind, e.id));
  const sorted = [...(ents || [])].sort((a, b) => (a.kind === "process") - (b.kind === "process"));
  const shown = sorted.slice(0, 10), rest = sorted.slice(10);
  return h("div", {}, h("h2", {}, title, sorted.length > 10 ? h("span", { class: "muted" }, " (" + sorted.length + ")") : null),
    h("ul", { class: "ents" }, shown.map(item)),
    rest.length ? h("details", { class: "more" }, h("summary", {}, rest.length + " more"), h("ul", { class: "ents" }, rest.map(item))) : null);
}

async function threatPage(id) {
  const t = await api("GET", "/api/v1/threats/" + encodeURIComponent(id));
  const dets = t.detections || [];
  const chain = h("div", { class: "chain", id: "attack-chain" }, (t.tactics || []).flatMap((x, i) => [i ? h("span", { class: "arrow" }, "›") : null, h("span", { class: "step" }, x)]));
  const timeline = h("table", { id: "timeline" }, h("thead", {}, h("tr", {}, ["Time", "Source", "Severity", "Tactic", "Rule", "What"].map((c) => h("th", {}, c)))),
    h("tbody", {}, (t.timeline || []).map((e) => h("tr", { "data-detection": e.detection },
      h("td", {}, when(e.time)), h("td", {}, h("span", { class: "src" }, e.source)), h("td", {}, sev(e.severity)),
      h("td", {}, e.mitre_tactic, e.mitre_technique ? " (" + e.mitre_technique + ")" : ""), h("td", {}, link(e.rule, "detection", e.detection)), h("td", { class: "wrap" }, e.message || "")))));
  const raw = JSON.stringify(t, null, 2);
  const copy = h("button", { type: "button", id: "copy-json" }, "Copy as JSON");
  copy.addEventListener("click", async () => {
    try { await navigator.clipboard.writeText(raw); copy.textContent = "Copied"; } catch (e) { copy.textContent = "Copy failed"; }
  });
  const net = (t.network || []).length ? h("div", {}, h("h2", {}, "Network"), h("table", {}, h("thead", {}, h("tr", {}, ["Host", "Remote", "Sent", "Received", "Flows", "Duration"].map((c) => h("th", {}, c)))),
    h("tbody", {}, t.network.map((x) => h("tr", {}, h("td", {}, x.host), h("td", {}, link(x.remote, "entity", "ip", x.remote)), h("td", {}, bytes(x.bytes_out)), h("td", {}, bytes(x.bytes_in)), h("td", {}, x.flows), h("td", {}, (x.seconds || 0) + " s")))))) : null;
  main.append(
    h("div", { class: "panel" },
      h("div", {}, sev(t.severity), " ", h("span", { class: "status-" + t.status, id: "threat-status" }, t.status), t.resolution ? h("span", { id: "threat-resolution" }, " · " + t.resolution) : null),
      h("h1", { id: "threat-title" }, t.title || t.id),
      h("div", { class: "muted" }, t.id, " · first seen ", when(t.first_seen), " · last seen ", when(t.last_seen), t.scope ? " · scope " + t.scope : ""),
      (t.reasons || []).length ? h("ul", {}, t.reasons.map((r) => h("li", {}, r))) : null,
      h("h2", {}, "ATT&CK chain"), chain),
    h("div", { class: "grid" },
      h("div", {},
        h("div", { class: "panel" }, h("h2", {}, "Timeline"), timeline),
        h("div", { class: "panel" }, h("h2", {}, "Process tree"), processTree(dets)),
        net ? h("div", { class: "panel" }, net) : null,
        h("div", { class: "panel" }, h("h2", {}, "Raw"), h("div", { class: "row-actions" }, copy), h("details", {}, h("summary", {}, "The threat and its detections as JSON"), h("pre", { class: "json", id: "raw-json" }, raw)))),
      h("div", {},
        h("div", { class: "panel" }, entityList("Actors", t.actors), entityList("Resources", t.resources)),
        h("div", { class: "panel", id: "triage" }, h("h2", {}, "Triage"), triage(t)))));
  // A change to this threat (a new detection, another analyst's triage)
  // redraws it, unless a note is being written.
  live((changed) => {
    const note = document.getElementById("set-note");
    if (changed === t.id && !(note && note.value)) route();
  }, 0);
}

function bytes(n) {
  n = Number(n || 0);
  const u = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : n) + " " + u[i];
}

function triage(t) {
  const notes = h("div", { id: "notes" }, (t.notes || []).map((n) => h("div", { class: "note" }, h("div", { class: "muted" }, (n.author || "") + " · " + when(n.time)), n.text)));
  if (!session || session.role !== "admin") return h("div", {}, notes, h("p", { class: "muted" }, "Viewers cannot change a threat."));
  const status = h("select", { id: "set-status", "aria-label": "status" }, STATUSES.map((s) => h("option", { value: s, selected: s === t.status }, s)));
  const resolution = h("select", { id: "set-resolution", "aria-label": "resolution" }, h("option", { value: "" }, "no resolution"),
    RESOLUTIONS.map((r) => h("option", { value: r, selected: r === t.resolution }, r)));
  const note = h("textarea", { id: "set-note", placeholder: "A note (who, what was done)", "aria-label": "note" });
  const err = h("div", { class: "error", role: "alert" });
  const save = h("button", { class: "primary", type: "submit", id: "save-triage" }, "Save");
  const form = h("form", {}, h("div", { class: "row-actions" }, status, resolution), note, err, h("div", { class: "row-actions" }, save));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const body = { status: status.value, note: note.value };
    if (resolution.value) body.resolution = resolution.value;
    try {
      await api("PATCH", "/api/v1/threats/" + encodeURIComponent(t.id), body);
      route();
    } catch (e) { err.textContent = e.message; }
  });
  return h("div", {}, form, h("h2", {}, "Notes"), notes);
}

// Fleet: every sensor, silent and degraded first.
async function fleetPage() {
  const body = h("tbody", { id: "sensor-rows" });
  main.append(h("h1", {}, "Fleet"), h("p", { class: "muted" }, "Every sensor from its heartbeats; silent after three missed intervals."),
    h("table", {}, h("thead", {}, h("tr", {}, ["Status", "Host", "Version", "Rules", "Last heartbeat", "Events/s", "Drops", "Spool backlog", "Cloud"].map((c) => h("th", {}, c)))), body));
  const order = { silent: 0, degraded: 1, ok: 2 };
  const load = async () => {
    const data = await api("GET", "/api/v1/sensors");
    const list = (data.sensors || []).slice().sort((a, b) => (order[a.status] ?? 3) - (order[b.status] ?? 3) || String(a.hostname).localeCompare(String(b.hostname)));
    body.replaceChildren(...(list.length ? list.map((s) => h("tr", { "data-host": s.host, "data-status": s.status, "data-bundle": s.rules_bundle || "" },
      h("td", { class: "status-" + (s.status === "ok" ? "resolved" : "open") }, s.status, s.silent_since ? " since " + when(s.silent_since) : ""),
      h("td", {}, link(s.hostname || s.host, "entity", "host", s.host), h("div", { class: "muted" }, s.host)),
      h("td", {}, s.version || ""),
      h("td", { class: "rules" }, s.rules_version || "", h("div", { class: "muted" }, s.rules_bundle ? "pushed " + s.rules_bundle : "no pushed rules"),
        s.rules_bundle_error ? h("div", { class: "status-open", title: s.rules_bundle_error }, "refused a push: " + s.rules_bundle_error.split("\n")[0]) : ""),
      h("td", { title: when(s.last_heartbeat) }, ago(s.last_heartbeat)),
      h("td", {}, s.events_per_second !== undefined ? Number(s.events_per_second).toFixed(1) : ""),
      h("td", {}, s.drops ?? ""), h("td", {}, s.spool_backlog ?? ""),
      h("td", {}, s.instance || ""))) :
      [h("tr", {}, h("td", { colspan: 9, class: "empty" }, "No sensors yet: agents appear with their first heartbeat."))]));
  };
  // Outputs: where threats go, whether the receivers take them, and what
  // they refused for good (dead letters).
  const outs = h("tbody", { id: "output-rows" });
  const dead = h("tbody", { id: "dead-letter-rows" });
  const routing = h("p", { class: "muted" });
  main.append(h("h2", {}, "Outputs"), routing,
    h("table", {}, h("thead", {}, h("tr", {}, ["Status", "Output", "Type", "Sent", "Failed (retried)", "Dead letters", "Held", "Last error"].map((c) => h("th", {}, c)))), outs),
    h("h2", {}, "Dead letters"), h("p", { class: "muted" }, "Notifications a receiver refused (4xx): not retried; the threat itself is in Vigil."),
    h("table", {}, h("thead", {}, h("tr", {}, ["Time", "Output", "Notification", "Threat", "Error"].map((c) => h("th", {}, c)))), dead));
  const loadOutputs = async () => {
    const data = await api("GET", "/api/v1/outputs");
    const list = data.outputs || [];
    routing.textContent = list.length ? (data.leading ? "This backend instance routes." : "Another backend instance routes: these counters are this instance's.") :
      "No outputs configured (backend.yaml outputs and routes).";
    outs.replaceChildren(...list.map((o) => h("tr", { "data-output": o.name, "data-healthy": String(o.healthy) },
      h("td", { class: "status-" + (o.healthy ? "resolved" : "open") }, o.healthy ? "ok" : "failing"),
      h("td", {}, o.name), h("td", {}, o.type), h("td", {}, String(o.sent)), h("td", {}, String(o.failed)),
      h("td", {}, String(o.dead_lettered)), h("td", { title: "quiet period, rate limits" }, String((o.deferred || 0) + (o.rate_limited || 0))),
      h("td", { title: when(o.last_error_at) }, o.last_error || ""))));
    const dl = data.dead_letters || [];
    dead.replaceChildren(...(dl.length ? dl.map((d) => h("tr", { "data-output": d.output },
      h("td", {}, when(d.time)), h("td", {}, d.output), h("td", {}, d.notification ? d.notification.event : ""),
      h("td", {}, d.notification && d.notification.threat ? link(d.notification.threat.title || d.notification.key, "threat", d.notification.key) :
        (d.notification ? d.notification.key : "")),
      h("td", {}, d.error))) : [h("tr", {}, h("td", { colspan: 5, class: "empty" }, "None."))]));
  };
  await Promise.all([load(), loadOutputs()]);
  document.getElementById("live").hidden = false;
  timer = setInterval(() => { load().catch(() => {}); loadOutputs().catch(() => {}); }, 3000);
}

// Rules: every rule the backend knows, with its hits of the last 24 h.
async function rulesPage() {
  const data = await api("GET", "/api/v1/rules");
  const all = data.rules || [];
  const p = params();
  const source = p.get("source") || "";
  const list = source ? all.filter((r) => r.source === source) : all;
  const sources = [...new Set(all.map((r) => r.source))].sort();
  const pick = h("select", { id: "rule-source", "aria-label": "source" }, h("option", { value: "" }, "every source"),
    sources.map((x) => h("option", { value: x, selected: x === source }, x)));
  pick.addEventListener("change", () => { location.hash = "#/rules" + (pick.value ? "?source=" + encodeURIComponent(pick.value) : ""); });
  const hits = list.reduce((n, r) => n + (r.hits_24h || 0), 0);
  main.append(h("h1", {}, "Rules"),
    h("p", { class: "muted" }, list.length + " rules, " + hits + " detections in the last 24 h. Host rules run on the agents (as their packages ship them, plus local rules); cloud rules here."),
    h("div", { class: "filters" }, pick),
    h("table", { id: "rules" }, h("thead", {}, h("tr", {}, ["Rule", "Source", "Severity", "Tactic", "Enabled", "Hits 24 h"].map((c) => h("th", {}, c)))),
      h("tbody", {}, list.map((r) => h("tr", { "data-rule": r.rule },
        h("td", { class: "wrap" }, h("b", {}, r.rule), h("div", { class: "muted" }, r.desc || "")),
        h("td", {}, h("span", { class: "src" }, r.source)), h("td", {}, sev(r.severity)),
        h("td", {}, r.mitre_tactic || "", r.mitre_technique ? " (" + r.mitre_technique + ")" : ""),
        h("td", {}, r.enabled ? "yes" : "no"),
        h("td", {}, r.hits_24h ? h("a", { href: "#/threats?rule=" + encodeURIComponent(r.rule), title: "threats with this rule" }, String(r.hits_24h)) : "0"))))));
}

// An entity: the threats and the detections that name it, detections by
// day.
async function entityPage(kind, id) {
  const q = kind === "host" ? "?host=" + encodeURIComponent(id) + "&limit=500" : "?limit=500";
  const [data, dets] = await Promise.all([api("GET", "/api/v1/threats" + q),
    api("GET", "/api/v1/detections?limit=1000&entity=" + encodeURIComponent(kind + ":" + id))]);
  const list = (data.threats || []).filter((t) => kind === "host" || [...(t.actors || []), ...(t.resources || [])].some((e) => e.kind === kind && e.id === id));
  const ds = dets.detections || [];
  const days = new Map();
  for (const d of ds) { const day = String(d.time).slice(0, 10); days.set(day, (days.get(day) || 0) + 1); }
  const order = [...days.keys()].sort();
  const peak = Math.max(1, ...days.values());
  main.append(h("h1", {}, id), h("p", { class: "muted" }, kind + " · " + list.length + " threats · " + ds.length + " detections"),
    h("div", { class: "panel" }, h("h2", {}, "Threats"),
      h("table", { id: "entity-threats" }, h("thead", {}, h("tr", {}, ["Severity", "Threat", "Status", "First seen", "Last seen"].map((c) => h("th", {}, c)))),
        h("tbody", {}, list.length ? list.map((t) => h("tr", {}, h("td", {}, sev(t.severity)), h("td", {}, link(t.title || t.id, "threat", t.id)),
          h("td", { class: "status-" + t.status }, t.status), h("td", {}, when(t.first_seen)), h("td", {}, when(t.last_seen)))) :
          h("tr", {}, h("td", { colspan: 5, class: "empty" }, "No threat names it."))))),
    h("div", { class: "panel" }, h("h2", {}, "Detections over time"),
      h("div", { class: "bars", id: "entity-days" }, order.map((day) => h("div", { class: "bar", title: day + ": " + days.get(day) },
        h("span", { class: "fill", "data-pct": String(Math.round(100 * days.get(day) / peak)) }), h("span", { class: "label" }, day.slice(5) + " · " + days.get(day))))),
      h("table", { id: "entity-detections" }, h("thead", {}, h("tr", {}, ["Time", "Source", "Severity", "Rule", "What"].map((c) => h("th", {}, c)))),
        h("tbody", {}, ds.slice(0, 200).map((d) => h("tr", {}, h("td", {}, when(d.time)), h("td", {}, h("span", { class: "src" }, d.source)),
          h("td", {}, sev(d.severity)), h("td", {}, link(d.rule, "detection", d.id)), h("td", { class: "wrap" }, d.message || "")))))));
  // Bar lengths without inline styles (the CSP has no 'unsafe-inline'):
  // a CSSOM property set from script is allowed.
  for (const f of main.querySelectorAll(".bar .fill")) f.style.width = f.dataset.pct + "%";
}

// A detection: what it says, its entities, its evidence, its threat.
async function detectionPage(id) {
  const d = await api("GET", "/api/v1/detections/" + encodeURIComponent(id));
  const threats = await api("GET", "/api/v1/threats?limit=500");
  const th = (threats.threats || []).find((t) => (t.timeline || []).some((e) => e.detection === id));
  const a = d.evidence && d.evidence.alert;
  main.append(
    h("div", { class: "panel" },
      h("div", {}, sev(d.severity), " ", h("span", { class: "src" }, d.source)),
      h("h1", { id: "detection-rule" }, d.rule),
      h("div", { class: "muted" }, d.id, " · ", when(d.time), " · ", d.mitre_tactic || "", d.mitre_technique ? " (" + d.mitre_technique + ")" : ""),
      h("p", { class: "wrap" }, d.message || ""),
      th ? h("p", {}, "Part of ", link(th.title || th.id, "threat", th.id)) : h("p", { class: "muted" }, "Not part of a threat (yet).")),
    h("div", { class: "grid" },
      h("div", {},
        a ? h("div", { class: "panel" }, h("h2", {}, "Process"), processTree([d])) : null,
        h("div", { class: "panel" }, h("h2", {}, "Evidence"), h("pre", { class: "json", id: "evidence-json" }, JSON.stringify(d.evidence || {}, null, 2)))),
      h("div", {}, h("div", { class: "panel" }, entityList("Actors", d.actors), entityList("Resources", d.resources)))));
}

async function route() {
  if (!session) {
    try { session = await api("GET", "/api/v1/session"); } catch (e) { showLogin(); return; }
  }
  setChrome();
  clear();
  const [path] = (location.hash.replace(/^#\/?/, "") || "threats").split("?");
  const parts = path.split("/").map(decodeURIComponent);
  for (const a of document.querySelectorAll("nav a")) a.classList.toggle("on", a.dataset.nav === parts[0] || (parts[0] === "threat" && a.dataset.nav === "threats"));
  try {
    if (parts[0] === "threat" && parts[1]) await threatPage(parts[1]);
    else if (parts[0] === "fleet") await fleetPage();
    else if (parts[0] === "rules") await rulesPage();
    else if (parts[0] === "detection" && parts[1]) await detectionPage(parts[1]);
    else if (parts[0] === "entity" && parts[2]) await entityPage(parts[1], parts.slice(2).join("/"));
    else await threatsPage();
  } catch (e) {
    if (!(e instanceof APIError && e.status === 401)) showError(e);
  }
}

function initTheme() {
  const saved = localStorage.getItem("vigil-theme");
  const dark = saved ? saved === "dark" : matchMedia("(prefers-color-scheme: dark)").matches;
  document.documentElement.dataset.theme = dark ? "dark" : "light";
  document.getElementById("theme").addEventListener("click", () => {
    const next = document.documentElement.dataset.theme === "dark" ? "light" : "dark";
    document.documentElement.dataset.theme = next;
    localStorage.setItem("vigil-theme", next);
  });
}

document.getElementById("logout").addEventListener("click", async () => {
  try { await api("DELETE", "/api/v1/session"); } catch (e) { /* logged out anyway */ }
  session = null;
  showLogin();
});
window.addEventListener("hashchange", route);
initTheme();
route();
