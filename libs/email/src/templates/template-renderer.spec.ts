import { describe, expect, it } from 'vitest';
import { TemplateRenderer } from './template-renderer.js';
import { TemplateCompileError, TemplateDataError } from './template.errors.js';
import type { TemplateDefinition } from './template-definition.js';

const renderer = new TemplateRenderer();
const template = (patch: Partial<TemplateDefinition> = {}) => ({
  name: 'welcome',
  version: 1,
  engine: 'handlebars' as const,
  subject: 'Welcome, {{name}}',
  html: '<p>Hello <b>{{name}}</b>!</p><p><a href="{{link}}">Start here</a></p>',
  variables: [
    { name: 'name', required: true },
    { name: 'link', required: true },
  ],
  ...patch,
});

// Each worker thread loads tsx and the engines on first use: seconds on a loaded CI machine.
describe('TemplateRenderer', { timeout: 60_000 }, () => {
  it('escapes data in the HTML part and leaves it as it is in the plain-text subject', async () => {
    const compiled = await renderer.compile(template());
    const out = await compiled.render({ name: 'Ada & <script>x</script>', link: 'https://example.com/start' });
    expect(out.html).toContain('Hello <b>Ada &amp; &lt;script&gt;x&lt;/script&gt;</b>!');
    expect(out.html).not.toContain('<script>');
    expect(out.subject).toBe('Welcome, Ada & <script>x</script>');
  });

  it('derives the text part from the HTML when the template has none', async () => {
    const out = await (await renderer.compile(template())).render({ name: 'Ada', link: 'https://example.com/start' });
    expect(out.text).toBe('Hello Ada!\n\nStart here [https://example.com/start]');
  });

  it('renders a text part of its own, unescaped', async () => {
    const compiled = await renderer.compile(template({ text: 'Hello {{name}}, go to {{link}}' }));
    const out = await compiled.render({ name: 'Bob & Co', link: 'https://example.com/?a=1&b=2' });
    expect(out.text).toBe('Hello Bob & Co, go to https://example.com/?a=1&b=2');
  });

  it('names every missing required variable instead of rendering an empty string', async () => {
    const compiled = await renderer.compile(template());
    const error = await compiled.render({}).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TemplateDataError);
    expect((error as TemplateDataError).code).toBe('template_data_invalid');
    expect((error as TemplateDataError).fieldErrors.map((f) => f.path)).toEqual(['data.name', 'data.link']);
  });

  it('is strict about a value the template uses but did not declare', async () => {
    const compiled = await renderer.compile(template({ html: '<p>{{name}} {{undeclared}}</p>', variables: [{ name: 'name', required: true }] }));
    const error = await compiled.render({ name: 'Ada' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TemplateDataError);
    expect((error as TemplateDataError).fieldErrors).toEqual([{ path: 'data.undeclared', message: 'is used by the template but not given' }]);
  });

  it('renders an absent optional variable as empty, and it can be tested with #if', async () => {
    const compiled = await renderer.compile(
      template({ html: '<p>Hi {{name}}{{#if nickname}} ({{nickname}}){{/if}}.</p>', variables: [{ name: 'name', required: true }, { name: 'nickname', required: false }] }),
    );
    expect((await compiled.render({ name: 'Ada' })).html).toBe('<p>Hi Ada.</p>');
    expect((await compiled.render({ name: 'Ada', nickname: 'A' })).html).toBe('<p>Hi Ada (A).</p>');
  });

  it('allows the built-in block helpers and refuses any other helper, partials and log at compile time', async () => {
    const each = await renderer.compile(template({ html: '<ul>{{#each items}}<li>{{this.label}}</li>{{/each}}</ul>', variables: [{ name: 'name', required: true }, { name: 'items', required: true }] }));
    expect((await each.render({ name: 'Ada', items: [{ label: 'a' }, { label: 'b' }] })).html).toBe('<ul><li>a</li><li>b</li></ul>');
    for (const html of ['{{log name}}', '{{lowercase name}}', '{{> footer}}', '{{#if name}']) {
      const error = await renderer.compile(template({ html })).catch((e: unknown) => e);
      expect(error, html).toBeInstanceOf(TemplateCompileError);
      expect((error as TemplateCompileError).fieldErrors[0]?.path).toBe('html');
    }
  });

  it('refuses rendered data that would break the subject line (header injection)', async () => {
    const compiled = await renderer.compile(template());
    const error = await compiled.render({ name: 'Ada\r\nBcc: x@example.com', link: 'x' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TemplateDataError);
    expect((error as TemplateDataError).fieldErrors[0]?.path).toBe('rendered.subject');
  });

  it('renders MJML after Handlebars into responsive HTML, with data escaped and a text part', async () => {
    const compiled = await renderer.compile(
      template({
        engine: 'mjml',
        html: '<mjml><mj-body><mj-section><mj-column>{{#each items}}<mj-text>Item {{this}}</mj-text>{{/each}}<mj-button href="{{link}}">Open</mj-button></mj-column></mj-section></mj-body></mjml>',
        variables: [{ name: 'items', required: true }, { name: 'link', required: true }, { name: 'name', required: false }],
      }),
    );
    const out = await compiled.render({ items: ['one', '<two>'], link: 'https://example.com/open' });
    expect(out.html).toMatch(/^<!doctype html>/i);
    expect(out.html).toContain('Item one');
    expect(out.html).toContain('Item &lt;two&gt;');
    expect(out.html).toContain('href="https://example.com/open"');
    expect(out.html).not.toContain('<mj-');
    expect(out.text).toContain('Item one');
    expect(out.text).toContain('Item <two>');
  });

  it('refuses MJML that does not validate, with the engine error', async () => {
    const error = await renderer.compile(template({ engine: 'mjml', html: '<mjml><mj-body><mj-bogus>x</mj-bogus></mj-body></mjml>' })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TemplateCompileError);
    expect((error as TemplateCompileError).fieldErrors[0]).toMatchObject({ path: 'html', message: expect.stringContaining('mj-bogus') });
  });
});
