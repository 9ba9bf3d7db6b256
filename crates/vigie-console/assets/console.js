// Vigie console: small behaviours on top of server-rendered pages.
// Everything works without this file except the live ages, the sound,
// the map refresh, zooming the map with the wheel and dragging it, and
// filling the CSV box from a file (the map's zoom and pan links work as
// plain links).
(function () {
  "use strict";

  // Ages on the board: the server's clock is the reference.
  var offset = 0;
  function readServerNow() {
    var el = document.getElementById("live-count");
    if (el && el.dataset.now) offset = Number(el.dataset.now) - Date.now();
  }
  function fmt(ms) {
    var s = Math.max(0, Math.floor(ms / 1000));
    if (s < 60) return s + " s";
    if (s < 3600) return Math.floor(s / 60) + " min " + String(s % 60).padStart(2, "0") + " s";
    return Math.floor(s / 3600) + " h " + String(Math.floor((s % 3600) / 60)).padStart(2, "0") + " min";
  }
  function tickAges() {
    var fr = document.documentElement.lang !== "en";
    document.querySelectorAll("[data-pressed]").forEach(function (el) {
      var age = fmt(Date.now() + offset - Number(el.dataset.pressed));
      el.textContent = fr ? "il y a " + age : age + " ago";
    });
    document.querySelectorAll("[data-countdown]").forEach(function (el) {
      el.textContent = fmt(Number(el.dataset.countdown) - (Date.now() + offset));
    });
  }

  // A short two-tone beep for each new alarm, if the operator asked for it.
  var seen = null;
  function liveIds() {
    var ids = new Set();
    document.querySelectorAll("article.alarm[data-live]").forEach(function (a) { ids.add(a.dataset.alarmId); });
    return ids;
  }
  // One audio context, made when the operator ticks the box (browsers
  // only let a page sound after a gesture) and resumed at each beep.
  var audio = null;
  function audioReady() {
    try {
      if (!audio) audio = new (window.AudioContext || window.webkitAudioContext)();
      if (audio.state === "suspended") audio.resume();
    } catch (e) { audio = null; }
    return audio;
  }
  function beep() {
    try {
      var ctx = audioReady();
      if (!ctx) return;
      [880, 660].forEach(function (f, i) {
        var o = ctx.createOscillator(), g = ctx.createGain();
        o.frequency.value = f; o.connect(g); g.connect(ctx.destination);
        g.gain.value = 0.2;
        o.start(ctx.currentTime + i * 0.25); o.stop(ctx.currentTime + i * 0.25 + 0.2);
      });
    } catch (e) { /* no audio: the board still shows it */ }
  }
  function shopsInAlarm() {
    return Array.from(document.querySelectorAll("article.alarm[data-live]"))
      .map(function (a) { return a.dataset.shopId; }).sort().join(",");
  }
  var mapShops = null;
  var baseTitle = null;
  function onBoardSwap() {
    readServerNow();
    tickAges();
    var ids = liveIds();
    var toggle = document.getElementById("sound-toggle");
    var notify = document.getElementById("notify-toggle");
    var fresh = [];
    if (seen) { for (var id of ids) { if (!seen.has(id)) fresh.push(id); } }
    if (fresh.length && toggle && toggle.checked) beep();
    if (fresh.length && notify && notify.checked && window.Notification && Notification.permission === "granted") {
      fresh.forEach(function (id) {
        var a = document.querySelector('article.alarm[data-alarm-id="' + id + '"] .shop-name');
        var n = new Notification("ALARME Vigie", { body: a ? a.textContent : "", tag: id, requireInteraction: true });
        n.onclick = function () { window.focus(); location.href = "/console/alarms/" + id; };
      });
    }
    seen = ids;
    // The tab says an alarm is open, even when the operator looks elsewhere.
    if (!baseTitle) baseTitle = document.title;
    var open = document.querySelectorAll('article.alarm[data-state="open"]').length;
    document.title = ids.size ? "(" + ids.size + ") ALARME" + (open ? " sans réponse" : "") + " — " + baseTitle : baseTitle;
    var shops = shopsInAlarm();
    if (mapShops !== null && shops !== mapShops && mapSvg()) {
      // The view the desk last asked for, even if it is still loading:
      // an alarm elsewhere must not take the desk back to an older view.
      var svg = mapSvg();
      loadMap(mapWanted, mapWanted === mapQuery ? svg.getAttribute("viewBox") : null, null);
    }
    mapShops = shops;
  }

  // ---- The map: zoom and pan in place ----
  // The server draws the map for a zoom level and a centre (clusters, names
  // and sizes follow the zoom); links and buttons carry them as
  // ?zoom=…&center=…. Here the wheel and a mouse drag move the SVG's viewBox
  // at once, and once the desk stops, the map for the nearest zoom is
  // fetched and put in place, keeping exactly what the desk was looking at.
  /** Text on the map, in screen pixels, whatever the zoom and the screen. */
  var DEPT_LABEL_PX = 12, COMMUNE_LABEL_PX = 10, LABEL_HALO_PX = 2.5;
  /** Each wheel notch zooms by this factor. */
  var WHEEL_ZOOM_FACTOR = 1.25;
  /** The map is fetched for the new view once the wheel or drag rests this long, in ms. */
  var MAP_SETTLE_MS = 300;
  /** A drag shorter than this, in pixels, is a click. */
  var DRAG_PX_MIN = 4;
  /** The map's width the server draws for by default (MAP_PX_NOMINAL in vigie-figures), in CSS pixels. */
  var MAP_PX_NOMINAL = 500;
  /** A map this much narrower or wider than that is fetched again for its width. */
  var MAP_REFIT_RATIO_MIN = 0.2;
  var mapQuery = "";
  /** The view last asked for (`mapQuery` once it has arrived). */
  var mapWanted = "";
  var settleTimer = null;
  var mapLoads = 0;
  function mapSvg() { return document.querySelector("#map-view svg.region-map"); }
  function numbers(attr) { return (attr || "").split(/[ ,]+/).map(Number); }
  function viewBox(svg) { return numbers(svg.getAttribute("viewBox")); }
  function setViewBox(svg, b) { svg.setAttribute("viewBox", b.map(function (v) { return v.toFixed(2); }).join(" ")); }
  function pxPerUnit(svg) { var w = svg.getBoundingClientRect().width; return w ? w / viewBox(svg)[2] : 1; }
  function fitLabels() {
    var svg = mapSvg();
    if (!svg) return;
    var k = 1 / pxPerUnit(svg);
    [[".dept-labels", DEPT_LABEL_PX], [".commune-labels", COMMUNE_LABEL_PX]].forEach(function (l) {
      var g = svg.querySelector(l[0]);
      if (g) { g.style.fontSize = (l[1] * k) + "px"; g.style.strokeWidth = (LABEL_HALO_PX * k) + "px"; }
    });
  }
  // The view the viewBox shows, as the server's query: nearest zoom, centre in degrees.
  function queryOf(svg) {
    var b = viewBox(svg), full = numbers(svg.dataset.full), p = numbers(svg.dataset.projection);
    var max = Number(svg.dataset.zoomMax);
    var zoom = Math.max(0, Math.min(max, Math.round(Math.log2(full[2] / b[2]))));
    var x = b[0] + b[2] / 2, y = b[1] + b[3] / 2;
    // Web Mercator backwards (data-projection: west edge, north edge, scale, padding).
    var lon = ((x - p[3]) / p[2] + p[0]) * 180 / Math.PI;
    var lat = Math.atan(Math.sinh(p[1] - (y - p[3]) / p[2])) * 180 / Math.PI;
    return "zoom=" + zoom + "&center=" + lat.toFixed(4) + "," + lon.toFixed(4);
  }
  // Fetch the map for `query`; keep `box` (the viewBox the desk sees) if
  // given; give focus back to the control that asked, if any.
  // `data-map-state` on #map-view: "loading" while a view is fetched,
  // "ready" once the one last asked for is drawn (what a test waits for
  // before touching the map, since a redraw replaces its elements).
  function markMap(el, state) { if (el) el.dataset.mapState = state; }
  function loadMap(query, box, focusSelector) {
    var load = ++mapLoads;
    mapWanted = query;
    markMap(document.getElementById("map-view"), "loading");
    // The map's width on this screen: the server sizes names and marks for it.
    var svgNow = mapSvg();
    var px = svgNow ? Math.round(svgNow.getBoundingClientRect().width) : 0;
    var ask = (query ? query + "&" : "") + (px ? "px=" + px : "");
    fetch("/console/map" + (ask ? "?" + ask : ""), { credentials: "same-origin" })
      .then(function (r) { if (!r.ok) throw new Error(String(r.status)); return r.text(); })
      .then(function (html) {
        var old = document.getElementById("map-view");
        if (!old || load !== mapLoads) return; // a later view was asked for meanwhile
        var t = document.createElement("template");
        t.innerHTML = html.trim();
        var fresh = t.content.querySelector("#map-view");
        if (!fresh) { markMap(old, "ready"); return; }
        old.replaceWith(fresh);
        var svg = mapSvg();
        if (box && svg) setViewBox(svg, numbers(box));
        mapQuery = query;
        // The address keeps the view (a reload shows it again); unchanged, left alone.
        if (history.replaceState && location.pathname === "/console/board" && query !== location.search.replace(/^\?/, "")) {
          history.replaceState(null, "", "/console/board" + (query ? "?" + query : ""));
        }
        fitLabels();
        bindMap();
        if (focusSelector) { var f = fresh.querySelector(focusSelector); if (f) f.focus({ preventScroll: true }); }
        markMap(fresh, "ready");
      })
      .catch(function () {
        // The map stays as it was; its links still work.
        if (load === mapLoads) markMap(document.getElementById("map-view"), "ready");
      });
  }
  function settle() {
    clearTimeout(settleTimer);
    settleTimer = setTimeout(function () {
      var svg = mapSvg();
      if (svg) loadMap(queryOf(svg), svg.getAttribute("viewBox"), null);
    }, MAP_SETTLE_MS);
  }
  // Keep the viewBox inside the Region and between the whole Region and the closest zoom.
  function clampBox(svg, b) {
    var full = numbers(svg.dataset.full), max = Number(svg.dataset.zoomMax);
    var w = Math.max(full[2] / Math.pow(2, max), Math.min(full[2], b[2]));
    var h = w * full[3] / full[2];
    var x = Math.max(0, Math.min(full[2] - w, b[0])), y = Math.max(0, Math.min(full[3] - h, b[1]));
    return [x, y, w, h];
  }
  function svgPoint(svg, e) {
    var r = svg.getBoundingClientRect(), b = viewBox(svg);
    return [b[0] + (e.clientX - r.left) / r.width * b[2], b[1] + (e.clientY - r.top) / r.height * b[3]];
  }
  function bindMap() {
    var svg = mapSvg();
    if (!svg || svg.dataset.bound) return;
    svg.dataset.bound = "1";
    svg.addEventListener("wheel", function (e) {
      e.preventDefault();
      var b = viewBox(svg), p = svgPoint(svg, e);
      var f = e.deltaY < 0 ? 1 / WHEEL_ZOOM_FACTOR : WHEEL_ZOOM_FACTOR;
      var w = b[2] * f, h = b[3] * f;
      // The point under the pointer stays under it.
      setViewBox(svg, clampBox(svg, [p[0] - (p[0] - b[0]) * f, p[1] - (p[1] - b[1]) * f, w, h]));
      fitLabels();
      settle();
    }, { passive: false });
    // Dragging with a mouse or a pen (a finger scrolls the page; the buttons pan).
    var drag = null, dragged = false;
    svg.addEventListener("pointerdown", function (e) {
      if (e.pointerType === "touch" || e.button !== 0) return;
      drag = { x: e.clientX, y: e.clientY, box: viewBox(svg), ppu: pxPerUnit(svg), id: e.pointerId };
      dragged = false;
    });
    svg.addEventListener("pointermove", function (e) {
      if (!drag || e.pointerId !== drag.id) return;
      var dx = e.clientX - drag.x, dy = e.clientY - drag.y;
      if (!dragged && Math.hypot(dx, dy) < DRAG_PX_MIN) return;
      if (!dragged) { dragged = true; svg.setPointerCapture(e.pointerId); svg.classList.add("dragging"); }
      var b = drag.box;
      setViewBox(svg, clampBox(svg, [b[0] - dx / drag.ppu, b[1] - dy / drag.ppu, b[2], b[3]]));
    });
    function end(e) {
      if (!drag || e.pointerId !== drag.id) return;
      drag = null;
      svg.classList.remove("dragging");
      if (dragged) settle();
    }
    svg.addEventListener("pointerup", end);
    svg.addEventListener("pointercancel", end);
    // The click that ends a drag follows no link.
    svg.addEventListener("click", function (e) { if (dragged) { e.preventDefault(); e.stopPropagation(); dragged = false; } }, true);
  }
  // Zoom, pan, whole-Region and département links (and a cluster's) load
  // the map in place; an alarm's marker is a plain link to its page.
  document.addEventListener("click", function (e) {
    var a = e.target.closest && e.target.closest("#map-view a[href]");
    if (!a || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    var url = new URL(a.getAttribute("href"), location.href);
    if (url.pathname !== "/console/board") return;
    e.preventDefault();
    var focus = null;
    ["map-zoom-in", "map-zoom-out", "map-whole"].forEach(function (c) { if (a.classList.contains(c)) focus = "." + c; });
    if (a.classList.contains("map-pan")) focus = '.map-pan[aria-label="' + a.getAttribute("aria-label") + '"]';
    loadMap(url.search.replace(/^\?/, ""), null, focus || ".map-whole");
  });

  document.addEventListener("DOMContentLoaded", function () {
    var toggle = document.getElementById("sound-toggle");
    if (toggle) {
      toggle.checked = localStorage.getItem("vigie-sound") === "1";
      toggle.addEventListener("change", function () {
        localStorage.setItem("vigie-sound", toggle.checked ? "1" : "0");
        if (toggle.checked) audioReady();
      });
      // A box ticked in an earlier visit: sound comes back with the first gesture.
      document.addEventListener("pointerdown", function () { if (toggle.checked) audioReady(); }, { once: true });
      document.addEventListener("keydown", function () { if (toggle.checked) audioReady(); }, { once: true });
    }
    var notify = document.getElementById("notify-toggle");
    if (notify) {
      if (!window.Notification) { notify.disabled = true; }
      notify.checked = !!window.Notification && localStorage.getItem("vigie-notify") === "1" && Notification.permission === "granted";
      notify.addEventListener("change", function () {
        localStorage.setItem("vigie-notify", notify.checked ? "1" : "0");
        // Permission is asked once, when the operator chooses it.
        if (notify.checked && Notification.permission === "default") {
          Notification.requestPermission().then(function (p) { notify.checked = p === "granted"; });
        } else if (notify.checked && Notification.permission === "denied") {
          notify.checked = false;
        }
      });
    }
    if (mapSvg()) {
      mapQuery = location.search.replace(/^\?/, "");
      mapWanted = mapQuery;
      fitLabels();
      bindMap();
      window.addEventListener("resize", fitLabels);
      // Drawn for a desk's width; on a much narrower or wider screen (a
      // phone, a wall), fetched again for it.
      var width = mapSvg().getBoundingClientRect().width;
      if (width && Math.abs(width - MAP_PX_NOMINAL) / MAP_PX_NOMINAL > MAP_REFIT_RATIO_MIN) loadMap(mapQuery, null, null);
      else markMap(document.getElementById("map-view"), "ready");
    }
    if (document.getElementById("board")) onBoardSwap();
    setInterval(tickAges, 1000);

    // Forms that undo something ask first.
    document.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", function (e) {
        if (!window.confirm(form.dataset.confirm)) e.preventDefault();
      });
    });

    // Markers under the player jump to their passage.
    document.querySelectorAll("[data-seek]").forEach(function (b) {
      b.addEventListener("click", function () {
        var p = document.getElementById("player");
        if (p) { p.currentTime = Number(b.dataset.seek); p.play(); }
      });
    });
  });

  document.addEventListener("htmx:afterSwap", function (e) {
    if (e.target && e.target.id === "board") onBoardSwap();
  });
  document.addEventListener("htmx:sseMessage", function (e) {
    if (e.target && e.target.id === "board") onBoardSwap();
  });
})();
