// Client-side search over /search/index.json: every query word must prefix-match a word of
// the name, package name, description, tags or author; results keep the index's order
// (most downloaded first). Text is inserted with textContent, never as HTML.
(function () {
  "use strict";
  var form = document.getElementById("search-form");
  var input = document.getElementById("q");
  var status = document.getElementById("search-status");
  var list = document.getElementById("search-results");
  var docs = null;
  var MAX = 50;

  function words(s) {
    return (s || "").toLowerCase().split(/[^\p{L}\p{N}_]+/u).filter(Boolean);
  }

  function prepare(raw) {
    return raw.map(function (d) {
      var text = [d.n, d.p, d.d, (d.t || []).join(" "), d.a].join(" ");
      var w = words(text).concat(words(d.p.replace(/_/g, " ")));
      return { doc: d, words: w };
    });
  }

  function matches(entry, terms) {
    return terms.every(function (t) {
      return entry.words.some(function (w) { return w.lastIndexOf(t, 0) === 0; });
    });
  }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function render(results, total) {
    list.textContent = "";
    results.forEach(function (d) {
      var li = el("li", "card");
      if (d.i) {
        var img = el("img", "icon");
        img.src = d.i; img.alt = ""; img.width = 48; img.height = 48;
        li.appendChild(img);
      } else {
        var ph = el("span", "icon placeholder", (d.n || "?").charAt(0));
        ph.setAttribute("aria-hidden", "true");
        li.appendChild(ph);
      }
      var body = el("div", "card-body");
      var h = el("h3");
      var a = el("a", null, d.n);
      a.href = "/plugins/" + encodeURIComponent(d.p) + "/";
      h.appendChild(a);
      body.appendChild(h);
      body.appendChild(el("p", "desc", d.d));
      body.appendChild(el("p", "meta", d.a + " · " + d.c + " downloads" + (d.v ? " · v" + d.v : "")));
      li.appendChild(body);
      list.appendChild(li);
    });
    status.textContent = total === 0 ? "No plugin matches." :
      (total > results.length ? "Showing " + results.length + " of " + total + " plugins." : total + " plugin" + (total === 1 ? "" : "s") + " found.");
  }

  function search() {
    var terms = words(input.value);
    if (!docs) return;
    if (terms.length === 0) { list.textContent = ""; status.textContent = "Type to search."; return; }
    var found = docs.filter(function (e) { return matches(e, terms); });
    render(found.slice(0, MAX).map(function (e) { return e.doc; }), found.length);
    var url = new URL(window.location.href);
    url.searchParams.set("q", input.value);
    window.history.replaceState(null, "", url);
  }

  form.addEventListener("submit", function (ev) { ev.preventDefault(); search(); });
  input.addEventListener("input", search);
  var initial = new URL(window.location.href).searchParams.get("q");
  if (initial) input.value = initial;
  status.textContent = "Loading the index…";
  fetch("/search/index.json").then(function (r) {
    if (!r.ok) throw new Error("HTTP " + r.status);
    return r.json();
  }).then(function (raw) {
    docs = prepare(raw);
    status.textContent = "Type to search.";
    search();
  }).catch(function (err) {
    status.textContent = "The search index could not be loaded (" + err.message + ").";
  });
})();
