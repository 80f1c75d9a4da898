/** Top-k accuracy from logits, and the metrics.jsonl log. */
import { appendFileSync } from 'node:fs';

/** Counts of samples whose label is among the k largest logits, for each k. */
export function topkCorrect(logits: Float32Array, labels: Int32Array, classes: number, ks: number[]): number[] {
  const n = labels.length;
  const correct = ks.map(() => 0);
  for (let i = 0; i < n; i++) {
    const row = i * classes;
    const target = logits[row + labels[i]!]!;
    // rank of the target = number of logits strictly greater (ties count in its favour)
    let greater = 0;
    for (let c = 0; c < classes; c++) if (logits[row + c]! > target) greater++;
    ks.forEach((k, j) => {
      if (greater < k) correct[j]!++;
    });
  }
  return correct;
}

export class MetricsLog {
  constructor(readonly path: string | null) {}
  write(record: Record<string, unknown>): void {
    if (this.path) appendFileSync(this.path, JSON.stringify({ time: new Date().toISOString(), ...record }) + '\n');
  }
}
