import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '..');
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');

/**
 * Code blocks the README introduces with `<!-- file: path -->` are copies of files the test suite
 * runs (the packed module's host app, the webhook receiver): each must appear in its file as is,
 * so what a reader copies is what was tested.
 */
const blocks = [...README.matchAll(/<!-- file: (\S+) -->\n```\w*\n([\s\S]*?)\n```/g)].map(([, path, code]) => ({ path: path!, code: code! }));

describe('README code blocks', () => {
  it('shows the tested files (at least the host module, service, main and the webhook receiver)', () => {
    expect(blocks.map((b) => b.path)).toEqual(
      expect.arrayContaining([
        'test/package-host/src/app.module.ts',
        'test/package-host/src/orders.service.ts',
        'test/package-host/src/main.ts',
        'test/package-host/src/webhook-receiver.ts',
      ]),
    );
  });

  it.each(blocks)('$path is shown as it is', ({ path, code }) => {
    expect(readFileSync(join(ROOT, path), 'utf8')).toContain(code);
  });
});
