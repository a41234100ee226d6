// paperflow console: live progress, the live event tail, small helpers.
// Every value from the server is set with textContent, never as HTML,
// except the items table, which the server renders (escaped) itself.
"use strict";

function setField(root, name, text) {
  root.querySelectorAll('[data-field="' + name + '"]').forEach(function (el) { el.textContent = text; });
}

function eventCounts(events) {
  return Object.keys(events || {}).sort().map(function (k) { return k + ": " + events[k]; }).join("  ");
}

function refreshItems() {
  var box = document.getElementById("items");
  if (!box) return Promise.resolve();
  var url = new URL(window.location.href);
  url.searchParams.set("partial", "items");
  return fetch(url, { credentials: "same-origin" }).then(function (r) {
    if (r.ok) return r.text().then(function (html) { box.innerHTML = html; });
  });
}

function refreshPage() {
  return fetch(window.location.href, { credentials: "same-origin" }).then(function (r) {
    if (!r.ok) return;
    return r.text().then(function (html) {
      var doc = new DOMParser().parseFromString(html, "text/html");
      var fresh = doc.getElementById("main"), main = document.getElementById("main");
      if (fresh && main) { main.innerHTML = fresh.innerHTML; wire(main); }
    });
  });
}

function liveRuns(el) {
  var ids = el.getAttribute("data-live-runs").split(",").filter(Boolean);
  if (!ids.length || !window.EventSource) return;
  var q = ids.map(function (id) { return "id=" + encodeURIComponent(id); }).join("&");
  var es = new EventSource("/live/runs?" + q);
  var pending = null;
  es.addEventListener("progress", function (e) {
    var p = JSON.parse(e.data);
    document.querySelectorAll('[data-run="' + CSS.escape(p.id) + '"]').forEach(function (row) {
      row.querySelectorAll('[data-field="status"]').forEach(function (s) {
        s.textContent = p.status; s.className = "status s-" + p.status;
      });
      row.querySelectorAll('[data-field="bar"]').forEach(function (b) {
        if (p.source_done) b.value = p.percent; else b.removeAttribute("value");
      });
      setField(row, "percent", p.source_done ? p.percent + "%" : "reading…");
      setField(row, "count", p.done + "/" + p.read);
      setField(row, "succeeded", String(p.succeeded));
      setField(row, "failednum", String(p.failed));
      setField(row, "failed", p.failed ? p.failed + " failed" : "");
      setField(row, "events", eventCounts(p.events));
      setField(row, "duration", p.duration);
    });
    if (el.getAttribute("data-refresh") === "items" && !pending) {
      pending = refreshItems().finally(function () { pending = null; });
    }
  });
  es.addEventListener("end", function () {
    es.close();
    if (el.getAttribute("data-refresh") === "items") refreshPage();
  });
}

function liveEvents(list) {
  if (!window.EventSource) return;
  var state = document.getElementById("tail-state");
  var es = new EventSource(list.getAttribute("data-live-events"));
  es.onopen = function () { if (state) state.textContent = "Live: new events appear at the top."; };
  es.onerror = function () { if (state) state.textContent = "Disconnected; reconnecting…"; };
  es.addEventListener("failure", function (e) {
    if (state) state.textContent = "The tail stopped: " + JSON.parse(e.data).error;
    es.close();
  });
  es.addEventListener("event", function (e) {
    var ev = JSON.parse(e.data);
    var li = document.createElement("li");
    var d = document.createElement("details");
    var s = document.createElement("summary");
    var when = document.createElement("span");
    when.className = "when";
    when.textContent = ev.time + " ";
    var type = document.createElement("strong");
    type.textContent = ev.type;
    var where = document.createElement("span");
    where.textContent = " " + ev.workflow + " · run ";
    var link = document.createElement("a");
    link.href = "/runs/" + encodeURIComponent(ev.run) + "/items/" + encodeURIComponent(ev.item);
    link.textContent = ev.run + " item " + ev.item;
    s.append(when, type, where, link);
    var pre = document.createElement("pre");
    pre.className = "json";
    pre.textContent = ev.json;
    d.append(s, pre);
    li.append(d);
    li.setAttribute("data-event", ev.id);
    list.prepend(li);
    while (list.children.length > 200) list.lastElementChild.remove();
  });
}

function wire(root) {
  root.querySelectorAll("[data-live-runs]").forEach(liveRuns);
  root.querySelectorAll("[data-live-events]").forEach(liveEvents);
  root.querySelectorAll("form[data-confirm]").forEach(function (f) {
    f.addEventListener("submit", function (e) {
      if (!window.confirm(f.getAttribute("data-confirm"))) e.preventDefault();
    });
  });
  root.querySelectorAll("[data-select]").forEach(function (i) {
    i.addEventListener("focus", function () { i.select(); });
  });
}

document.addEventListener("DOMContentLoaded", function () { wire(document); });
