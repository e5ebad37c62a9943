import { describe, expect, it } from 'vitest';
import { CompiledTemplateCache } from './compiled-template-cache.js';
import type { CompiledTemplate } from './template-renderer.js';

const compiled = (name: string, version: number): CompiledTemplate => ({ name, version, render: async () => ({ subject: name, text: '' }) });

describe('CompiledTemplateCache', () => {
  it('compiles a version once, also for calls that arrive while it compiles', async () => {
    const cache = new CompiledTemplateCache();
    let compilations = 0;
    const compile = async () => {
      compilations++;
      return compiled('a', 1);
    };
    const [first, second] = await Promise.all([cache.get('a', 1, compile), cache.get('a', 1, compile)]);
    expect(await cache.get('a', 1, compile)).toBe(first);
    expect(second).toBe(first);
    expect(compilations).toBe(1);
    await cache.get('a', 2, compile);
    expect(compilations).toBe(2);
  });

  it('does not keep a failed compilation', async () => {
    const cache = new CompiledTemplateCache();
    await expect(cache.get('a', 1, () => Promise.reject(new Error('not found')))).rejects.toThrow('not found');
    await expect(cache.get('a', 1, async () => compiled('a', 1))).resolves.toMatchObject({ name: 'a', version: 1 });
  });

  it('evicts the least recently used version past its capacity', async () => {
    const cache = new CompiledTemplateCache(2);
    const counts = new Map<string, number>();
    const get = (name: string) =>
      cache.get(name, 1, async () => {
        counts.set(name, (counts.get(name) ?? 0) + 1);
        return compiled(name, 1);
      });
    await get('a');
    await get('b');
    await get('a'); // `a` is now the most recently used
    await get('c'); // evicts `b`
    await get('a');
    await get('b');
    expect(Object.fromEntries(counts)).toEqual({ a: 1, b: 2, c: 1 });
  });
});
