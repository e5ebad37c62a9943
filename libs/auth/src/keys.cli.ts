#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { DataSource } from 'typeorm';
import { z } from 'zod';
import { toFieldErrors } from '@app/common';
import { ApiKeysRepository } from './api-keys.repository.js';
import { apiKeyView, issueApiKey, newApiKeySchema } from './api-keys.service.js';
import { SCOPES } from './scopes.js';

const APPS = { business: 'BUSINESS_DATABASE_URL', mailer: 'MAILER_DATABASE_URL' } as const;
type App = keyof typeof APPS;

const USAGE = `usage: npm run keys -- <command> --app business|mailer [options]

  create --name <name> --scopes <scope,…> [--sender-domains <domain,…>] [--json]
      Creates a key and prints it once (only its SHA-256 is stored).
  list [--json]
      Lists the keys (never a key or its hash).
  revoke <id>
      Revokes a key: every instance refuses it within 5 s (each trusts a key it checked for up to 5 s).

The database is the app's own, read from ${APPS.business} or ${APPS.mailer} as the app
reads it (or --database-url). The app must have started once (it creates the api_keys table).
Scopes: ${SCOPES.join(', ')}.`;

const list = (csv: string | undefined): string[] | undefined => csv?.split(',').map((s) => s.trim()).filter(Boolean);

/**
 * `npm run keys`: API keys for an operator with database access, e.g. the first key of a
 * deployment that has no `*_API_KEYS` configured. Same store and same validation as
 * `POST /v1/api-keys`.
 */
async function main(argv: string[]): Promise<number> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      app: { type: 'string' },
      'database-url': { type: 'string' },
      name: { type: 'string' },
      scopes: { type: 'string' },
      'sender-domains': { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const [command, ...rest] = positionals;
  const app = values.app as App | undefined;
  if (values.help || !command || !['create', 'list', 'revoke'].includes(command) || app === undefined || !(app in APPS)) {
    console.error(USAGE);
    return values.help ? 0 : 2;
  }
  // A CLI entry point reads its environment at the edge, like an app's config.ts.
  const databaseUrl = values['database-url'] ?? process.env[APPS[app]];
  if (!databaseUrl) {
    console.error(`keys: set ${APPS[app]} (or give --database-url)`);
    return 2;
  }
  const dataSource = new DataSource({ type: 'postgres', url: databaseUrl });
  await dataSource.initialize();
  try {
    const keys = new ApiKeysRepository(dataSource);
    if (command === 'create') {
      const input = newApiKeySchema.safeParse({
        name: values.name,
        scopes: list(values.scopes),
        ...(values['sender-domains'] !== undefined && { senderDomains: list(values['sender-domains']) }),
      });
      if (!input.success) {
        for (const e of toFieldErrors(input.error.issues)) console.error(`keys: --${e.path.split('.')[0]!.replace('senderDomains', 'sender-domains')}: ${e.message}`);
        return 2;
      }
      const created = await issueApiKey(keys, input.data);
      if (values.json) console.log(JSON.stringify(created));
      else {
        console.log(`created API key ${created.id} (${created.prefix}…) "${created.name}": ${created.scopes.join(',')}`);
        if (created.senderDomains) console.log(`sender domains: ${created.senderDomains.join(',')}`);
        console.log(`key (shown once; store it now):\n${created.key}`);
      }
      return 0;
    }
    if (command === 'list') {
      const items = [];
      let after: { createdAt: Date; id: string } | undefined;
      do {
        const page = await keys.list(100, after);
        items.push(...page.items.map(apiKeyView));
        after = page.next ?? undefined;
      } while (after);
      if (values.json) console.log(JSON.stringify(items));
      else for (const k of items) console.log([k.id, `${k.prefix}…`, k.name, k.scopes.join(','), k.revokedAt ? `revoked ${k.revokedAt}` : 'active', `last used ${k.lastUsedAt ?? 'never'}`].join('\t'));
      return 0;
    }
    const id = z.uuid().safeParse(rest[0]);
    if (!id.success) {
      console.error('keys: revoke <id>: the id of a key (a UUID, as `list` shows it)');
      return 2;
    }
    const revoked = await keys.revoke(id.data);
    if (!revoked) {
      console.error(`keys: no API key ${id.data}`);
      return 1;
    }
    console.log(`revoked API key ${revoked.id} (${revoked.prefix}…) "${revoked.name}"`);
    return 0;
  } finally {
    await dataSource.destroy();
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    // 42P01: undefined_table; never print the database URL (it may hold a password).
    const missing = (error as { code?: unknown }).code === '42P01';
    console.error(missing ? 'keys: the api_keys table does not exist yet: start the app once (it runs its migrations)' : `keys failed: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  },
);
