/* warcache replay banner (runs on the listing origin only; see replay/timeline.py).
 *
 * The replayed page in #wb-frame tells which capture it shows with postMessage; this script
 * takes such a message only from that frame's window and from the collection's replay host
 * names, treats every value in it as data, asks the listing origin for that capture's
 * neighbours, and sets the bar's text and links from the answer (textContent and same-origin
 * paths only: never markup). */
(function () {
  "use strict";
  const cfg = JSON.parse(document.getElementById("wb-cfg").textContent);
  const frame = document.getElementById("wb-frame");
  const byId = function (id) { return document.getElementById(id); };

  function fromReplay(origin) {
    let u;
    try { u = new URL(origin); } catch (e) { return false; }
    return cfg.hosts.some(function (h) {
      const want = new URL(h.origin);
      if (u.protocol !== want.protocol || u.port !== want.port) return false;
      return u.hostname === want.hostname || (h.subdomains && u.hostname.endsWith("." + want.hostname));
    });
  }

  function link(id, href, title) {
    const a = byId(id);
    if (!a) return;
    if (href && href.charAt(0) === "/" && href.charAt(1) !== "/") {
      a.setAttribute("href", href);
      a.removeAttribute("aria-disabled");
    } else {
      a.removeAttribute("href");
      a.setAttribute("aria-disabled", "true");
    }
    if (title) a.title = title; else a.removeAttribute("title");
  }

  function show(nav, title) {
    const live = byId("wb-live");
    live.textContent = nav.url;
    if (live.tagName === "A") {
      if (/^https?:\/\//i.test(nav.live)) live.setAttribute("href", nav.live);
      else live.removeAttribute("href");
    }
    byId("wb-when").textContent = nav.when;
    byId("wb-count").textContent = String(nav.count);
    const badge = byId("wb-fidelity");
    if (typeof nav.fidelity === "number") {
      badge.textContent = "fidelity " + nav.fidelity;
      badge.hidden = false;
    } else {
      badge.hidden = true;
    }
    link("wb-prev", nav.prev, nav.prev_when);
    link("wb-next", nav.next, nav.next_when);
    link("wb-calendar", nav.calendar, "");
    document.title = (title || nav.url) + " · " + nav.when + " · warcache";
    if (nav.view && nav.view.charAt(0) === "/" && nav.view.charAt(1) !== "/") {
      history.replaceState(null, "", nav.view);
    }
  }

  // The page first shown reports itself too (at the time of its nearest response, which
  // may differ from the page's by seconds): the bar already shows it.
  let shownUrl = byId("wb-live").textContent;
  let asked = 0;
  window.addEventListener("message", function (event) {
    if (event.source !== frame.contentWindow || !fromReplay(event.origin)) return;
    const data = event.data;
    if (!data || typeof data !== "object" || data.warcache !== "shown") return;
    const url = typeof data.url === "string" ? data.url : "";
    const ts = typeof data.ts === "string" ? data.ts : "";
    const title = typeof data.title === "string" ? data.title.slice(0, 300) : "";
    if (!/^\d{14}$/.test(ts) || !/^https?:\/\//i.test(url) || url.length > 8000) return;
    if (url === shownUrl) return;
    shownUrl = url;
    const mine = ++asked;
    const ask = cfg.nav + encodeURIComponent(cfg.coll) + "?ts=" + ts + "&url=" + encodeURIComponent(url);
    fetch(ask, {credentials: "same-origin"})
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (nav) { if (nav && mine === asked) show(nav, title); })
      .catch(function () {});
  });
})();
