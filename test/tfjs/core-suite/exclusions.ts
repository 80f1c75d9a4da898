/**
 * Specs of the tfjs-core suite not run against the senet backend, each
 * with its reason. A spec is excluded when its full name contains `match`.
 */
export interface Exclusion {
  match: string;
  reason: string;
}

export const EXCLUSIONS: Exclusion[] = [];
