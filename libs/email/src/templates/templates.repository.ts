import { Inject, Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { TransientError, sqlTable, type PageRequest } from '@app/common';

/** Creations of one name racing each other: each lost race moves on to the next number. */
const MAX_VERSION_RACES = 10;
import { DEFAULT_EMAIL_SCHEMA, EMAIL_OPTIONS } from '../email.options.js';
import type { StoredTemplate, TemplateDefinition } from './template-definition.js';

const COLUMNS = `name, version, engine, subject, html, text, variables, ttl_seconds AS "ttlSeconds", created_at AS "createdAt"`;

interface TemplateRow {
  name: string;
  version: number;
  engine: StoredTemplate['engine'];
  subject: string;
  html: string | null;
  text: string | null;
  variables: StoredTemplate['variables'];
  ttlSeconds: number | null;
  createdAt: Date;
}

/** SQL for `email_templates`. Versions are only ever inserted: a stored version never changes. */
@Injectable()
export class TemplatesRepository {
  private readonly table: string;

  constructor(@Inject(EMAIL_OPTIONS) options: { schema?: string } = {}) {
    this.table = sqlTable(options.schema ?? DEFAULT_EMAIL_SCHEMA, 'email_templates');
  }

  /**
   * Inserts the next version of `definition.name` (1 for a new name) and returns it. Two creations
   * racing for the same version number: the loser's insert does nothing and it tries the next one.
   */
  async insertNextVersion(manager: EntityManager, definition: TemplateDefinition): Promise<StoredTemplate> {
    for (let race = 0; race < MAX_VERSION_RACES; race++) {
      const rows: TemplateRow[] = await manager.query(
        `INSERT INTO ${this.table} (name, version, engine, subject, html, text, variables, ttl_seconds)
         SELECT $1, coalesce(max(version), 0) + 1, $2, $3, $4, $5, $6, $7 FROM ${this.table} WHERE name = $1
         ON CONFLICT (name, version) DO NOTHING
         RETURNING ${COLUMNS}`,
        [
          definition.name,
          definition.engine,
          definition.subject,
          definition.html ?? null,
          definition.text ?? null,
          JSON.stringify(definition.variables),
          definition.ttlSeconds ?? null,
        ],
      );
      if (rows[0]) return toTemplate(rows[0]);
    }
    // Only a snapshot older than the winner's commit (REPEATABLE READ) keeps losing; a retry of the request wins.
    throw new TransientError(`template ${definition.name}: another version was created at the same time; retry`);
  }

  /** The version asked for, or the latest when `version` is undefined; null when there is none. */
  async find(manager: EntityManager, name: string, version?: number): Promise<StoredTemplate | null> {
    const rows: TemplateRow[] =
      version === undefined
        ? await manager.query(`SELECT ${COLUMNS} FROM ${this.table} WHERE name = $1 ORDER BY version DESC LIMIT 1`, [name])
        : await manager.query(`SELECT ${COLUMNS} FROM ${this.table} WHERE name = $1 AND version = $2`, [name, version]);
    return rows[0] ? toTemplate(rows[0]) : null;
  }

  /** The number of a template's latest version, or null: an index-only look, for `send()` without a version. */
  async latestVersion(manager: EntityManager, name: string): Promise<number | null> {
    const rows: { version: number }[] = await manager.query(`SELECT version FROM ${this.table} WHERE name = $1 ORDER BY version DESC LIMIT 1`, [name]);
    return rows[0]?.version ?? null;
  }

  /** The latest version of each template by name, after the name `page.after`; one row more than the page (it tells there is a next one). */
  async listLatest(manager: EntityManager, page: PageRequest<[name: string]>): Promise<StoredTemplate[]> {
    const rows: TemplateRow[] = await manager.query(
      `SELECT DISTINCT ON (name) ${COLUMNS} FROM ${this.table} WHERE name > $2 ORDER BY name, version DESC LIMIT $1`,
      [page.limit + 1, page.after?.[0] ?? ''],
    );
    return rows.map(toTemplate);
  }

  /** Versions of one template, newest first, below the version `page.after`; one row more than the page. */
  async listVersions(manager: EntityManager, name: string, page: PageRequest<[version: number]>): Promise<StoredTemplate[]> {
    const rows: TemplateRow[] = await manager.query(
      `SELECT ${COLUMNS} FROM ${this.table} WHERE name = $1 AND version < $3 ORDER BY version DESC LIMIT $2`,
      [name, page.limit + 1, page.after?.[0] ?? 2_147_483_647],
    );
    return rows.map(toTemplate);
  }
}

function toTemplate(row: TemplateRow): StoredTemplate {
  return {
    name: row.name,
    version: row.version,
    engine: row.engine,
    subject: row.subject,
    ...(row.html !== null && { html: row.html }),
    ...(row.text !== null && { text: row.text }),
    variables: row.variables,
    ...(row.ttlSeconds !== null && { ttlSeconds: row.ttlSeconds }),
    createdAt: row.createdAt,
  };
}
