/* warcache: the URL mapping shared by the page client and the worker shim.
 *
 * A replayed resource lives at <replay origin>/<coll>/<ts><mod>/<original URL>. rw() maps any
 * URL a script hands to the browser to that form; unrw() maps it back, so scripts that read
 * URLs see the original ones. Defines self.__warcacheCore(cfg, currentUrl) -> {rw, unrw, ...}. */
(function (global) {
  "use strict";
  if (global.__warcacheCore) return;
  Object.defineProperty(global, "__warcacheCore", {
    configurable: true,
    value: function core(cfg, currentUrl) {
      const ORIGIN = global.location.origin;
      const PREFIX = "/" + cfg.coll + "/";
      const ROUTED = new RegExp("^/" + cfg.coll.replace(/[^A-Za-z0-9_]/g, "\\$&") +
                                "/(\\d{0,14})([a-z]{2,3}_)?/(https?:/.*)$", "i");
      const SCHEME = /^([a-zA-Z][a-zA-Z0-9+.-]*):/;

      function build(ts, mod, url) { return ORIGIN + PREFIX + ts + (mod || "") + "/" + url; }

      // {ts, mod, url} of a replay URL (absolute, or a path on the replay origin), else null.
      function split(href) {
        let path = href;
        if (href.startsWith(ORIGIN + "/")) path = href.slice(ORIGIN.length);
        else if (!href.startsWith("/")) return null;
        const m = ROUTED.exec(path);
        return m ? {ts: m[1], mod: m[2] || "", url: m[3].replace(/^(https?:)\/(?!\/)/i, "$1//")} : null;
      }

      function unrw(value) {
        if (typeof value !== "string") return value;
        const parts = split(value);
        return parts ? parts.url : value;
      }

      function origBase() { return unrw(currentUrl()); }

      function rw(value, mod) {
        if (value === null || value === undefined) return value;
        const text = String(value).trim();
        if (!text || text[0] === "#") return value;
        const scheme = SCHEME.exec(text);
        if (scheme && !/^https?$/i.test(scheme[1])) return value;
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

      return {rw: rw, unrw: unrw, rwSrcset: rwSrcset, rwCss: rwCss, split: split, build: build, origBase: origBase};
    },
  });
})(self);
