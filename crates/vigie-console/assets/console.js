// Vigie console: small behaviours on top of server-rendered pages.
// Everything works without this file except the live ages, the sound,
// the map refresh and filling the CSV box from a file.
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
    if (mapShops !== null && shops !== mapShops && window.htmx && document.querySelector(".map svg")) {
      htmx.ajax("GET", "/console/map", { target: ".map svg", swap: "outerHTML" });
    }
    mapShops = shops;
  }

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
