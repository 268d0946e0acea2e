/* warcache replay: the shim run at the start of a replayed worker script.
 *
 * A worker has its own globals, so the page's client script does not reach it: this routes the
 * worker's fetch, XMLHttpRequest, importScripts, EventSource and nested workers through the
 * archive, gives back original URLs (self.origin, Request.url, ...; location through the
 * rewritten script, see jsrewrite.py), and pins its clock. In a service worker (session hosts
 * only), a page the worker makes up itself gets the replay's Content-Security-Policy, which
 * the responses of the server carry but a `new Response(...)` would not. The server puts
 * self.__warcacheCfg, pin.js and core.js first. */
(function () {
  "use strict";
  const cfg = self.__warcacheCfg;
  if (!cfg || self.__warcacheWorker) return;
  Object.defineProperty(self, "__warcacheWorker", {value: true});
  delete self.__warcacheCfg;
  self.__warcachePin(cfg.time, cfg.seed);
  const core = self.__warcacheCore(cfg, function () { return self.location.href; });
  delete self.__warcachePin;
  delete self.__warcacheCore;
  const rw = core.rw;
  const requestUrl = Object.getOwnPropertyDescriptor(Request.prototype, "url").get;  // before hookCommon

  if (self.fetch) {
    const realFetch = self.fetch;
    self.fetch = function fetch(input, init) {
      if (input instanceof Request) {
        const real = requestUrl.call(input);
        const url = rw(real, "");
        if (url !== real) input = new Request(url, input);
      } else {
        input = rw(input, "");
      }
      return realFetch.call(this, input, init);
    };
  }
  if (self.XMLHttpRequest) {
    const open = XMLHttpRequest.prototype.open;
    XMLHttpRequest.prototype.open = function (method, url) {
      const args = Array.prototype.slice.call(arguments);
      args[1] = rw(url, "");
      return open.apply(this, args);
    };
  }
  if (self.importScripts) {
    const load = self.importScripts;
    self.importScripts = function importScripts() {
      return load.apply(self, Array.prototype.map.call(arguments, function (u) { return rw(u, "js_"); }));
    };
  }
  ["EventSource", "Worker"].forEach(function (name) {
    const C = self[name];
    if (!C) return;
    self[name] = new Proxy(C, {
      construct: function (target, args, newTarget) {
        if (args.length) args[0] = rw(args[0], name === "Worker" ? "wk_" : "");
        return Reflect.construct(target, args, newTarget);
      },
    });
  });
  if (self.FetchEvent && cfg.csp) {
    const respondWith = FetchEvent.prototype.respondWith;
    const withPolicy = function (response) {
      if (!(response instanceof Response) || response.type === "opaqueredirect" || response.type === "error" ||
          response.headers.has("Content-Security-Policy")) return response;
      const headers = new Headers(response.headers);
      headers.set("Content-Security-Policy", cfg.csp);
      return new Response(response.body, {status: response.status, statusText: response.statusText, headers: headers});
    };
    FetchEvent.prototype.respondWith = function (answer) {
      const request = this.request;
      if (request.mode === "navigate" || request.destination === "document" || request.destination === "iframe") {
        answer = Promise.resolve(answer).then(withPolicy);
      }
      return respondWith.call(this, answer);
    };
  }
  core.hookCommon(self);
})();
