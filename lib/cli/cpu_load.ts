/**
 * The machine's CPU time from /proc/stat's first line (Linux), in USER_HZ
 * ticks: what the CLI's spin decision and the benchmarks' "other load"
 * column both read.
 */
import { readFileSync } from 'node:fs';

export interface CpuTimes {
  /** user + nice + system + irq + softirq + steal (guest time is already in user) */
  busy: number;
  /** idle + iowait */
  idle: number;
}

/** The aggregate CPU times now, or null where /proc/stat cannot be read. */
export function cpuTimes(): CpuTimes | null {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    if (f.length < 4 || f.some((v) => !Number.isFinite(v))) return null;
    return { busy: f[0]! + f[1]! + f[2]! + (f[5] ?? 0) + (f[6] ?? 0) + (f[7] ?? 0), idle: f[3]! + (f[4] ?? 0) };
  } catch {
    return null;
  }
}
