// cavra console: progressive enhancement only; every page works without this script.
// Served from the console's own origin under a strict Content-Security-Policy (no inline
// script, no eval), so everything here attaches to elements by data attributes.
"use strict";
(function () {
  // Live regions: <tbody data-live="URL"> subscribes to the server-sent events at URL; each
  // event's data is the region's new HTML, rendered (and escaped) by the server.
  function live(el) {
    var status = document.getElementById(el.getAttribute("data-live-status") || "live-status");
    var say = function (text) { if (status) { status.textContent = text; } };
    var source = new EventSource(el.getAttribute("data-live"));
    source.addEventListener("rows", function (ev) {
      el.innerHTML = ev.data;
      say("Updated at " + new Date().toLocaleTimeString());
    });
    source.addEventListener("open", function () { say("Live: updates appear as they happen."); });
    source.addEventListener("error", function () { say("Live updates interrupted; reconnecting…"); });
  }
  document.querySelectorAll("[data-live]").forEach(live);

  // Inclusion proofs: <section data-proof> holds the entry, the proof's path, the tree size
  // and the signed root; the button recomputes the root in the browser (RFC 6962/9162).
  function hex(bytes) {
    return Array.prototype.map.call(new Uint8Array(bytes), function (b) {
      return ("0" + b.toString(16)).slice(-2);
    }).join("");
  }
  function unhex(text) {
    var out = new Uint8Array(text.length / 2);
    for (var i = 0; i < out.length; i++) { out[i] = parseInt(text.substr(i * 2, 2), 16); }
    return out;
  }
  function node(left, right) {
    var buf = new Uint8Array(1 + left.length + right.length);
    buf[0] = 1; buf.set(left, 1); buf.set(right, 1 + left.length);
    return crypto.subtle.digest("SHA-256", buf).then(function (d) { return new Uint8Array(d); });
  }
  // RFC 9162 §2.1.3.2: verify an inclusion proof of leaf `index` in a tree of `size`.
  function rootFromProof(index, size, leaf, path) {
    if (index >= size) { return Promise.reject(new Error("index beyond the tree")); }
    var fn = index, sn = size - 1, r = Promise.resolve(leaf), i = 0;
    function step() {
      if (i === path.length) { return r; }
      if (sn === 0) { return Promise.reject(new Error("the proof is too long")); }
      var p = path[i++];
      if (fn % 2 === 1 || fn === sn) {
        r = r.then(function (acc) { return node(p, acc); });
        if (fn % 2 === 0) { while (fn % 2 === 0 && fn !== 0) { fn = fn >> 1; sn = sn >> 1; } }
      } else {
        r = r.then(function (acc) { return node(acc, p); });
      }
      fn = fn >> 1; sn = sn >> 1;
      return step();
    }
    return step().then(function (acc) {
      if (sn !== 0) { throw new Error("the proof is too short"); }
      return acc;
    });
  }
  document.querySelectorAll("[data-proof]").forEach(function (section) {
    var button = section.querySelector("button[data-verify]");
    var out = section.querySelector("[data-verify-result]");
    if (!button || !out) { return; }
    button.hidden = false;
    button.addEventListener("click", function () {
      var index = Number(section.getAttribute("data-index"));
      var size = Number(section.getAttribute("data-size"));
      var root = section.getAttribute("data-root");
      var path = (section.getAttribute("data-path") || "").split(",").filter(Boolean).map(unhex);
      var entry = new TextEncoder().encode(section.querySelector("[data-entry]").textContent);
      var prefixed = new Uint8Array(entry.length + 1);
      prefixed.set(entry, 1);
      // The leaf is the RFC 6962 leaf hash of the entry's canonical JSON as shown above.
      crypto.subtle.digest("SHA-256", prefixed).then(function (leaf) {
        return rootFromProof(index, size, new Uint8Array(leaf), path);
      }).then(function (got) {
        var ok = hex(got) === root;
        out.textContent = ok
          ? "Verified in this browser: the entry's leaf and the proof give the signed root " + root + "."
          : "NOT verified: the proof gives " + hex(got) + ", the signed root is " + root + ".";
        out.className = ok ? "notice" : "error";
      }, function (e) {
        out.textContent = "NOT verified: " + e.message;
        out.className = "error";
      });
    });
  });
})();
