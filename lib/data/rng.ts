/**
 * Rng: xoshiro128** (Blackman & Vigna) with its 128-bit state seeded by
 * splitmix32, and deriveSeed, a murmur3-style hash of integers used to key
 * randomness by (seed, epoch, position). Both are pure JS, stable across
 * platforms and versions, and the generator state serialises to a string.
 */
import { fail, describe } from '../errors.js';

const TWO32 = 4294967296;
const PREFIX = 'xoshiro128**:';

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h;
}

function mixWord(h: number, k: number): number {
  k = Math.imul(k, 0xcc9e2d51);
  k = rotl(k, 15);
  k = Math.imul(k, 0x1b873593);
  h ^= k;
  h = rotl(h, 13);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

/** the k-th output of splitmix32 started at state x */
function splitmix32(x: number, k: number): number {
  let z = (x + Math.imul(0x9e3779b9, k)) | 0;
  z = Math.imul(z ^ (z >>> 16), 0x21f0aaad);
  z = Math.imul(z ^ (z >>> 15), 0x735a2d97);
  return z ^ (z >>> 15);
}

function checkSeedInt(op: string, arg: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) fail('SENET_ARG', op, arg, 'a safe integer', describe(v));
  return v;
}

/** low and high 32-bit words of a safe integer (two's complement for negatives) */
function words(v: number): [number, number] {
  return [v >>> 0, Math.floor(v / TWO32) >>> 0];
}

/**
 * A stable 32-bit hash of a list of integers (a non-negative integer < 2^32),
 * e.g. deriveSeed(seed, epoch, position). Different argument counts give
 * unrelated values, so deriveSeed(a, b) and deriveSeed(a, b, 0) differ.
 */
export function deriveSeed(...parts: number[]): number {
  let h = 0x2545f491 ^ parts.length;
  for (let i = 0; i < parts.length; i++) {
    const [lo, hi] = words(checkSeedInt('deriveSeed', `parts[${i}]`, parts[i]));
    h = mixWord(h, lo);
    h = mixWord(h, hi);
  }
  return fmix32(h ^ (parts.length * 8)) >>> 0;
}

export class Rng {
  private s0 = 0;
  private s1 = 0;
  private s2 = 0;
  private s3 = 0;

  /** seed: any safe integer (e.g. from deriveSeed) */
  constructor(seed: number) {
    const [lo, hi] = words(checkSeedInt('Rng', 'seed', seed));
    // splitmix32 over a state that depends on both words of the seed
    const x = (lo ^ Math.imul(hi, 0x9e3779b1) ^ (hi >>> 7)) | 0;
    this.s0 = splitmix32(x, 1);
    this.s1 = splitmix32(x, 2);
    this.s2 = splitmix32(x, 3);
    this.s3 = splitmix32(x, 4);
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
  }

  /** next 32 random bits as an unsigned integer */
  uint32(): number {
    const s1 = this.s1;
    const r = Math.imul(rotl(Math.imul(s1, 5), 7), 9) >>> 0;
    const t = s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= s1;
    this.s1 = s1 ^ this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return r;
  }

  /** uniform in [0, 1) with 53 random bits */
  next(): number {
    const a = this.uint32() >>> 5; // 27 bits
    const b = this.uint32() >>> 6; // 26 bits
    return (a * 67108864 + b) / 9007199254740992;
  }

  /** uniform in [lo, hi) */
  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }

  /** uniform integer in [0, n), unbiased; n an integer in [1, 2^32] */
  int(n: number): number {
    if (!(n >= 1 && n <= TWO32 && Number.isInteger(n))) fail('SENET_ARG', 'Rng.int', 'n', 'an integer in [1, 2^32]', describe(n));
    if ((n & (n - 1)) === 0 && n <= 0x40000000) return this.uint32() & (n - 1);
    const limit = TWO32 - (TWO32 % n);
    let x = this.uint32();
    while (x >= limit) x = this.uint32();
    return x % n;
  }

  /** standard normal (Box-Muller; one draw per call, no cached spare, so state() is the whole state) */
  normal(): number {
    const u = 1 - this.next(); // (0, 1]
    const v = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  /** In-place Fisher-Yates shuffle. */
  shuffle<T extends { length: number; [i: number]: number }>(a: T): T {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = a[i];
      a[i] = a[j];
      a[j] = t;
    }
    return a;
  }

  /** The whole generator state as a string, e.g. for checkpoints; Rng.from(state) resumes it. */
  state(): string {
    const h = (v: number) => (v >>> 0).toString(16).padStart(8, '0');
    return PREFIX + h(this.s0) + h(this.s1) + h(this.s2) + h(this.s3);
  }

  static from(state: string): Rng {
    if (typeof state !== 'string' || !/^xoshiro128\*\*:[0-9a-f]{32}$/.test(state) || /^xoshiro128\*\*:0{32}$/.test(state))
      fail('SENET_ARG', 'Rng.from', 'state', `a string from Rng.state() ('${PREFIX}' and 32 hex digits, not all zero)`, describe(state));
    const r = new Rng(0);
    const hex = state.slice(PREFIX.length);
    r.s0 = parseInt(hex.slice(0, 8), 16) | 0;
    r.s1 = parseInt(hex.slice(8, 16), 16) | 0;
    r.s2 = parseInt(hex.slice(16, 24), 16) | 0;
    r.s3 = parseInt(hex.slice(24, 32), 16) | 0;
    return r;
  }
}
