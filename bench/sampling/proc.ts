import { readdirSync, readFileSync } from 'node:fs';

/** Clock ticks per second of /proc/<pid>/stat's utime and stime (`getconf CLK_TCK`; 100 on Linux). */
export const CLK_TCK = 100;

export interface ProcStat {
  ppid: number;
  /** utime + stime, in clock ticks. */
  cpuTicks: number;
}

/** Fields of /proc/<pid>/stat; null when the process is gone. */
export function readStat(pid: number): ProcStat | null {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces and parentheses: split after its last ')'.
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    // Fields from 3 on: state(3) ppid(4) ... utime(14) stime(15) → indexes 0, 1, 11, 12 here.
    return { ppid: Number(fields[1]), cpuTicks: Number(fields[11]) + Number(fields[12]) };
  } catch {
    return null;
  }
}

/** VmRSS and VmHWM (peak RSS) in KiB from /proc/<pid>/status; null when the process is gone. */
export function readMemory(pid: number): { rssKb: number; hwmKb: number } | null {
  try {
    const text = readFileSync(`/proc/${pid}/status`, 'utf8');
    const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(text)?.[1] ?? 0);
    return { rssKb: field('VmRSS'), hwmKb: field('VmHWM') };
  } catch {
    return null;
  }
}

export function readCmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').trim();
  } catch {
    return '';
  }
}

export function allPids(): number[] {
  return readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .map(Number);
}

/** The first process whose command line matches `pattern`, or null. */
export function findPid(pattern: RegExp): number | null {
  for (const pid of allPids()) if (pattern.test(readCmdline(pid))) return pid;
  return null;
}

export function childrenOf(parent: number): number[] {
  return allPids().filter((pid) => readStat(pid)?.ppid === parent);
}

/**
 * Busy CPU ticks of the whole machine since boot (every state of /proc/stat's `cpu` line but
 * idle and iowait): the denominator that shows how much of the machine others used.
 */
export function machineBusyTicks(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
  const [, user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).map(Number);
  return (user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0);
}
