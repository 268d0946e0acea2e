/* warcache: pin the clock and the random numbers of a replayed page to its capture.
 *
 * Defines self.__warcachePin(time, seed). Date starts at the capture time (milliseconds since
 * the epoch) and advances with the real clock from there, so timers and animations still move;
 * Math.random is a seeded xorshift32 generator, so a page that shuffles or picks at random
 * makes the same choices at every replay. */
(function (global) {
  "use strict";
  if (global.__warcachePin) return;
  Object.defineProperty(global, "__warcachePin", {
    configurable: true,
    value: function pin(time, seed) {
      const RealDate = global.Date;
      const perf = global.performance;
      const started = perf.now();
      const now = function () { return Math.floor(time + (perf.now() - started)); };

      function Date() {
        if (!new.target) return new RealDate(now()).toString();
        const args = Array.prototype.slice.call(arguments);
        return Reflect.construct(RealDate, args.length ? args : [now()], new.target);
      }
      Object.setPrototypeOf(Date, RealDate);
      Date.prototype = RealDate.prototype;
      Date.now = now;
      Object.defineProperty(RealDate.prototype, "constructor", {value: Date, writable: true, configurable: true});
      global.Date = Date;

      let state = (seed >>> 0) || 0x2545f491;
      Math.random = function random() {
        // xorshift32 (Marsaglia, 2003): three shifts per number, period 2^32 - 1.
        state ^= state << 13; state >>>= 0;
        state ^= state >>> 17;
        state ^= state << 5; state >>>= 0;
        return state / 4294967296;
      };
    },
  });
})(self);
