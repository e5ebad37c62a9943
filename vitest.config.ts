import { fileURLToPath } from 'node:url';
import swc from 'unplugin-swc';
import { defineConfig } from 'vitest/config';

const lib = (name: string): string => fileURLToPath(new URL(`./libs/${name}/src/index.ts`, import.meta.url));

const alias = Object.fromEntries(
  ['contracts', 'common', 'kafka', 'outbox', 'inbox', 'email', 'health', 'retention', 'testing', 'webhooks', 'queue', 'auth', 'edge'].map((name) => [`@app/${name}`, lib(name)]),
);

export default defineConfig({
  // SWC compiles Nest's decorators with their metadata, which esbuild cannot emit.
  plugins: [swc.vite({ module: { type: 'es6' } })],
  resolve: { alias },
  test: {
    reporters: ['default'],
    projects: [
      {
        extends: true,
        test: { name: 'unit', include: ['apps/**/*.spec.ts', 'libs/**/*.spec.ts', 'test/readme.spec.ts'], exclude: ['**/*.int.spec.ts'] },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['libs/**/*.int.spec.ts', 'apps/**/*.int.spec.ts'],
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
      {
        extends: true,
        test: {
          name: 'e2e',
          include: ['test/**/*.e2e.spec.ts'],
          exclude: ['test/faults.e2e.spec.ts'],
          testTimeout: 180_000,
          hookTimeout: 120_000,
          fileParallelism: false,
        },
      },
      {
        extends: true,
        test: {
          name: 'faults',
          include: ['test/faults.e2e.spec.ts'],
          testTimeout: 300_000,
          hookTimeout: 120_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
