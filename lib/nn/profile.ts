/** Static description of a network for an input shape: layer table, parameters, multiply-adds. */
export interface ProfileRow {
  name: string;
  type: string;
  outShape: number[];
  params: number;
  /** multiply-adds of convolutions and fully connected layers (what the SENet paper counts as FLOPs) */
  macs: number;
}
export interface Profile {
  out: number[];
  rows: ProfileRow[];
}

export function totals(rows: ProfileRow[]): { params: number; macs: number } {
  return rows.reduce((a, r) => ({ params: a.params + r.params, macs: a.macs + r.macs }), { params: 0, macs: 0 });
}
