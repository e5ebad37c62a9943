import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { simpleParser, type ParsedMail } from 'mailparser';
import pg from 'pg';
import { waitFor } from '@app/testing';
import { EmailLoopStack } from './stack.js';

/**
 * Templates end to end: created and versioned over the API, previewed, and sent through
 * `POST /v1/emails`; the mail is checked as the SMTP server received it, parsed as a mail client
 * would (mailparser), so subject, HTML and text parts and the escaping are what a reader sees.
 */
describe('templates, end to end on Kafka, PostgreSQL, Redis and SMTP', () => {
  const stack = new EmailLoopStack();
  const name = 'order-shipped';
  const version1 = {
    name,
    subject: 'Order {{order}} shipped',
    html: '<p>Hello {{customer}},</p><p>Order <b>{{order}}</b> is on its way.</p>',
    variables: [{ name: 'customer' }, { name: 'order' }, { name: 'note', required: false }],
  };
  const version2 = {
    ...version1,
    subject: 'Your order {{order}} has shipped',
    html: '<p>Hi {{customer}},</p><p>Order <b>{{order}}</b> left our warehouse.</p>{{#if note}}<p>Note: {{note}}</p>{{/if}}',
  };

  beforeAll(async () => {
    await stack.start();
  });

  afterAll(async () => {
    await stack.stop();
  });

  async function emailCount(): Promise<number> {
    const client = new pg.Client({ connectionString: stack.businessDatabaseUrl });
    await client.connect();
    try {
      const { rows } = await client.query<{ n: number }>(`SELECT count(*)::int AS n FROM email_loop.emails`);
      return rows[0]?.n ?? -1;
    } finally {
      await client.end();
    }
  }

  /** The mail of this email as the SMTP server received it, parsed. */
  async function receivedMail(emailId: string): Promise<ParsedMail> {
    const mail = await waitFor(() => stack.smtp.mails.find((m) => m.emailId === emailId), { timeoutMs: 30_000, description: `mail ${emailId} at the SMTP server` });
    return simpleParser(mail.raw);
  }

  it('creates a template, versions it, lists and reads it', async () => {
    const created = await stack.post('/v1/templates', version1);
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ name, version: 1, engine: 'handlebars', variables: [{ name: 'customer', required: true }, { name: 'order', required: true }, { name: 'note', required: false }] });

    const next = await stack.post('/v1/templates', version2);
    expect(next.status).toBe(201);
    expect(next.body).toMatchObject({ name, version: 2, subject: version2.subject });

    expect((await stack.get(`/v1/templates/${name}`)).body).toMatchObject({ version: 2, subject: version2.subject });
    expect((await stack.get(`/v1/templates/${name}?version=1`)).body).toMatchObject({ version: 1, subject: version1.subject });
    expect((await stack.get(`/v1/templates/${name}/versions`)).body.items.map((t: { version: number }) => t.version)).toEqual([2, 1]);
    const list = await stack.get('/v1/templates');
    expect(list.body.items).toEqual([expect.objectContaining({ name, version: 2 })]);
  });

  it('previews a version without sending anything', async () => {
    const preview = await stack.post(`/v1/templates/${name}/preview`, { data: { customer: 'Ada', order: 'A-1', note: 'Fragile <glass>' } });
    expect(preview.status).toBe(200);
    expect(preview.body).toEqual({
      name,
      version: 2,
      subject: 'Your order A-1 has shipped',
      html: '<p>Hi Ada,</p><p>Order <b>A-1</b> left our warehouse.</p><p>Note: Fragile &lt;glass&gt;</p>',
      text: 'Hi Ada,\n\nOrder A-1 left our warehouse.\n\nNote: Fragile <glass>',
    });
    const old = await stack.post(`/v1/templates/${name}/preview`, { version: 1, data: { customer: 'Ada', order: 'A-1' } });
    expect(old.body).toMatchObject({ version: 1, subject: 'Order A-1 shipped' });
    expect(stack.smtp.mails).toHaveLength(0);
    expect(await emailCount()).toBe(0);
  });

  it('sends with the latest version: the mail received has the rendered subject, escaped HTML and a text part; the email shows the template', async () => {
    const data = { customer: 'Bob <script>alert(1)</script> & Co', order: 'B-2' };
    const res = await stack.post('/v1/emails', { to: 'bob@example.test', template: name, data });
    expect(res.status).toBe(202);

    const mail = await receivedMail(res.body.id);
    expect(mail.subject).toBe('Your order B-2 has shipped');
    expect(mail.html).toBe('<p>Hi Bob &lt;script&gt;alert(1)&lt;/script&gt; &amp; Co,</p><p>Order <b>B-2</b> left our warehouse.</p>');
    expect(mail.text?.trim()).toBe('Hi Bob <script>alert(1)</script> & Co,\n\nOrder B-2 left our warehouse.');

    const view = await waitFor(async () => {
      const { body } = await stack.get(`/v1/emails/${res.body.id}`);
      return body?.status === 'sent' ? body : undefined;
    }, { description: 'the templated email to be reported sent' });
    expect(view).toMatchObject({ subject: 'Your order B-2 has shipped', template: { name, version: 2 } });
  });

  it('sends with a pinned version and an MJML template renders responsive HTML', async () => {
    const pinned = await stack.post('/v1/emails', { to: 'carol@example.test', template: name, version: 1, data: { customer: 'Carol', order: 'C-3' } });
    expect(pinned.status).toBe(202);
    expect((await receivedMail(pinned.body.id)).subject).toBe('Order C-3 shipped');

    const mjml = await stack.post('/v1/templates', {
      name: 'newsletter',
      engine: 'mjml',
      subject: 'News for {{customer}}',
      html: '<mjml><mj-body><mj-section><mj-column><mj-text>Hello {{customer}}</mj-text>{{#each items}}<mj-text>{{this}}</mj-text>{{/each}}</mj-column></mj-section></mj-body></mjml>',
      variables: [{ name: 'customer' }, { name: 'items' }],
    });
    expect(mjml.status).toBe(201);
    const sent = await stack.post('/v1/emails', { to: 'dan@example.test', lane: 'bulk', template: 'newsletter', data: { customer: 'Dan', items: ['One', 'Two & <three>'] } });
    expect(sent.status).toBe(202);
    const mail = await receivedMail(sent.body.id);
    expect(mail.subject).toBe('News for Dan');
    expect(mail.html).toMatch(/^<!doctype html>/i);
    expect(mail.html).toContain('Two &amp; &lt;three&gt;');
    expect(mail.html).not.toContain('<mj-');
    expect(mail.text).toContain('Two & <three>');
  });

  it.each([
    ['an unknown template', { to: 'x@example.test', template: 'nope', data: {} }, 'template_not_found', 'template'],
    ['an unknown version', { to: 'x@example.test', template: name, version: 7, data: { customer: 'x', order: 'y' } }, 'template_not_found', 'version'],
    ['a missing variable', { to: 'x@example.test', template: name, data: { customer: 'x' } }, 'template_data_invalid', 'data.order'],
    ['a template with literal content', { to: 'x@example.test', template: name, subject: 'Hi', data: {} }, 'invalid_input', 'subject'],
    ['data without a template', { to: 'x@example.test', subject: 'Hi', text: 'x', data: { a: 1 } }, 'invalid_input', 'data'],
  ])('refuses to send with %s: 400 naming the field, nothing written', async (_case, body, code, field) => {
    const before = await emailCount();
    const res = await stack.post('/v1/emails', body);
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe(code);
    expect(res.body.error.fields.map((f: { path: string }) => f.path)).toContain(field);
    expect(await emailCount()).toBe(before);
  });

  it('refuses bad templates and previews with 400 and unknown ones with 404', async () => {
    const invalid = await stack.post('/v1/templates', { name: 'Bad Name!', subject: '', variables: [{ name: '1x' }] });
    expect(invalid.status).toBe(400);
    expect(invalid.body.error.code).toBe('invalid_input');
    expect(invalid.body.error.fields.map((f: { path: string }) => f.path)).toEqual(expect.arrayContaining(['name', 'subject', 'variables.0.name']));

    const broken = await stack.post('/v1/templates', { name: 'broken', subject: 'x', html: '<p>{{#each items}}</p>' });
    expect(broken.status).toBe(400);
    expect(broken.body.error).toMatchObject({ code: 'template_invalid', fields: [{ path: 'html', message: expect.stringContaining('each') }] });
    expect((await stack.get('/v1/templates/broken')).status).toBe(404);

    const missing = await stack.post(`/v1/templates/${name}/preview`, { data: {} });
    expect(missing.status).toBe(400);
    expect(missing.body.error.fields.map((f: { path: string }) => f.path)).toEqual(['data.customer', 'data.order']);

    expect((await stack.get('/v1/templates/nope')).status).toBe(404);
    expect((await stack.get('/v1/templates/nope/versions')).status).toBe(404);
    expect((await stack.get(`/v1/templates/${name}?version=9`)).body.error.code).toBe('template_not_found');
    expect((await stack.get(`/v1/templates/${name}?version=zero`)).status).toBe(400);
    expect((await stack.post('/v1/templates/nope/preview', { data: {} })).status).toBe(404);
    const badName = await stack.get('/v1/templates/Bad%20Name');
    expect(badName.status).toBe(400);
    expect(badName.body.error.fields).toEqual([{ path: 'name', message: expect.any(String) }]);
  });
});
