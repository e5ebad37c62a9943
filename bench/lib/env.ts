/**
 * The environment of the processes the bench starts: only PATH from ours plus what each one is
 * given, so a developer's shell settings (a DATABASE_URL, NODE_OPTIONS) do not leak into a run.
 * The bench is a launcher, like `test/stack.ts`; this is the one place it reads the environment.
 */
export function childEnv(extra: Record<string, string>): Record<string, string> {
  // eslint-disable-next-line no-restricted-properties -- a launcher passes PATH on to its children
  const path = process.env.PATH ?? '';
  return { PATH: path, NO_COLOR: '1', ...extra };
}
