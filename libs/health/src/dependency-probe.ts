import type { Provider, Type } from '@nestjs/common';

/**
 * One dependency an app needs to do its work (database, broker, Redis, SMTP). `probe()` resolves
 * (optionally with counts, e.g. `{ consumers: 2 }`) when the dependency is usable and throws,
 * saying why, when it is not. Probes are run with a timeout, so a probe may simply wait on the
 * dependency. The health endpoints show only the state and the numeric details; the reason a
 * probe threw goes to the log, redacted (`HealthController`).
 */
export interface DependencyProbe {
  /** The key under which the dependency is reported, e.g. `database`. */
  readonly name: string;
  probe(): Promise<Record<string, unknown> | void>;
}

/** The app's probes, as an array (see {@link dependencyProbes}). */
export const DEPENDENCY_PROBES = Symbol('DEPENDENCY_PROBES');

/**
 * Providers for an app's probes and the {@link DEPENDENCY_PROBES} array that `HealthController`
 * reads. Register them in the module that declares `HealthController` (and imports
 * `TerminusModule`), where the probes' own dependencies are visible.
 */
export function dependencyProbes(probes: Type<DependencyProbe>[]): Provider[] {
  return [...probes, { provide: DEPENDENCY_PROBES, useFactory: (...found: DependencyProbe[]) => found, inject: probes }];
}
