import type { ExecutionContext } from 'ava';
import { SenetError, type SenetErrorCode } from '../../lib/index.js';

/**
 * `bad(fn, code, re)`: fn throws a SenetError with that code whose message
 * matches re (the bad-input tests of every op family).
 */
export function badInput(t: ExecutionContext) {
  return (fn: () => unknown, code: SenetErrorCode, re: RegExp): void => {
    const e = t.throws(fn, { instanceOf: SenetError });
    t.is(e?.code, code);
    t.regex(e?.message ?? '', re);
  };
}
