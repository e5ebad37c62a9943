import type { DiscoveryService, MetadataScanner } from '@nestjs/core';

/** A method of one of the app's provider instances, as decorator-driven hooks find it. */
export interface ProviderMethod {
  /** `Class.method`, for logs. */
  name: string;
  instance: object;
  fn: (...args: unknown[]) => unknown;
}

/**
 * Every method of every provider instance the app has, each instance once: where the module's
 * handler decorators (`@OnEmailEvent()`, `@OnUnsubscribe()`) are looked for at start-up.
 */
export function providerMethods(discovery: DiscoveryService, scanner: MetadataScanner): ProviderMethod[] {
  const found: ProviderMethod[] = [];
  const seen = new Set<object>();
  for (const wrapper of discovery.getProviders()) {
    const instance: unknown = wrapper.instance;
    // Request-scoped providers have no single instance to call; their handlers cannot be used.
    if (!instance || typeof instance !== 'object' || !wrapper.isDependencyTreeStatic()) continue;
    // One instance reached twice (a `useExisting` alias, a provider exported under two tokens)
    // must not have its handlers called twice per event.
    if (wrapper.isAlias || seen.has(instance)) continue;
    seen.add(instance);
    const prototype = Object.getPrototypeOf(instance) as object;
    for (const method of scanner.getAllMethodNames(prototype)) {
      const fn = (instance as Record<string, unknown>)[method];
      if (typeof fn !== 'function') continue;
      found.push({ name: `${instance.constructor.name}.${method}`, instance, fn: fn as ProviderMethod['fn'] });
    }
  }
  return found;
}
