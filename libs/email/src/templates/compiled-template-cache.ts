import type { CompiledTemplate } from './template-renderer.js';

/**
 * Compiled templates by (name, version), least recently used evicted past `capacity`. A version
 * never changes once created, so an entry never goes stale; the bound only caps memory.
 * In-flight compilations are shared, so a burst of sends compiles a new version once.
 */
export class CompiledTemplateCache {
  private readonly entries = new Map<string, Promise<CompiledTemplate>>();

  constructor(private readonly capacity = 500) {}

  get(name: string, version: number, compile: () => Promise<CompiledTemplate>): Promise<CompiledTemplate> {
    const key = `${version}:${name}`;
    const cached = this.entries.get(key);
    if (cached) {
      // Map keeps insertion order: re-inserting marks the entry as the most recently used.
      this.entries.delete(key);
      this.entries.set(key, cached);
      return cached;
    }
    const compiled = compile();
    this.entries.set(key, compiled);
    // A failed compilation is not kept: the next call tries again.
    compiled.catch(() => {
      if (this.entries.get(key) === compiled) this.entries.delete(key);
    });
    if (this.entries.size > this.capacity) this.entries.delete(this.entries.keys().next().value as string);
    return compiled;
  }

}
