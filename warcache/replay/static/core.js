/* warcache: the URL mapping shared by the page client and the worker shim.
 *
 * Two URL models (see warcache/replay/origins.py):
 * - "host": a page of https://site.example:8443 captured at T in collection C lives at
 *   http://site.example.<T>s8443.<C>.<domain>:<port>/<original path and query>. Relative URLs
 *   need nothing; rw() maps absolute original URLs to their session host, unrw() back.
 * - "path" (one shared origin): <replay origin>/<coll>/<ts><mod>/<original URL>.
 * On top of the mapping: the helpers rewritten scripts call (__wc$loc, __wc$pm, __wc$meta,
 * __wc$imp, see jsrewrite.py) and the getters that give scripts original URLs back (Request.url,
 * MessageEvent.origin, ...), for documents and workers alike.
 * Defines self.__warcacheCore(cfg, currentUrl) -> {rw, unrw, ...}. */
(function (global) {
  "use strict";
  if (global.__warcacheCore) return;
  Object.defineProperty(global, "__warcacheCore", {
    configurable: true,
    value: function core(cfg, currentUrl) {
      const ORIGIN = global.location.origin;
      const SCHEME = /^([a-zA-Z][a-zA-Z0-9+.-]*):/;
      const HOSTS = cfg.mode === "host";
      const toString = Object.prototype.toString;

      // -- the path model ----------------------------------------------------------------
      const PREFIX = "/" + cfg.coll + "/";
      const ROUTED = new RegExp("^/" + cfg.coll.replace(/[^A-Za-z0-9_]/g, "\\$&") +
                                "/(\\d{0,14})([a-z]{2,3}_)?/(https?:/.*)$", "i");

      function build(ts, mod, url) { return ORIGIN + PREFIX + ts + (mod || "") + "/" + url; }

      // {ts, mod, url} of a replay URL (absolute, or a path on the replay origin), else null.
      function split(href) {
        let path = href;
        if (href.startsWith(ORIGIN + "/")) path = href.slice(ORIGIN.length);
        else if (!href.startsWith("/")) return null;
        const m = ROUTED.exec(path);
        return m ? {ts: m[1], mod: m[2] || "", url: m[3].replace(/^(https?:)\/(?!\/)/i, "$1//")} : null;
      }

      // -- the host model ----------------------------------------------------------------
      const SUFFIX = "." + (cfg.suffix || "");  // ".<collection label>.<domain>"
      const OUT_SCHEME = global.location.protocol;
      const OUT_PORT = global.location.port ? ":" + global.location.port : "";
      const SESSION = /^(\d{14})([sh])(\d{0,5})$/;
      const B32 = "abcdefghijklmnopqrstuvwxyz234567";
      const PLAIN_LABEL = /^[a-z0-9_-]{1,63}$/;
      const hashed = new Map();  // x--label -> host, for hosts this page named

      function hashLabel(host) {  // 64-bit FNV-1a of the UTF-8 host name, base32 (origins.py)
        let h = 0xcbf29ce484222325n;
        for (const byte of new TextEncoder().encode(host)) {
          h = ((h ^ BigInt(byte)) * 0x100000001b3n) & 0xffffffffffffffffn;
        }
        h <<= 1n;
        let out = "";
        for (let shift = 60n; shift >= 0n; shift -= 5n) out += B32[Number((h >> shift) & 31n)];
        return "x--" + out;
      }

      function isSessionHost(hostname) { return HOSTS && hostname.endsWith(SUFFIX) && parseHost(hostname) !== null; }

      function hostLabel(host, tail) {
        const plain = host.length + tail.length <= 253 && !host.startsWith("x--") &&
          host.split(".").every(function (l) { return PLAIN_LABEL.test(l); });
        if (plain) return host;
        const label = hashLabel(host);
        hashed.set(label, host);
        return label;
      }

      // The session origin of an original one (a URL object), as a string.
      function sessionOrigin(u) {
        const https = u.protocol === "https:";
        const tail = "." + cfg.ts + (https ? "s" : "h") + u.port + SUFFIX;
        return OUT_SCHEME + "//" + hostLabel(u.hostname, tail) + tail + OUT_PORT;
      }

      // {scheme, host, port} of a session host name, else null.
      function parseHost(hostname) {
        if (!hostname.endsWith(SUFFIX)) return null;
        const labels = hostname.slice(0, -SUFFIX.length).split(".");
        if (labels.length < 2) return null;
        const m = SESSION.exec(labels.pop());
        if (!m) return null;
        let host = labels.join(".");
        if (host.startsWith("x--")) {
          if (!hashed.has(host)) return null;
          host = hashed.get(host);
        }
        return {scheme: m[2] === "s" ? "https:" : "http:", host: host, port: m[3]};
      }

      function origOrigin(u) {  // the original origin of a session URL object, or null
        const p = parseHost(u.hostname);
        return p ? p.scheme + "//" + p.host + (p.port ? ":" + p.port : "") : null;
      }

      // -- both models -------------------------------------------------------------------
      function unrw(value) {
        if (typeof value !== "string") return value;
        if (!HOSTS) {
          const parts = split(value);
          return parts ? parts.url : value;
        }
        if (!/^https?:\/\//i.test(value)) return value;
        let u;
        try { u = new URL(value); } catch (e) { return value; }
        const origin = origOrigin(u);
        if (!origin) return value;
        // The path, query and fragment as they are written: everything after the authority.
        const authority = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i.exec(value);
        return origin + (authority ? value.slice(authority[0].length) : u.pathname + u.search + u.hash);
      }

      function origBase() { return unrw(currentUrl()); }

      function rw(value, mod) {
        if (value === null || value === undefined) return value;
        const text = String(value).trim();
        if (!text || text[0] === "#") return value;
        const scheme = SCHEME.exec(text);
        if (scheme && !/^https?$/i.test(scheme[1])) return value;
        if (HOSTS) {
          // Relative URLs resolve against the session host, which keeps the original path.
          if (!scheme && !text.startsWith("//") && !text.startsWith("\\\\")) return value;
          let abs;
          try { abs = new URL(text, origBase()); } catch (e) { return value; }
          if (abs.protocol !== "http:" && abs.protocol !== "https:") return value;
          if (abs.hostname.endsWith(SUFFIX)) {
            // Already a session URL (an "upgrade to https" snippet may have made it https:).
            const fixed = OUT_SCHEME + "//" + abs.hostname + OUT_PORT + abs.pathname + abs.search + abs.hash;
            return fixed === abs.href ? value : fixed;
          }
          return sessionOrigin(abs) + abs.pathname + abs.search + abs.hash;
        }
        let abs;
        try {
          if (text.startsWith("//")) abs = new URL(text, origBase());
          else if (scheme || text[0] === "/") abs = new URL(text, global.location.href);
          else abs = new URL(text, origBase());
        } catch (e) {
          return value;
        }
        if (abs.protocol !== "http:" && abs.protocol !== "https:") return value;
        if (abs.origin === ORIGIN) {
          const parts = split(abs.href);
          if (parts) return (mod === undefined || mod === parts.mod) ? value : build(parts.ts, mod, parts.url);
          if (abs.pathname.startsWith("/_warcache/")) return value;
          // A path on the replay origin (location.origin + "/api"): a path on the original origin.
          try {
            abs = new URL(abs.pathname + abs.search + abs.hash, new URL(origBase()).origin);
          } catch (e) {
            return value;
          }
        }
        return build(cfg.ts, mod, abs.href);
      }

      // An original origin ("https://a.example") as the browser knows it here, for postMessage.
      function mapTarget(origin) {
        if (typeof origin !== "string" || origin === "*" || origin === "/") return origin;
        try {
          const u = new URL(origin);
          if (u.protocol !== "http:" && u.protocol !== "https:") return origin;
          return new URL(rw(u.origin + "/", "")).origin;
        } catch (e) {
          return origin;
        }
      }

      // A replay origin back to the original one (MessageEvent.origin, window.origin).
      function unmapOrigin(origin) {
        if (!HOSTS || typeof origin !== "string" || !origin.startsWith("http")) return origin;
        try {
          return origOrigin(new URL(origin)) || origin;
        } catch (e) {
          return origin;
        }
      }

      // The URL a navigation to `value` (relative to the original address) should go to.
      function navTarget(value, base) {
        const text = String(value);
        if (/^\s*(#|javascript:)/i.test(text)) return text;
        try {
          return rw(new URL(text, unrw(base)).href, "");
        } catch (e) {
          return text;
        }
      }

      // srcset: URLs are runs of non-space characters; descriptors run to the next comma.
      function rwSrcset(value, mod) {
        if (typeof value !== "string") value = String(value);
        return value.replace(/(^|,)(\s*)([^\s,][^\s]*?)(,*)(?=\s|$)/g, function (all, sep, sp, url, commas) {
          return sep + sp + rw(url, mod) + commas;
        });
      }

      function rwCss(text) {
        if (typeof text !== "string" || !/url\(|@import/i.test(text)) return text;
        return text
          .replace(/(url\(\s*)(["']?)([^"')]*)\2(\s*\))/gi, function (all, a, q, url, b) {
            return a + q + rw(url, "im_") + q + b;
          })
          .replace(/(@import\s+)(["'])([^"']*)\2/gi, function (all, a, q, url) { return a + q + rw(url, "cs_") + q; });
      }

      // -- what rewritten scripts call (jsrewrite.py) ------------------------------------
      const views = new WeakMap();
      const PARTS = ["href", "protocol", "host", "hostname", "port", "pathname", "search", "hash", "origin"];

      function kindOf(x) {
        try { return toString.call(x); } catch (e) { return ""; }
      }

      // A Location (of any same-origin realm) seen with original values; anything else as is.
      function loc(x) {
        if (x === null || typeof x !== "object") return x;
        const kind = kindOf(x);
        if (kind !== "[object Location]" && kind !== "[object WorkerLocation]") return crossLocation(x) || x;
        let view = views.get(x);
        if (!view) {
          view = locationView(x, kind === "[object WorkerLocation]");
          views.set(x, view);
        }
        return view;
      }

      function locationView(real, worker) {
        const view = Object.create(Object.getPrototypeOf(real));
        const original = function () {
          try { return new URL(unrw(real.href)); } catch (e) { return null; }
        };
        PARTS.forEach(function (part) {
          const d = {
            enumerable: true,
            get: function () {
              if (part === "href") return unrw(real.href);
              const u = original();
              if (!u) return real[part];
              if (part === "origin") return u.protocol === "http:" || u.protocol === "https:" ? u.origin : real.origin;
              return u[part];
            },
          };
          if (!worker && part !== "origin") {
            d.set = function (value) {
              if (part === "href") { real.href = navTarget(value, real.href); return; }
              if (part === "hash") { real.hash = value; return; }
              const u = original();
              if (!u) { real[part] = value; return; }
              u[part] = value;
              real.href = rw(u.href, "");
            };
          }
          Object.defineProperty(view, part, d);
        });
        const methods = {toString: function () { return view.href; }};
        if (!worker) {
          methods.assign = function (url) { real.assign(navTarget(url, real.href)); };
          methods.replace = function (url) { real.replace(navTarget(url, real.href)); };
          methods.reload = function () { real.reload(); };
          Object.defineProperty(view, "ancestorOrigins", {enumerable: true, get: function () {
            const list = Array.prototype.map.call(real.ancestorOrigins || [], unmapOrigin);
            list.item = function (i) { return list[i] === undefined ? null : list[i]; };
            list.contains = function (o) { return list.indexOf(o) >= 0; };
            return Object.freeze(list);
          }});
        }
        Object.keys(methods).forEach(function (name) {
          Object.defineProperty(view, name, {value: methods[name], enumerable: true});
        });
        return Object.freeze(view);
      }

      // The Location of a cross-origin window (top.location from a frame): only setting href and
      // replace() are allowed, as live; the URL they are given goes to its replay URL.
      const crossViews = new WeakMap();
      function crossLocation(x) {
        if (Object.getPrototypeOf(x) !== null) return null;
        try {
          void x.href;
          return null;
        } catch (e) {
          if (!e || e.name !== "SecurityError") return null;
        }
        let view = crossViews.get(x);
        if (!view) {
          view = Object.freeze({
            get href() { return x.href; },  // throws, as live
            set href(value) { x.href = nav(value); },
            replace: function (value) { x.replace(nav(value)); },
            toString: function () { return x.toString(); },
          });
          crossViews.set(x, view);
        }
        return view;
      }

      // What `location = v` and `win.location = v` are given: a URL relative to this page's
      // original address, sent to its replay URL (else a frame could send its top window live).
      function nav(value) {
        let text;
        if (typeof value === "string") text = value;
        else if (value && typeof value === "object" && (kindOf(value) === "[object URL]" || typeof value.href === "string")) {
          text = String(value);
        } else {
          return value;
        }
        return navTarget(text, global.location.href);
      }

      // X.postMessage(m, targetOrigin) with the target origin mapped, when X is a window.
      const pmWrappers = new WeakMap();
      function pm(x) {
        let isWindow = false;
        try { isWindow = x !== null && typeof x === "object" && x.window === x; } catch (e) { isWindow = false; }
        if (!isWindow) return x;
        let wrapper = pmWrappers.get(x);
        if (!wrapper) {
          wrapper = {postMessage: function (message, target, transfer) {
            const args = Array.prototype.slice.call(arguments);
            if (args.length > 1) args[1] = mapTargetArg(args[1]);
            return x.postMessage.apply(x, args);
          }};
          pmWrappers.set(x, wrapper);
        }
        return wrapper;
      }

      function mapTargetArg(arg) {
        if (arg && typeof arg === "object" && !Array.isArray(arg) && "targetOrigin" in arg) {
          return Object.assign({}, arg, {targetOrigin: mapTarget(arg.targetOrigin)});
        }
        return mapTarget(arg);
      }

      const metas = new WeakMap();
      function meta(m) {
        if (m === null || typeof m !== "object" || typeof m.url !== "string") return m;
        let view = metas.get(m);
        if (!view) {
          view = Object.assign({}, m, {url: unrw(m.url)});
          if (typeof m.resolve === "function") view.resolve = function (s) { return unrw(m.resolve(s)); };
          metas.set(m, view);
        }
        return view;
      }

      // import(x): absolute original URLs to their session host (relative ones resolve natively).
      function imp(spec) {
        if (typeof spec !== "string" || !/^\s*(https?:)?\/\//i.test(spec)) return spec;
        return rw(spec, "js_");
      }

      function install(g) {
        [["__wc$loc", loc], ["__wc$pm", pm], ["__wc$meta", meta], ["__wc$imp", imp], ["__wc$nav", nav]].forEach(function (pair) {
          const d = Object.getOwnPropertyDescriptor(g, pair[0]);
          if (d && !d.configurable) g[pair[0]] = pair[1];  // a `var` of the script itself, hoisted
          else Object.defineProperty(g, pair[0], {value: pair[1], writable: true, configurable: true, enumerable: false});
        });
      }

      // Getters that give back original URLs, in documents and workers alike.
      function unmapGetter(proto, prop, map) {
        const d = proto && Object.getOwnPropertyDescriptor(proto, prop);
        if (!d || !d.get) return;
        Object.defineProperty(proto, prop, {
          configurable: true, enumerable: d.enumerable, set: d.set,
          get: function () { return map(d.get.call(this)); },
        });
      }

      function hookCommon(g) {
        const p = function (name) { return g[name] && g[name].prototype; };
        unmapGetter(p("Request"), "url", unrw);
        unmapGetter(p("Request"), "referrer", unrw);
        unmapGetter(p("Response"), "url", unrw);
        unmapGetter(p("XMLHttpRequest"), "responseURL", unrw);
        unmapGetter(p("EventSource"), "url", unrw);
        unmapGetter(p("ServiceWorker"), "scriptURL", unrw);
        unmapGetter(p("ServiceWorkerRegistration"), "scope", unrw);
        unmapGetter(p("MessageEvent"), "origin", unmapOrigin);
        unmapGetter(p("ExtendableMessageEvent"), "origin", unmapOrigin);
        unmapGetter(p("SecurityPolicyViolationEvent"), "documentURI", unrw);
        // self.origin: an accessor of the global object (windows) or its prototype (workers).
        for (let o = g; o; o = Object.getPrototypeOf(o)) {
          const d = Object.getOwnPropertyDescriptor(o, "origin");
          if (d && d.get) {
            Object.defineProperty(o, "origin", {configurable: true, enumerable: d.enumerable,
              get: function () { return unmapOrigin(d.get.call(this)); }, set: d.set});
            break;
          }
        }
        install(g);
      }

      return {rw: rw, unrw: unrw, rwSrcset: rwSrcset, rwCss: rwCss, split: split, build: build,
        origBase: origBase, navTarget: navTarget, mapTarget: mapTarget, mapTargetArg: mapTargetArg,
        unmapOrigin: unmapOrigin, loc: loc, hookCommon: hookCommon, hosts: HOSTS,
        isSessionHost: isSessionHost, sessionOrigin: sessionOrigin};
    },
  });
})(self);
