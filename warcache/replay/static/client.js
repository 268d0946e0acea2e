/* warcache replay client: keeps a replayed page's scripts inside the archive.
 *
 * The server rewrites the URLs in markup and style sheets; this script handles the URLs that
 * scripts produce while the page runs: fetch, XMLHttpRequest, beacons, EventSource, workers,
 * history.pushState, window.open, element properties and attributes (img.src = ...,
 * setAttribute("href", ...)), HTML strings (innerHTML, insertAdjacentHTML, document.write),
 * and link clicks and form submissions as a last line of defence (a navigation is the one
 * thing the Content-Security-Policy cannot stop; the Navigation API's navigate event catches
 * the rest: `location.href = "https://original/..."` from any script). Reading a rewritten
 * property gives the original URL back, and so do document.URL, documentURI, baseURI,
 * referrer, domain, window.origin, Request.url, Response.url and MessageEvent.origin;
 * postMessage target origins are mapped, and cookies' domain= attribute. Service workers are
 * refused on a shared origin (one would answer every collection's replays); on session hosts
 * (see origins.py) they run, each on its own archived origin and time.
 *
 * Loaded with pin.js and core.js in front of it; configured by the JSON in its data-wc
 * attribute: {coll, ts, url, time, seed, mode, suffix}. */
(function () {
  "use strict";
  const script = document.currentScript;
  if (!script || !script.dataset.wc || window.__warcacheClient) return;
  const cfg = JSON.parse(script.dataset.wc);
  Object.defineProperty(window, "__warcacheClient", {value: true});


  self.__warcachePin(cfg.time, cfg.seed);
  const core = self.__warcacheCore(cfg, function () { return document.baseURI; });
  delete self.__warcachePin;
  delete self.__warcacheCore;
  const rw = core.rw, unrw = core.unrw;

  // The banner (replay/timeline.py): a replay framed by the listing origin tells it which
  // capture it shows -- the original URL, the time, the title, nothing else -- addressed to
  // the listing origin only, so no other site framing a replay learns what it shows.  Sent at
  // load and when the page changes its own URL (pushState, back and forward in a router).
  // (The listing may have been opened under any of its names: the browser delivers the
  // message to the one that matches, if any, and drops the others.)
  const banner = cfg.banner && window.parent !== window && window.parent === window.top ? window.parent : null;
  const tellBanner = !banner ? null : function () {
    let url = unrw(String(location.href));
    url = typeof url === "string" && /^https?:\/\//i.test(url) ? url.split("#")[0] : String(cfg.url);
    const msg = {warcache: "shown", url: url, ts: String(cfg.ts),
      title: String(document.title || "").slice(0, 300)};
    cfg.banner.forEach(function (origin) {
      try { banner.postMessage(msg, origin); } catch (e) { /* not a valid origin: skipped */ }
    });
  };
  if (tellBanner) {
    if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", tellBanner);
    else tellBanner();
    window.addEventListener("popstate", tellBanner);
  }

  const proto = function (name) { const C = window[name]; return C && C.prototype; };
  const desc = function (obj, prop) { return obj && Object.getOwnPropertyDescriptor(obj, prop); };
  const requestUrl = desc(Request.prototype, "url").get;  // the real one, before hookCommon

  // -- network APIs ------------------------------------------------------------------------
  const realFetch = window.fetch;
  if (realFetch) {
    window.fetch = function fetch(input, init) {
      if (input instanceof Request) {
        const real = requestUrl.call(input);
        const url = rw(real, "");
        if (url !== real) {
          const mode = input.mode === "navigate" || input.mode === "same-origin" ? "cors" : input.mode;
          input = new Request(url, {method: input.method, headers: input.headers, body: input.body,
            mode: mode, credentials: input.credentials, cache: input.cache, redirect: input.redirect,
            referrer: input.referrer, integrity: input.integrity, signal: input.signal,
            duplex: input.body ? "half" : undefined});
        }
      } else {
        input = rw(input, "");
      }
      return realFetch.call(this, input, init);
    };
  }

  const xhrOpen = XMLHttpRequest.prototype.open;
  XMLHttpRequest.prototype.open = function open(method, url) {
    const args = Array.prototype.slice.call(arguments);
    args[1] = rw(url, "");
    return xhrOpen.apply(this, args);
  };

  if (navigator.sendBeacon) {
    const beacon = navigator.sendBeacon;
    navigator.sendBeacon = function sendBeacon(url, data) { return beacon.call(navigator, rw(url, ""), data); };
  }

  const wrapConstructor = function (name, index, mod) {
    const C = window[name];
    if (!C) return;
    window[name] = new Proxy(C, {
      construct: function (target, args, newTarget) {
        if (args.length > index) args[index] = rw(args[index], mod);
        return Reflect.construct(target, args, newTarget);
      },
    });
  };
  wrapConstructor("EventSource", 0, "");
  wrapConstructor("Worker", 0, "wk_");
  wrapConstructor("SharedWorker", 0, "wk_");
  wrapConstructor("Audio", 0, "oe_");

  if (navigator.serviceWorker && window.ServiceWorkerContainer) {
    const realRegister = ServiceWorkerContainer.prototype.register;
    ServiceWorkerContainer.prototype.register = core.hosts ? function register(url, options) {
      if (options && options.scope) options = Object.assign({}, options, {scope: rw(options.scope, "")});
      return realRegister.call(this, rw(url, ""), options);
    } : function register() {
      return Promise.reject(new DOMException("service workers are disabled in warcache replay", "SecurityError"));
    };
  }
  ["RTCPeerConnection", "webkitRTCPeerConnection"].forEach(function (name) {
    // Peer connections reach STUN servers outside the archive, and no policy stops them.
    if (window[name]) {
      window[name] = function () { throw new DOMException("WebRTC is disabled in warcache replay", "NotSupportedError"); };
    }
  });

  // -- navigation ------------------------------------------------------------------------
  ["pushState", "replaceState"].forEach(function (name) {
    const real = History.prototype[name];
    History.prototype[name] = function (state, title, url) {
      const args = Array.prototype.slice.call(arguments);
      if (args.length > 2 && url !== null && url !== undefined) args[2] = rw(url, "");
      const result = real.apply(this, args);
      if (tellBanner) tellBanner();
      return result;
    };
  });
  const realOpen = window.open;
  window.open = function open(url) {
    const args = Array.prototype.slice.call(arguments);
    if (args.length && url) args[0] = rw(url, "");
    return realOpen.apply(this, args);
  };

  // Navigations to original URLs from anywhere (`location.href = "https://original/x"` in a
  // script no rewriting reached, a link added since): sent to their replay URL instead.
  if (window.navigation && window.navigation.addEventListener) {
    window.navigation.addEventListener("navigate", function (event) {
      if (!event.cancelable || event.hashChange || event.formData || event.downloadRequest) return;
      const dest = event.destination.url;
      let mapped;
      try { mapped = new URL(rw(dest, ""), location.href).href; } catch (e) { return; }
      if (mapped === dest) return;
      event.preventDefault();
      if (mapped === location.href) return;  // the page sent itself to its own original address
      if (event.navigationType === "replace") location.replace(mapped);
      else location.assign(mapped);
    });
  }

  // -- what the document says about its own address ------------------------------------
  const unmapGetter = function (p, prop, map) {
    const d = desc(p, prop);
    if (!d || !d.get) return;
    Object.defineProperty(p, prop, {configurable: true, enumerable: d.enumerable, set: d.set,
      get: function () { return map(d.get.call(this)); }});
  };
  unmapGetter(Document.prototype, "URL", unrw);
  unmapGetter(Document.prototype, "documentURI", unrw);
  unmapGetter(Document.prototype, "referrer", unrw);
  unmapGetter(Node.prototype, "baseURI", unrw);
  const origHost = function () { try { return new URL(unrw(location.href)).hostname; } catch (e) { return ""; } };
  const domainDesc = desc(Document.prototype, "domain");
  if (domainDesc && domainDesc.get) {
    let domain = null;
    Object.defineProperty(Document.prototype, "domain", {
      configurable: true, enumerable: domainDesc.enumerable,
      get: function () { return domain || origHost(); },
      set: function (value) {
        const host = origHost(), text = String(value).toLowerCase();
        if (text !== host && !host.endsWith("." + text)) {
          throw new DOMException("'" + value + "' is not a suffix of '" + host + "'.", "SecurityError");
        }
        domain = text;
      },
    });
  }
  if (core.hosts) {
    // document.cookie = "a=b; domain=.example.com": the domain of the session hosts instead.
    const cookieDesc = desc(Document.prototype, "cookie");
    if (cookieDesc && cookieDesc.set) {
      Object.defineProperty(Document.prototype, "cookie", {
        configurable: true, enumerable: cookieDesc.enumerable, get: cookieDesc.get,
        set: function (value) {
          const text = String(value).replace(/;\s*domain\s*=\s*\.?([^;]*)/i, function (all, domain) {
            const host = origHost(), d = domain.trim().toLowerCase();
            if (d !== host && !host.endsWith("." + d)) return all;  // refused by the browser, as live
            const session = location.hostname;
            return session.startsWith(host + ".") ? "; domain=" + d + session.slice(host.length) : "";
          });
          cookieDesc.set.call(this, text);
        },
      });
    }
  }
  const realPostMessage = window.postMessage;
  Object.defineProperty(window, "postMessage", {configurable: true, writable: true, enumerable: true,
    value: function postMessage(message, target, transfer) {
      const args = Array.prototype.slice.call(arguments);
      if (args.length > 1) args[1] = core.mapTargetArg(args[1]);
      return realPostMessage.apply(this === undefined || this === null ? window : this, args);
    }});

  // -- element URLs ----------------------------------------------------------------------
  const SRC_MODS = {img: "im_", input: "im_", script: "js_", iframe: "if_", frame: "if_", embed: "oe_",
    video: "oe_", audio: "oe_", source: "oe_", track: "oe_"};

  // What an attribute holds: a modifier for a URL, "srcset", "css", "html", or undefined.
  function attrKind(el, name) {
    const tag = el.localName;
    switch (name) {
      case "src": return SRC_MODS[tag] || "";
      case "href": case "xlink:href": return tag === "image" ? "im_" : "";
      case "action": case "formaction": return "";
      case "poster": case "background": return "im_";
      case "data": return tag === "object" ? "oe_" : undefined;
      case "srcset": case "imagesrcset": return "srcset";
      case "style": return "css";
      case "srcdoc": return tag === "iframe" ? "html" : undefined;
      default: return undefined;
    }
  }

  function rwAttr(el, name, value) {
    const kind = attrKind(el, name);
    if (kind === undefined || value === null || value === undefined) return value;
    if (kind === "srcset") return core.rwSrcset(value, "im_");
    if (kind === "css") return core.rwCss(String(value));
    if (kind === "html") return rwHTML(String(value));
    return rw(value, kind);
  }

  const elProto = Element.prototype;
  const realSetAttr = elProto.setAttribute, realGetAttr = elProto.getAttribute;
  const realSetAttrNS = elProto.setAttributeNS, realGetAttrNS = elProto.getAttributeNS;
  const URL_ATTRS = {src: 1, href: 1, action: 1, formaction: 1, poster: 1, data: 1, background: 1};

  elProto.setAttribute = function setAttribute(name, value) {
    const lname = String(name).toLowerCase();
    return realSetAttr.call(this, name, rwAttr(this, lname, value));
  };
  elProto.getAttribute = function getAttribute(name) {
    const value = realGetAttr.call(this, name);
    if (value === null || URL_ATTRS[String(name).toLowerCase()] !== 1) return value;
    return unrw(value);
  };
  elProto.setAttributeNS = function setAttributeNS(ns, name, value) {
    const local = String(name).toLowerCase().replace(/^xlink:/, "");
    const kind = local === "href" ? "xlink:href" : local;
    return realSetAttrNS.call(this, ns, name, rwAttr(this, kind, value));
  };
  elProto.getAttributeNS = function getAttributeNS(ns, name) {
    const value = realGetAttrNS.call(this, ns, name);
    return value !== null && String(name).toLowerCase() === "href" ? unrw(value) : value;
  };

  // Properties that reflect URL attributes: the setter rewrites, the getter gives the original.
  function hookProp(className, prop, mod) {
    const p = proto(className);
    const d = desc(p, prop);
    if (!d || !d.set || !d.get) return;
    Object.defineProperty(p, prop, {
      configurable: true,
      enumerable: d.enumerable,
      get: function () {
        const value = d.get.call(this);
        return mod === "srcset" ? value : unrw(value);
      },
      set: function (value) {
        d.set.call(this, mod === "srcset" ? core.rwSrcset(value, "im_") : rw(value, mod));
      },
    });
  }
  [
    ["HTMLImageElement", "src", "im_"], ["HTMLImageElement", "srcset", "srcset"],
    ["HTMLSourceElement", "src", "oe_"], ["HTMLSourceElement", "srcset", "srcset"],
    ["HTMLScriptElement", "src", "js_"], ["HTMLLinkElement", "href", ""],
    ["HTMLLinkElement", "imageSrcset", "srcset"],
    ["HTMLIFrameElement", "src", "if_"], ["HTMLFrameElement", "src", "if_"],
    ["HTMLMediaElement", "src", "oe_"], ["HTMLVideoElement", "poster", "im_"],
    ["HTMLEmbedElement", "src", "oe_"], ["HTMLObjectElement", "data", "oe_"],
    ["HTMLTrackElement", "src", "oe_"], ["HTMLInputElement", "src", "im_"],
    ["HTMLFormElement", "action", ""], ["HTMLInputElement", "formAction", ""],
    ["HTMLButtonElement", "formAction", ""], ["HTMLAnchorElement", "href", ""],
    ["HTMLAreaElement", "href", ""], ["HTMLBaseElement", "href", ""],
  ].forEach(function (row) { hookProp(row[0], row[1], row[2]); });

  // a.hostname, a.origin, ...: the parts of the original URL (href above gives it whole).
  ["HTMLAnchorElement", "HTMLAreaElement"].forEach(function (name) {
    const p = proto(name);
    ["origin", "protocol", "host", "hostname", "port", "pathname", "search", "hash"].forEach(function (part) {
      const d = desc(p, part);
      if (!d || !d.get) return;
      Object.defineProperty(p, part, {
        configurable: true, enumerable: d.enumerable,
        get: function () {
          const href = this.href;
          if (!href) return d.get.call(this);
          try { return new URL(href)[part]; } catch (e) { return d.get.call(this); }
        },
        set: d.set && function (value) {
          if (part === "hash" || part === "search" || part === "pathname") { d.set.call(this, value); return; }
          try {
            const u = new URL(this.href);
            u[part] = value;
            this.href = u.href;
          } catch (e) {
            d.set.call(this, value);
          }
        },
      });
    });
  });

  // -- HTML strings ----------------------------------------------------------------------
  const innerDesc = desc(elProto, "innerHTML");
  const outerDesc = desc(elProto, "outerHTML");
  const MAYBE_URL = /(?:src|href|srcset|poster|action|data|style|background|formaction|srcdoc)\s*=|url\(/i;
  const SELECTOR = "[src],[href],[srcset],[imagesrcset],[poster],[action],[formaction],[background]," +
    "object[data],[style],iframe[srcdoc],style";

  function rwTree(root) {
    root.querySelectorAll(SELECTOR).forEach(function (el) {
      if (el.localName === "style") {
        el.textContent = core.rwCss(el.textContent);
      }
      for (const attr of Array.from(el.attributes)) {
        const value = rwAttr(el, attr.name.toLowerCase(), attr.value);
        if (value !== attr.value) realSetAttr.call(el, attr.name, value);
      }
    });
  }

  function rwHTML(html) {
    if (html === null || html === undefined) return html;
    const text = String(html);
    if (!MAYBE_URL.test(text)) return html;
    const tpl = document.createElement("template");
    innerDesc.set.call(tpl, text);
    rwTree(tpl.content);
    return innerDesc.get.call(tpl);
  }

  function rwFor(el, html) {
    const tag = el && el.localName;
    if (tag === "script" || tag === "textarea" || tag === "title") return html;
    if (tag === "style") return core.rwCss(String(html));
    return rwHTML(html);
  }

  Object.defineProperty(elProto, "innerHTML", {
    configurable: true, enumerable: innerDesc.enumerable, get: innerDesc.get,
    set: function (html) { innerDesc.set.call(this, rwFor(this, html)); },
  });
  Object.defineProperty(elProto, "outerHTML", {
    configurable: true, enumerable: outerDesc.enumerable, get: outerDesc.get,
    set: function (html) { outerDesc.set.call(this, rwHTML(html)); },
  });
  const realAdjacent = elProto.insertAdjacentHTML;
  elProto.insertAdjacentHTML = function insertAdjacentHTML(where, html) {
    return realAdjacent.call(this, where, rwHTML(html));
  };
  const realFragment = Range.prototype.createContextualFragment;
  Range.prototype.createContextualFragment = function createContextualFragment(html) {
    return realFragment.call(this, rwHTML(html));
  };
  hookSrcdoc();
  function hookSrcdoc() {
    const p = proto("HTMLIFrameElement");
    const d = desc(p, "srcdoc");
    if (!d || !d.set) return;
    Object.defineProperty(p, "srcdoc", {
      configurable: true, enumerable: d.enumerable, get: d.get,
      set: function (html) { d.set.call(this, rwHTML(html)); },
    });
  }

  // document.write gets partial markup: rewrite URL attributes in place.
  const ATTR_IN_MARKUP = /(\s(?:src|href|action|poster|data|background)\s*=\s*)(["']?)([^"'\s>]+)\2/gi;
  ["write", "writeln"].forEach(function (name) {
    const real = Document.prototype[name];
    Document.prototype[name] = function () {
      const args = Array.prototype.map.call(arguments, function (chunk) {
        return String(chunk).replace(ATTR_IN_MARKUP, function (all, lead, q, url) { return lead + q + rw(url, "") + q; });
      });
      return real.apply(this, args);
    };
  });

  // -- navigations: the last line of defence ----------------------------------------------
  function fixAttr(el, name) {
    const value = realGetAttr.call(el, name);
    if (value === null) return;
    const fixed = rw(value, "");
    if (fixed !== value) realSetAttr.call(el, name, fixed);
  }
  function guardLinks(root) {
    if (root.nodeType !== 1) return;
    if (root.matches("a[href],area[href]")) fixAttr(root, "href");
    if (root.matches("form[action]")) fixAttr(root, "action");
    if (root.firstElementChild) {
      root.querySelectorAll("a[href],area[href]").forEach(function (a) { fixAttr(a, "href"); });
      root.querySelectorAll("form[action]").forEach(function (f) { fixAttr(f, "action"); });
    }
  }
  const onClick = function (event) {
    const target = event.target;
    const link = target && target.closest && target.closest("a[href],area[href]");
    if (link) fixAttr(link, "href");
  };
  window.addEventListener("click", onClick, true);
  window.addEventListener("auxclick", onClick, true);
  window.addEventListener("submit", function (event) {
    if (event.target && event.target.localName === "form") fixAttr(event.target, "action");
    if (event.submitter && event.submitter.hasAttribute("formaction")) fixAttr(event.submitter, "formaction");
  }, true);
  document.addEventListener("DOMContentLoaded", function () {
    new MutationObserver(function (records) {
      for (const record of records) {
        if (record.type === "attributes") guardLinks(record.target);
        else record.addedNodes.forEach(guardLinks);
      }
    }).observe(document.documentElement, {childList: true, subtree: true, attributes: true,
      attributeFilter: ["href", "action"]});
  });

  core.hookCommon(window);

  // The page's own scripts should not find ours in the DOM.
  const importmap = document.querySelector("script[data-warcache]");
  if (importmap) importmap.remove();
  script.remove();
})();
