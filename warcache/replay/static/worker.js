/* warcache replay: the shim run at the start of a replayed worker script.
 *
 * A worker has its own globals, so the page's client script does not reach it: this routes the
 * worker's fetch, XMLHttpRequest, importScripts, EventSource and nested workers through the
 * archive, and pins its clock. The server puts self.__warcacheCfg, pin.js and core.js first. */
(function () {
  "use strict";
  const cfg = self.__warcacheCfg;
  if (!cfg) return;
  delete self.__warcacheCfg;
  self.__warcachePin(cfg.time, cfg.seed);
  const core = self.__warcacheCore(cfg, function () { return self.location.href; });
  delete self.__warcachePin;
  delete self.__warcacheCore;
  const rw = core.rw;

  if (self.fetch) {
    const realFetch = self.fetch;
    self.fetch = function fetch(input, init) {
      if (input instanceof Request) {
        const url = rw(input.url, "");
        if (url !== input.url) input = new Request(url, input);
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
})();
