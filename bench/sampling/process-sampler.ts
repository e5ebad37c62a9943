import { nowMs } from '../lib/clock.js';
import { CLK_TCK, childrenOf, findPid, machineBusyTicks, readCmdline, readMemory, readStat } from './proc.js';

/** Resolves a named group (an app, a server) to its current process ids. */
export type PidResolver = () => number[];

export interface GroupUsage {
  cpuSeconds: number;
  /** Largest VmHWM (peak RSS) of the group's processes, MiB; for apps this is the process's lifetime peak. */
  peakRssMb: number;
  pids: number;
}

/** The pseudo-group with the whole machine's busy CPU; `others` in a window is it minus every group. */
export const MACHINE = 'machine';

export interface RssPoint {
  t: number;
  rssMb: Record<string, number>;
}

/**
 * CPU and memory of groups of processes, from /proc: every second it reads utime+stime of each
 * process in each group. A window's CPU per process is its last reading minus its reading when
 * the window began (0 for a process born inside the window), so a process that exits inside a
 * window loses at most its last second.
 */
export class ProcessSampler {
  private readonly groups = new Map<string, PidResolver>();
  private timer?: NodeJS.Timeout;
  private readonly windows = new Set<UsageWindow>();
  readonly rssSeries: RssPoint[] = [];

  add(name: string, resolve: PidResolver): void {
    this.groups.set(name, resolve);
  }

  remove(name: string): void {
    this.groups.delete(name);
  }

  start(): void {
    this.timer = setInterval(() => this.sample(), 1_000);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Starts measuring; `end()` on the result gives the usage since now. */
  begin(): UsageWindow {
    const window = new UsageWindow(this.read(), () => this.windows.delete(window), () => this.read());
    this.windows.add(window);
    return window;
  }

  private read(): Map<string, Map<number, number>> {
    const reading = new Map<string, Map<number, number>>();
    for (const [name, resolve] of this.groups) {
      const perPid = new Map<number, number>();
      for (const pid of resolve()) {
        const stat = readStat(pid);
        if (stat) perPid.set(pid, stat.cpuTicks);
      }
      reading.set(name, perPid);
    }
    reading.set(MACHINE, new Map([[0, machineBusyTicks()]]));
    return reading;
  }

  private sample(): void {
    const reading = this.read();
    for (const window of this.windows) window.observe(reading);
    const rssMb: Record<string, number> = {};
    for (const [name, pids] of reading) {
      if (name === MACHINE) continue;
      let kb = 0;
      for (const pid of pids.keys()) kb += readMemory(pid)?.rssKb ?? 0;
      rssMb[name] = Math.round(kb / 102.4) / 10;
    }
    this.rssSeries.push({ t: nowMs(), rssMb });
  }
}

export class UsageWindow {
  private readonly last = new Map<string, Map<number, number>>();

  constructor(
    private readonly first: Map<string, Map<number, number>>,
    private readonly close: () => void,
    private readonly read: () => Map<string, Map<number, number>>,
  ) {
    this.observe(first);
  }

  observe(reading: Map<string, Map<number, number>>): void {
    for (const [name, pids] of reading) {
      const last = this.last.get(name) ?? new Map<number, number>();
      for (const [pid, ticks] of pids) last.set(pid, ticks);
      this.last.set(name, last);
    }
  }

  end(): Record<string, GroupUsage> {
    this.observe(this.read());
    this.close();
    const usage: Record<string, GroupUsage> = {};
    for (const [name, last] of this.last) {
      const first = this.first.get(name) ?? new Map<number, number>();
      let ticks = 0;
      let hwmKb = 0;
      for (const [pid, value] of last) {
        ticks += value - (first.get(pid) ?? 0);
        hwmKb = Math.max(hwmKb, readMemory(pid)?.hwmKb ?? 0);
      }
      usage[name] = { cpuSeconds: ticks / CLK_TCK, peakRssMb: Math.round(hwmKb / 102.4) / 10, pids: last.size };
    }
    // What the machine did besides the sampled groups (another test run, the desktop, ...).
    const machine = usage[MACHINE];
    if (machine) {
      const ours = Object.entries(usage).reduce((sum, [name, u]) => (name === MACHINE ? sum : sum + u.cpuSeconds), 0);
      usage.others = { cpuSeconds: Math.max(0, machine.cpuSeconds - ours), peakRssMb: 0, pids: 0 };
    }
    return usage;
  }
}

/** The machine's shared servers, found by command line. */
export const serverResolvers = {
  kafka: (): PidResolver => {
    const pid = findPid(/java .*kafka\.Kafka/);
    return () => (pid === null ? [] : [pid]);
  },
  redis: (): PidResolver => {
    const pid = findPid(/^redis-server/);
    return () => (pid === null ? [] : [pid]);
  },
  /**
   * PostgreSQL backends connected to `databases` (a backend's process title names its database);
   * backends of other databases (other users of this server) are left out.
   */
  postgres: (databases: () => string[]): PidResolver => {
    const postmaster = findPid(/^\/usr\/lib\/postgresql\/.*\/postgres -D/);
    return () => {
      if (postmaster === null) return [];
      const names = databases();
      return childrenOf(postmaster).filter((pid) => {
        const title = readCmdline(pid);
        return names.some((db) => title.includes(` ${db} `));
      });
    };
  },
  /** PostgreSQL's own processes (WAL writer, checkpointer, ...): shared by every database of the server. */
  postgresAux: (): PidResolver => {
    const postmaster = findPid(/^\/usr\/lib\/postgresql\/.*\/postgres -D/);
    const aux = /: (checkpointer|background writer|walwriter|autovacuum|logical replication launcher)/;
    return () => (postmaster === null ? [] : [postmaster, ...childrenOf(postmaster).filter((pid) => aux.test(readCmdline(pid)))]);
  },
};
