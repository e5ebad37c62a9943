import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { DataSource } from 'typeorm';
import { z } from 'zod';
import { InvalidInputError, decodeCursor } from '@app/common';
import { createMigratedDatabase, dropMigratedDatabase } from '@app/testing';
import { EMAIL_MIGRATIONS } from '../email.migrations.js';
import { TemplateRenderer } from './template-renderer.js';
import { TemplateCompileError, TemplateDataError, TemplateNotFoundError } from './template.errors.js';
import { TemplatesRepository } from './templates.repository.js';
import { TemplatesService } from './templates.service.js';

/** The template store on real PostgreSQL: versions, reads, previews, and what it refuses. */
describe('TemplatesService (PostgreSQL)', () => {
  let url: string;
  let dataSource: DataSource;
  let templates: TemplatesService;
  const receipt = { name: 'receipt', subject: 'Order {{order}}', text: 'Thanks for order {{order}}.', variables: [{ name: 'order' }] };

  beforeAll(async () => {
    ({ url, dataSource } = await createMigratedDatabase('templates_int', EMAIL_MIGRATIONS));
  });

  beforeEach(async () => {
    await dataSource.query(`TRUNCATE email_loop.email_templates`);
    templates = new TemplatesService(dataSource, new TemplatesRepository(), new TemplateRenderer());
  });

  afterAll(async () => {
    await dropMigratedDatabase(dataSource, url);
  });

  it('gives a new name version 1 and each later creation the next version; old versions stay as they were', async () => {
    const v1 = await templates.create(receipt);
    expect(v1).toMatchObject({ name: 'receipt', version: 1, engine: 'handlebars', subject: 'Order {{order}}', variables: [{ name: 'order', required: true }] });
    expect(v1).not.toHaveProperty('html');
    expect(Date.parse(v1.createdAt)).not.toBeNaN();
    const v2 = await templates.create({ ...receipt, subject: 'Your order {{order}}', ttlSeconds: 60 });
    expect(v2).toMatchObject({ version: 2, subject: 'Your order {{order}}', ttlSeconds: 60 });

    expect(await templates.get('receipt')).toEqual(v2);
    expect(await templates.get('receipt', 1)).toEqual(v1);
    expect((await templates.versions('receipt')).items.map((t) => t.version)).toEqual([2, 1]);
  });

  it('numbers versions created at the same time without a gap or a duplicate', async () => {
    const created = await Promise.all(Array.from({ length: 8 }, (_, i) => templates.create({ ...receipt, subject: `Order {{order}} #${i}` })));
    expect(created.map((t) => t.version).sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  });

  it('lists the latest version of each template', async () => {
    await templates.create(receipt);
    await templates.create({ ...receipt, subject: 'v2 {{order}}' });
    await templates.create({ name: 'alert', subject: 'Alert', html: '<p>Alert</p>' });
    const list = await templates.list();
    expect(list.items.map((t) => [t.name, t.version])).toEqual([['alert', 1], ['receipt', 2]]);
    expect(list.nextCursor).toBeNull();
  });

  it('pages templates by name and versions newest first: every one once, in order, whatever is created meanwhile', async () => {
    const names = ['t-a', 't-b', 't-c', 't-d', 't-e', 't-f', 't-g'];
    for (const name of names) await templates.create({ ...receipt, name });
    for (let i = 0; i < 4; i++) await templates.create({ ...receipt, name: 't-d', subject: `v${i + 2} {{order}}` });

    const seen: string[] = [];
    let page = await templates.list({ limit: 3 });
    for (;;) {
      seen.push(...page.items.map((t) => t.name));
      if (page.nextCursor === null) break;
      // Created between pages: one sorts before the cursor (never seen), one after (seen once).
      await templates.create({ ...receipt, name: `${page.items[0]!.name}-late` });
      page = await templates.list({ limit: 3, after: decodeCursor(page.nextCursor, z.tuple([z.string()]))! });
    }
    expect(seen.filter((n) => names.includes(n))).toEqual(names);
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen).toEqual([...seen].sort());

    const versions: number[] = [];
    let versionPage = await templates.versions('t-d', { limit: 2 });
    for (;;) {
      versions.push(...versionPage.items.map((t) => t.version));
      if (versionPage.nextCursor === null) break;
      versionPage = await templates.versions('t-d', { limit: 2, after: decodeCursor(versionPage.nextCursor, z.tuple([z.number()]))! });
    }
    expect(versions).toEqual([5, 4, 3, 2, 1]);
  });

  it('answers not found for an unknown name or version', async () => {
    await templates.create(receipt);
    await expect(templates.get('nope')).rejects.toBeInstanceOf(TemplateNotFoundError);
    await expect(templates.get('receipt', 2)).rejects.toMatchObject({ code: 'template_not_found' });
    await expect(templates.versions('nope')).rejects.toBeInstanceOf(TemplateNotFoundError);
    await expect(templates.preview('nope', { data: {} })).rejects.toBeInstanceOf(TemplateNotFoundError);
  });

  it('refuses a definition that is invalid or does not compile, and stores nothing', async () => {
    await expect(templates.create({ name: 'Bad Name', subject: 'x', text: 'y' })).rejects.toBeInstanceOf(InvalidInputError);
    await expect(templates.create({ name: 'empty', subject: 'x' })).rejects.toMatchObject({ code: 'invalid_input', fieldErrors: [{ path: 'html' }] });
    const broken = await templates.create({ name: 'broken', subject: 'Hi {{#if x}', html: '<p>{{shout name}}</p>' }).catch((e: unknown) => e);
    expect(broken).toBeInstanceOf(TemplateCompileError);
    expect((broken as TemplateCompileError).fieldErrors.map((f) => f.path)).toEqual(['subject', 'html']);
    expect((broken as TemplateCompileError).fieldErrors[1]?.message).toContain('unknown helper shout');
    expect(await dataSource.query(`SELECT count(*)::int AS n FROM email_loop.email_templates`)).toEqual([{ n: 0 }]);
  });

  it('previews the latest or a given version, and names the missing variables', async () => {
    await templates.create(receipt);
    await templates.create({ ...receipt, html: '<p>Order <i>{{order}}</i></p>', text: undefined });
    expect(await templates.preview('receipt', { data: { order: '<42>' } })).toEqual({
      name: 'receipt',
      version: 2,
      subject: 'Order <42>',
      html: '<p>Order <i>&lt;42&gt;</i></p>',
      text: 'Order <42>',
    });
    expect(await templates.preview('receipt', { version: 1, data: { order: '7' } })).toEqual({
      name: 'receipt',
      version: 1,
      subject: 'Order 7',
      text: 'Thanks for order 7.',
    });
    const missing = await templates.preview('receipt', { data: {} }).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(TemplateDataError);
    expect((missing as TemplateDataError).fieldErrors).toEqual([{ path: 'data.order', message: 'is required by the template' }]);
  });
});
