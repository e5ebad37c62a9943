// Builds packages/nestjs from libs/: tsc (it emits the decorator metadata Nest's DI needs, which
// esbuild cannot), then rewrites the `@app/<lib>` path aliases into relative imports, since a
// published package cannot rely on this repository's tsconfig paths. With `--pack <dir>` it also
// runs `npm pack` into <dir> and prints the tarball's path.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const pkg = join(root, 'packages/nestjs');
const dist = join(pkg, 'dist');

rmSync(dist, { recursive: true, force: true });
execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(pkg, 'tsconfig.build.json')], { stdio: 'inherit' });

const ALIAS = /(from\s+|import\s*\(\s*|import\s+)(['"])@app\/([a-z-]+)\2/g;
function rewrite(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const file = join(dir, entry.name);
    if (entry.isDirectory()) rewrite(file);
    else if (/\.(js|d\.ts)$/.test(entry.name)) {
      const source = readFileSync(file, 'utf8');
      const output = source.replace(ALIAS, (_, keyword, quote, lib) => {
        let target = relative(dirname(file), join(dist, lib, 'src/index.js')).replaceAll('\\', '/');
        if (!target.startsWith('.')) target = `./${target}`;
        return `${keyword}${quote}${target}${quote}`;
      });
      if (/@app\//.test(output.replace(/\/\/.*|\/\*[\s\S]*?\*\//g, ''))) throw new Error(`${file}: an @app/ import is left`);
      if (output !== source) writeFileSync(file, output);
    }
  }
}
rewrite(dist);

const packIndex = process.argv.indexOf('--pack');
if (packIndex !== -1) {
  const destination = resolve(process.argv[packIndex + 1] ?? join(root, 'packages/out'));
  mkdirSync(destination, { recursive: true });
  const out = execFileSync('npm', ['pack', '--json', '--pack-destination', destination], { cwd: pkg, encoding: 'utf8' });
  const [{ filename }] = JSON.parse(out);
  console.log(join(destination, filename));
}
