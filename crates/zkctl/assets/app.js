// zkmesh console: one page, four views (#/services, #/routes/NAME, #/tree?path=…,
// #/ensemble), all built with DOM calls. Nothing from ZooKeeper is ever parsed as HTML:
// every value goes into the page as text (h() below), so node data such as "<script>"
// shows as those characters.
"use strict";

// An element with properties and children; strings become text nodes.
function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") el.className = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k in el && typeof v !== "string") el[k] = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

const app = () => document.getElementById("app");

// A fault in the page is shown, not swallowed (and browser tests look for it).
function showFault(message) {
  let banner = document.getElementById("fault");
  if (!banner) {
    banner = h("div", { id: "fault", class: "error" });
    document.body.prepend(banner);
  }
  banner.textContent = "The page hit an error: " + message;
}
window.addEventListener("error", (e) => showFault(e.message));
window.addEventListener("unhandledrejection", (e) => showFault(String(e.reason)));
document.addEventListener("securitypolicyviolation", (e) => showFault("blocked by the content security policy: " + e.violatedDirective));
let info = { allow_writes: false, server: "" };
// What the current view must stop when another one replaces it (event streams, timers).
let cleanup = [];

async function api(method, url, body) {
  const opts = { method, headers: {}, credentials: "same-origin" };
  if (body !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  const r = await fetch(url, opts);
  let data = null;
  try { data = await r.json(); } catch (_) { data = { error: "the console sent no JSON (" + r.status + ")" }; }
  return { ok: r.ok, status: r.status, data };
}

function show(...nodes) {
  app().replaceChildren(...nodes);
}

function utc(ms) {
  if (!ms) return "";
  return new Date(ms).toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
}

function authority(i) {
  const port = i.port != null ? i.port : i.sslPort;
  return port != null ? i.address + ":" + port : i.address;
}

// ---------------------------------------------------------------- services

function viewServices() {
  const root = h("div", { id: "services" }, h("p", { class: "muted" }, "Waiting for the services…"));
  const status = h("span", { id: "services-status", class: "muted" }, "connecting");
  show(h("h2", {}, "Services ", status), root);
  const es = new EventSource("/api/services/stream");
  cleanup.push(() => es.close());
  es.onopen = () => { status.textContent = "live"; status.className = "ok"; };
  es.onerror = () => { status.textContent = "reconnecting…"; status.className = "warning"; };
  es.addEventListener("services", (ev) => {
    let state;
    try { state = JSON.parse(ev.data); } catch (_) { return; }
    renderServices(root, state.services || []);
  });
}

function renderServices(root, services) {
  if (services.length === 0) {
    root.replaceChildren(h("p", { class: "muted" }, "No services are registered under the base path."));
    return;
  }
  root.replaceChildren(...services.map(renderService));
}

function renderService(s) {
  const n = s.instances.length;
  const title = h("h3", {}, s.name, " ",
    h("span", { class: "badge" }, n + " instance" + (n === 1 ? "" : "s")), " ",
    h("a", { href: "#/routes/" + encodeURIComponent(s.name) }, "routes"));
  if (n === 0) return h("section", { class: "service", "data-service": s.name }, title, h("p", { class: "muted" }, "No instances."));
  const head = h("thead", {}, h("tr", {}, ["ID", "Address", "Enabled", "Registered", "Payload"].map((t) => h("th", {}, t))));
  const rows = s.instances.map((i) => h("tr", { "data-instance": i.id },
    h("td", {}, h("code", {}, i.id)),
    h("td", {}, authority(i)),
    h("td", { class: i.enabled ? "ok" : "warning" }, i.enabled ? "yes" : "no"),
    h("td", {}, i.registered || utc(i.registrationTimeUTC)),
    h("td", {}, h("code", {}, i.payload == null ? "" : JSON.stringify(i.payload)))));
  return h("section", { class: "service", "data-service": s.name }, title, h("table", {}, head, h("tbody", {}, rows)));
}

// ---------------------------------------------------------------- routes

async function viewRoutes(service) {
  const list = await api("GET", "/api/services");
  const names = (list.data && list.data.services || []).map((s) => s.name);
  if (service && !names.includes(service)) names.push(service);
  const picker = h("select", { id: "route-service", onchange: (e) => { location.hash = "#/routes/" + encodeURIComponent(e.target.value); } },
    h("option", { value: "" }, "choose a service"),
    names.map((n) => h("option", { value: n, selected: n === service }, n)));
  const other = h("input", { id: "route-other", placeholder: "or type a service name" });
  const go = h("button", { onclick: () => { if (other.value) location.hash = "#/routes/" + encodeURIComponent(other.value); } }, "Open");
  const head = h("h2", {}, "Routing rule ", picker, " ", other, " ", go);
  if (!service) { show(head, h("p", { class: "muted" }, "Pick a service to see its rule.")); return; }

  const loaded = await api("GET", "/api/routes/" + encodeURIComponent(service));
  if (!loaded.ok) { show(head, h("p", { class: "error", id: "rule-load-error" }, loaded.data.error)); return; }
  const r = loaded.data;
  let version = r.version;
  const versionLabel = h("span", { id: "rule-version", class: "muted" });
  const setVersion = (v) => { version = v; versionLabel.textContent = r.path + (v == null ? " (no rule yet: saving creates it)" : " version " + v); };
  setVersion(version);
  const editor = h("textarea", { id: "rule-editor", spellcheck: "false" });
  editor.value = r.text || '{\n  "routes": []\n}';
  const checkPanel = h("div", { id: "rule-check" });
  const split = h("div", { id: "rule-split" });
  const status = h("div", { id: "rule-status" });
  const save = h("button", { id: "rule-save", disabled: true }, "Save");
  const saveAnyway = h("button", { id: "rule-save-anyway", hidden: true }, "Save despite warnings");
  let current = null;

  const renderCheck = (c) => {
    current = c;
    const items = [];
    for (const e of c.errors || []) items.push(h("li", { class: "error" }, e));
    for (const w of c.warnings || []) items.push(h("li", { class: "warning" }, w));
    if (c.valid && items.length === 0) items.push(h("li", { class: "ok" }, "The rule is valid."));
    checkPanel.replaceChildren(h("ul", {}, items));
    split.replaceChildren(...renderSplit(c.split || []));
    save.disabled = !info.allow_writes || !c.valid;
    save.title = info.allow_writes ? "" : "The console is read-only (start it with --allow-writes).";
    saveAnyway.hidden = true;
  };
  if (r.check) renderCheck(r.check);

  let timer = null;
  let seq = 0;
  const recheck = () => {
    clearTimeout(timer);
    save.disabled = true;
    timer = setTimeout(async () => {
      const mine = ++seq;
      const res = await api("POST", "/api/routes/" + encodeURIComponent(service) + "/check", { rule: editor.value });
      if (mine !== seq) return; // a newer check is on its way
      if (res.ok) renderCheck(res.data);
      else checkPanel.replaceChildren(h("p", { class: "error" }, res.data.error));
    }, 250);
  };
  editor.addEventListener("input", recheck);
  cleanup.push(() => clearTimeout(timer));
  if (!r.check) recheck();

  const doSave = async (force) => {
    status.replaceChildren(h("span", { class: "muted" }, "saving…"));
    const res = await api("PUT", "/api/routes/" + encodeURIComponent(service), { rule: editor.value, version, force });
    if (res.ok) {
      setVersion(res.data.version);
      status.replaceChildren(h("span", { class: "ok" }, "Saved: version " + res.data.version + "."));
    } else {
      status.replaceChildren(h("span", { class: "error" }, res.data.error));
      if (res.data.check) renderCheck(res.data.check);
      if (res.data.needs_force) saveAnyway.hidden = false;
    }
  };
  save.addEventListener("click", () => doSave(false));
  saveAnyway.addEventListener("click", () => doSave(true));

  show(head,
    h("div", { class: "cols" },
      h("div", {},
        h("h3", {}, "Rule ", versionLabel),
        editor,
        h("div", { class: "form-row" }, save, " ", saveAnyway, info.allow_writes ? "" : h("span", { class: "muted" }, " read-only console")),
        status,
        h("h3", {}, "Check"), checkPanel),
      h("div", {},
        h("h3", {}, "What each destination selects now (", String(r.instances), " live instances)"), split,
        h("h3", {}, "Try a request"), tryForm(service, editor))));
}

function renderSplit(routes) {
  if (routes.length === 0) return [h("p", { class: "muted" }, "No routes: every request goes to every instance, round robin.")];
  return routes.map((route) => h("div", { class: "route" },
    h("div", {}, h("strong", {}, route.route), " ", h("span", { class: "muted" }, "policy " + (route.policy && route.policy.type || "round_robin"))),
    h("table", {},
      h("thead", {}, h("tr", {}, ["Destination", "Subset", "Weight", "Share", "Instances"].map((t) => h("th", {}, t)))),
      h("tbody", {}, route.destinations.map((d) => h("tr", {},
        h("td", {}, String(d.destination)),
        h("td", {}, h("code", {}, JSON.stringify(d.subset))),
        h("td", {}, String(d.weight)),
        h("td", {}, d.share_percent.toFixed(1) + " %" + (d.per_instance_percent != null ? " (≈" + d.per_instance_percent.toFixed(1) + " % each)" : "")),
        h("td", { class: d.instances.length ? "" : "warning" }, d.instances.length ? d.instances.join(", ") : "none")))))));
}

function tryForm(service, editor) {
  const method = h("input", { id: "try-method", placeholder: "GetOrder" });
  const path = h("input", { id: "try-path", placeholder: "/orders/1" });
  const headers = h("textarea", { id: "try-headers", placeholder: "x-user-group=beta (one per line)", class: "short" });
  const tags = h("input", { id: "try-tags", placeholder: "canary, eu" });
  const caller = h("input", { id: "try-caller" });
  const draft = h("input", { id: "try-draft", type: "checkbox" });
  const result = h("pre", { id: "try-result" });
  const run = async () => {
    const hs = headers.value.split("\n").map((l) => l.trim()).filter(Boolean).map((l) => {
      const at = l.indexOf("=");
      return at < 0 ? [l, ""] : [l.slice(0, at).trim(), l.slice(at + 1).trim()];
    });
    const body = {
      method: method.value, path: path.value, headers: hs, caller_id: caller.value,
      caller_tags: tags.value.split(",").map((t) => t.trim()).filter(Boolean),
    };
    if (draft.checked) body.rule = editor.value;
    const res = await api("POST", "/api/routes/" + encodeURIComponent(service) + "/try", body);
    result.textContent = res.ok ? res.data.text : "error: " + res.data.error;
  };
  return h("div", {},
    h("div", { class: "form-row" }, h("label", {}, "method"), method),
    h("div", { class: "form-row" }, h("label", {}, "path"), path),
    h("div", { class: "form-row" }, h("label", {}, "headers"), headers),
    h("div", { class: "form-row" }, h("label", {}, "caller tags"), tags),
    h("div", { class: "form-row" }, h("label", {}, "caller id"), caller),
    h("div", { class: "form-row" }, h("label", {}, ""), h("label", {}, draft, " use the rule being edited")),
    h("button", { id: "try-run", onclick: run }, "Route it"),
    result);
}

// ---------------------------------------------------------------- tree

function childPath(parent, name) {
  return parent === "/" ? "/" + name : parent + "/" + name;
}

function treeLink(path, label) {
  return h("a", { href: "#/tree?path=" + encodeURIComponent(path) }, label);
}

async function viewTree(path, offset) {
  const res = await api("GET", "/api/tree?path=" + encodeURIComponent(path) + "&offset=" + offset + "&limit=200");
  const crumbs = [treeLink("/", "/")];
  let acc = "";
  for (const [i, part] of path.split("/").filter(Boolean).entries()) {
    acc += "/" + part;
    crumbs.push(i === 0 ? " " : " / ", treeLink(acc, part));
  }
  const head = h("h2", { id: "tree-path" }, "Tree ", h("span", {}, crumbs));
  if (!res.ok) { show(head, h("p", { class: "error", id: "tree-error" }, res.data.error)); return; }
  const n = res.data;
  const kids = n.children;
  const childList = h("div", { class: "children", id: "tree-children" },
    kids.names.map((c) => treeLink(childPath(path, c), c)));
  const pager = h("div", { class: "muted" },
    kids.total === 0 ? "no children" : "children " + (kids.offset + 1) + "–" + (kids.offset + kids.names.length) + " of " + kids.total + " ",
    kids.offset > 0 ? h("a", { href: "#/tree?path=" + encodeURIComponent(path) + "&offset=" + Math.max(0, kids.offset - kids.limit) }, "previous") : "",
    " ",
    kids.offset + kids.names.length < kids.total ? h("a", { id: "tree-next", href: "#/tree?path=" + encodeURIComponent(path) + "&offset=" + (kids.offset + kids.limit) }, "next") : "");

  const dataView = h("pre", { id: "node-data" });
  const modes = { text: n.data.text, json: n.data.json, hex: n.data.hex + (n.data.hex_truncated ? " …" : "") };
  const pick = (m) => { dataView.textContent = modes[m] == null ? "(not " + m + ")" : modes[m]; };
  const start = n.data.json != null ? "json" : n.data.text != null ? "text" : "hex";
  pick(start);
  const tabs = h("div", {}, ["text", "json", "hex"].map((m) => h("button", { id: "data-" + m, onclick: () => pick(m) }, m)),
    h("span", { class: "muted" }, " " + n.data.size + " bytes"));

  const stat = h("table", { id: "node-stat" }, h("tbody", {}, Object.entries(n.stat).map(([k, v]) =>
    h("tr", {}, h("th", {}, k), h("td", {}, (k.endsWith("zxid") || k === "ephemeralOwner") ? "0x" + Number(v).toString(16) : (k.endsWith("time") ? utc(v) : String(v)))))));
  const acl = h("table", { id: "node-acl" },
    h("thead", {}, h("tr", {}, ["Scheme", "Id", "Perms"].map((t) => h("th", {}, t)))),
    h("tbody", {}, n.acl.map((a) => h("tr", {}, h("td", {}, a.scheme), h("td", {}, a.id), h("td", {}, a.perms)))));

  const parts = [head, h("div", { class: "cols" },
    h("div", { class: "side" }, h("h3", {}, "Children"), pager, childList),
    h("div", {}, h("h3", {}, "Data"), tabs, dataView, editData(path, n), h("h3", {}, "Stat"), stat, h("h3", {}, "ACL"), acl))];
  show(...parts);
}

function editData(path, n) {
  if (!info.allow_writes) return "";
  if (n.data.text == null) return h("p", { class: "muted" }, "Binary data cannot be edited here.");
  const area = h("textarea", { id: "node-edit", class: "short" });
  area.value = n.data.text;
  const status = h("span", { id: "node-edit-status" });
  const save = h("button", { id: "node-save", onclick: async () => {
    const res = await api("PUT", "/api/tree", { path, data: area.value, version: n.stat.version });
    if (res.ok) { status.textContent = " saved: version " + res.data.stat.version; status.className = "ok"; n.stat.version = res.data.stat.version; }
    else { status.textContent = " " + res.data.error; status.className = "error"; }
  } }, "Save data");
  return h("div", {}, h("h3", {}, "Edit"), area, save, status);
}

// ---------------------------------------------------------------- ensemble

function viewEnsemble() {
  const body = h("tbody", {});
  const stamp = h("span", { class: "muted", id: "ensemble-updated" });
  show(h("h2", {}, "Ensemble ", stamp),
    h("table", { id: "ensemble" },
      h("thead", {}, h("tr", {}, ["Member", "Mode", "Zxid", "Lag", "Connections", "Outstanding", "Latency ms (min/avg/max)", "Znodes", ""].map((t) => h("th", {}, t)))),
      body));
  let stopped = false;
  cleanup.push(() => { stopped = true; });
  const refresh = async () => {
    if (stopped) return;
    const res = await api("GET", "/api/ensemble");
    if (stopped) return;
    if (res.ok) {
      body.replaceChildren(...res.data.members.map((m) => {
        const down = m.error != null;
        const lat = m.latency ? m.latency.min + " / " + m.latency.avg + " / " + m.latency.max : "";
        return h("tr", { "data-host": m.host, class: down ? "member-down" : "member-up" },
          h("td", {}, m.host),
          h("td", { class: down ? "down" : "" }, down ? "down" : m.mode),
          h("td", {}, m.zxid_hex || ""),
          h("td", {}, m.lag == null ? "" : String(m.lag)),
          h("td", {}, m.connections == null ? "" : String(m.connections)),
          h("td", {}, m.outstanding == null ? "" : String(m.outstanding)),
          h("td", {}, lat),
          h("td", {}, m.nodes == null ? "" : String(m.nodes)),
          h("td", { class: "muted" }, down ? m.error : ""));
      }));
      stamp.textContent = "updated " + new Date().toLocaleTimeString();
    }
    setTimeout(refresh, 1000);
  };
  refresh();
}

// ---------------------------------------------------------------- routing between views

function route() {
  for (const stop of cleanup) stop();
  cleanup = [];
  const hash = location.hash || "#/services";
  const [pathPart, query] = hash.slice(1).split("?");
  const params = new URLSearchParams(query || "");
  const parts = pathPart.split("/").filter(Boolean);
  const view = parts[0] || "services";
  for (const a of document.querySelectorAll("nav a")) a.classList.toggle("active", a.id === "nav-" + view);
  if (view === "routes") viewRoutes(parts[1] ? decodeURIComponent(parts[1]) : "");
  else if (view === "tree") viewTree(params.get("path") || "/", Number(params.get("offset")) || 0);
  else if (view === "ensemble") viewEnsemble();
  else viewServices();
}

window.addEventListener("hashchange", route);
window.addEventListener("DOMContentLoaded", async () => {
  const res = await api("GET", "/api/info");
  if (res.ok) {
    info = res.data;
    document.getElementById("server").textContent = info.server + (info.allow_writes ? " · writes allowed" : " · read-only");
  }
  route();
});
