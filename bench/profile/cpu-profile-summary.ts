import { readFileSync } from 'node:fs';

/** Where one process spent its CPU, from the `.cpuprofile` V8 wrote at its exit (`--cpu-prof`). */
export interface CpuProfileSummary {
  file: string;
  /** Sampled milliseconds, idle excluded. */
  busyMs: number;
  /** Self time per code owner: a package in node_modules, `app` (our code), `node` (internals), `gc`, … */
  byOwner: { owner: string; ms: number; share: number }[];
  /** The functions with the most self time. */
  topFunctions: { fn: string; ms: number; share: number }[];
}

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Who owns a frame: the package its file is in, our own code, or the runtime. */
export function ownerOf(url: string, functionName: string): string {
  if (functionName === '(garbage collector)') return 'gc';
  if (functionName === '(program)') return 'program';
  if (functionName === '(idle)') return 'idle';
  if (!url) return 'native';
  if (url.startsWith('node:')) return 'node';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1] as string;
  if (/\/dist\/(apps|libs)\//.test(url)) return `app:${/\/dist\/((?:apps|libs)\/[^/]+)/.exec(url)?.[1] ?? ''}`;
  return 'other';
}

/** Self time per function and per owner; idle time is left out of every share. */
export function summarizeCpuProfile(file: string, top = 20): CpuProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  profile.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  const byOwner = new Map<string, number>();
  const byFn = new Map<string, number>();
  let busyUs = 0;
  for (const [id, us] of selfUs) {
    const frame = nodes.get(id)?.callFrame;
    if (!frame) continue;
    const owner = ownerOf(frame.url, frame.functionName);
    if (owner === 'idle') continue;
    busyUs += us;
    byOwner.set(owner, (byOwner.get(owner) ?? 0) + us);
    const where = frame.url ? `${frame.url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*\/dist\//, 'dist/')}:${frame.lineNumber + 1}` : '';
    const fn = `${frame.functionName || '(anonymous)'} ${where}`.trim();
    byFn.set(fn, (byFn.get(fn) ?? 0) + us);
  }
  const rank = (m: Map<string, number>) =>
    [...m].sort((a, b) => b[1] - a[1]).map(([k, us]) => ({ k, ms: Math.round(us / 1000), share: Math.round((us / Math.max(1, busyUs)) * 1000) / 10 }));
  return {
    file,
    busyMs: Math.round(busyUs / 1000),
    byOwner: rank(byOwner).slice(0, top).map(({ k, ms, share }) => ({ owner: k, ms, share })),
    topFunctions: rank(byFn).slice(0, top).map(({ k, ms, share }) => ({ fn: k, ms, share })),
  };
}
