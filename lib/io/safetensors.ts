/**
 * safetensors (https://github.com/huggingface/safetensors) read and write:
 * 8-byte little-endian header length, a JSON header
 * {name: {dtype, shape, data_offsets: [begin, end]}, __metadata__: {...}},
 * then the raw little-endian data. Every malformed file gives a SENET_IO
 * error naming the file and the byte offset.
 */
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync, unlinkSync } from 'node:fs';
import { dirname, basename, join } from 'node:path';
import { SenetError } from '../errors.js';
import { Tensor, tensor, type Device } from '../tensor.js';

export type SafeDType = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';
const ITEM: Record<SafeDType, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 };

export interface SafeEntry {
  dtype: SafeDType;
  shape: number[];
  /** raw bytes (a view into the file buffer) */
  bytes: Uint8Array;
}

export interface SafeFile {
  tensors: Map<string, SafeEntry>;
  metadata: Record<string, string>;
}

function ioError(file: string, offset: number, what: string): never {
  throw new SenetError('SENET_IO', `safetensors: ${file} at byte ${offset}: ${what}`);
}

export function parseSafetensors(buf: Uint8Array, file = '<buffer>'): SafeFile {
  if (buf.byteLength < 8) ioError(file, 0, `expected an 8-byte header length, got a ${buf.byteLength}-byte file`);
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const n = Number(dv.getBigUint64(0, true));
  if (n < 2 || 8 + n > buf.byteLength)
    ioError(file, 0, `header length ${n} does not fit in the ${buf.byteLength}-byte file (truncated or not safetensors)`);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(buf.subarray(8, 8 + n)));
  } catch (e) {
    ioError(file, 8, `the JSON header does not parse (${(e as Error).message})`);
  }
  if (!header || typeof header !== 'object' || Array.isArray(header)) ioError(file, 8, 'the header is not a JSON object');
  const dataStart = 8 + n;
  const dataLen = buf.byteLength - dataStart;
  const tensors = new Map<string, SafeEntry>();
  let metadata: Record<string, string> = {};
  for (const [name, v] of Object.entries(header)) {
    if (name === '__metadata__') {
      metadata = (v ?? {}) as Record<string, string>;
      continue;
    }
    const e = v as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof e?.dtype !== 'string' || !(e.dtype in ITEM)) ioError(file, 8, `tensor '${name}' has unknown dtype ${JSON.stringify(e?.dtype)}`);
    if (!Array.isArray(e.shape) || !e.shape.every((d) => Number.isInteger(d) && d >= 0))
      ioError(file, 8, `tensor '${name}' has a bad shape ${JSON.stringify(e.shape)}`);
    const off = e.data_offsets;
    if (!Array.isArray(off) || off.length !== 2 || !off.every((d) => Number.isInteger(d) && d >= 0) || off[1] < off[0])
      ioError(file, 8, `tensor '${name}' has bad data_offsets ${JSON.stringify(off)}`);
    const [b, end] = off as [number, number];
    const dtype = e.dtype as SafeDType;
    const count = (e.shape as number[]).reduce((a, d) => a * d, 1);
    if ((end - b) !== count * ITEM[dtype])
      ioError(file, dataStart + b, `tensor '${name}' ${dtype}[${e.shape}] needs ${count * ITEM[dtype]} bytes, its offsets give ${end - b}`);
    if (end > dataLen)
      ioError(file, dataStart + b, `tensor '${name}' ends at data byte ${end} but the file has ${dataLen} data bytes (truncated)`);
    tensors.set(name, { dtype, shape: e.shape as number[], bytes: buf.subarray(dataStart + b, dataStart + end) });
  }
  return { tensors, metadata };
}

export function readSafetensors(path: string): SafeFile {
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch (e) {
    throw new SenetError('SENET_IO', `safetensors: cannot read ${path}: ${(e as Error).message}`);
  }
  return parseSafetensors(buf, path);
}

function f16ToF32(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/** The entry as float32 (F32 copied; F64, F16, BF16 and integers converted). */
export function entryToFloat32(e: SafeEntry): Float32Array {
  const b = e.bytes;
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const n = b.byteLength / ITEM[e.dtype];
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    switch (e.dtype) {
      case 'F32': out[i] = dv.getFloat32(i * 4, true); break;
      case 'F64': out[i] = dv.getFloat64(i * 8, true); break;
      case 'F16': out[i] = f16ToF32(dv.getUint16(i * 2, true)); break;
      case 'BF16': {
        const tmp = new DataView(new ArrayBuffer(4));
        tmp.setUint32(0, dv.getUint16(i * 2, true) << 16, true);
        out[i] = tmp.getFloat32(0, true);
        break;
      }
      case 'I64': out[i] = Number(dv.getBigInt64(i * 8, true)); break;
      case 'I32': out[i] = dv.getInt32(i * 4, true); break;
      case 'I16': out[i] = dv.getInt16(i * 2, true); break;
      case 'I8': out[i] = dv.getInt8(i); break;
      case 'U8': case 'BOOL': out[i] = dv.getUint8(i); break;
    }
  }
  return out;
}

/** The entry as int32 (I32, or I64/I16/I8/U8 within int32 range). */
export function entryToInt32(e: SafeEntry, name = '<tensor>'): Int32Array {
  const b = e.bytes;
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const n = b.byteLength / ITEM[e.dtype];
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let v: number;
    switch (e.dtype) {
      case 'I32': v = dv.getInt32(i * 4, true); break;
      case 'I64': v = Number(dv.getBigInt64(i * 8, true)); break;
      case 'I16': v = dv.getInt16(i * 2, true); break;
      case 'I8': v = dv.getInt8(i); break;
      case 'U8': case 'BOOL': v = dv.getUint8(i); break;
      default: throw new SenetError('SENET_DTYPE', `safetensors: expected an integer dtype for '${name}', got ${e.dtype}`);
    }
    if (v > 2147483647 || v < -2147483648) throw new SenetError('SENET_IO', `safetensors: '${name}'[${i}] = ${v} does not fit in int32`);
    out[i] = v;
  }
  return out;
}

export interface SafeInput {
  dtype: SafeDType;
  shape: readonly number[];
  data: ArrayBufferView;
}

export function serializeSafetensors(tensors: Map<string, SafeInput> | Record<string, SafeInput>, metadata: Record<string, string> = {}): Uint8Array {
  const entries = tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors);
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) header['__metadata__'] = metadata;
  let off = 0;
  for (const [name, t] of entries) {
    const count = t.shape.reduce((a, d) => a * d, 1);
    const bytes = count * ITEM[t.dtype];
    if (t.data.byteLength !== bytes)
      throw new SenetError('SENET_SHAPE', `safetensors: expected ${bytes} bytes for '${name}' ${t.dtype}[${t.shape}], got ${t.data.byteLength}`);
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [off, off + bytes] };
    off += bytes;
  }
  let json = JSON.stringify(header);
  while ((8 + Buffer.byteLength(json)) % 8 !== 0) json += ' ';
  const hbytes = Buffer.from(json, 'utf8');
  const out = new Uint8Array(8 + hbytes.length + off);
  new DataView(out.buffer).setBigUint64(0, BigInt(hbytes.length), true);
  out.set(hbytes, 8);
  let p = 8 + hbytes.length;
  for (const [, t] of entries) {
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), p);
    p += t.data.byteLength;
  }
  return out;
}

/** Writes a file atomically: a temporary file in the same folder, fsync, rename. */
export function writeFileAtomic(path: string, data: Uint8Array | string): void {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${Date.now()}.tmp`);
  const fd = openSync(tmp, 'w');
  try {
    const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    let done = 0;
    while (done < buf.byteLength) done += writeSync(fd, buf, done, buf.byteLength - done);
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    try { unlinkSync(tmp); } catch { /* already gone */ }
    throw new SenetError('SENET_IO', `cannot write ${path}: ${(e as Error).message}`);
  }
  closeSync(fd);
  renameSync(tmp, path);
  try {
    const dfd = openSync(dirname(path), 'r');
    fsyncSync(dfd);
    closeSync(dfd);
  } catch {
    // directories cannot be fsynced on every platform
  }
}

const TO_SAFE: Record<string, SafeDType> = { float32: 'F32', int32: 'I32', uint8: 'U8', bfloat16: 'BF16' };

/** Saves tensors (read back from the device) as safetensors, atomically. */
export function saveTensors(path: string, tensors: Map<string, Tensor>, metadata: Record<string, string> = {}): void {
  const m = new Map<string, SafeInput>();
  for (const [k, t] of tensors) m.set(k, { dtype: TO_SAFE[t.dtype]!, shape: t.shape, data: t.toArraySync() });
  writeFileAtomic(path, serializeSafetensors(m, metadata));
}

/** Loads every tensor of a file: floating types as float32, integer types as int32. */
export function loadTensors(path: string, device: Device = 'cpu'): { tensors: Map<string, Tensor>; metadata: Record<string, string> } {
  const f = readSafetensors(path);
  const out = new Map<string, Tensor>();
  for (const [k, e] of f.tensors) {
    const isFloat = e.dtype === 'F32' || e.dtype === 'F64' || e.dtype === 'F16' || e.dtype === 'BF16';
    out.set(k, isFloat ? tensor(entryToFloat32(e), e.shape, { device }) : tensor(entryToInt32(e, k), e.shape, { dtype: 'int32', device }));
  }
  return { tensors: out, metadata: f.metadata };
}
