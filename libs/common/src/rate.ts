/** A rate: at most `points` events per `durationSeconds`. */
export interface Rate {
  points: number;
  durationSeconds: number;
}

const UNIT_SECONDS = { s: 1, m: 60, h: 3_600 } as const;

/**
 * Parses `<count>/<unit>`, unit `s`, `m` or `h` (`100/s`, `600/m`, `5000/h`). Whole seconds
 * only: the counters live in Redis keys that expire after the window (`EX`). Throws an `Error`
 * saying what is wrong, for config validation. Shared by the mailer's send rates
 * (`RATE_LIMIT_GLOBAL`, …) and both apps' per-API-key rate (`API_RATE_LIMIT`).
 */
export function parseRate(text: string): Rate {
  const match = /^\s*(\d{1,9})\s*\/\s*([smh])\s*$/.exec(text);
  const points = Number(match?.[1]);
  if (!match || !(points >= 1)) throw new Error(`"${text}" is not a rate like 100/s, 600/m or 5000/h (count ≥ 1, unit s, m or h)`);
  return { points, durationSeconds: UNIT_SECONDS[match[2] as keyof typeof UNIT_SECONDS] };
}
