import { afterAll, describe, expect, it } from 'vitest';
import { TemplateRenderer } from './template-renderer.js';
import { TemplateDataError, TemplateRenderLimitError } from './template.errors.js';

const TIMEOUT_MS = 1500;
const renderer = new TemplateRenderer({ templateRendering: { timeoutMs: TIMEOUT_MS } });
afterAll(() => renderer.onApplicationShutdown());

const template = (html: string) => ({
  name: 'bomb',
  version: 1,
  engine: 'handlebars' as const,
  subject: 'Hi',
  html,
  variables: [{ name: 'items', required: true }],
});
const items = Array.from({ length: 200 }, (_, i) => i);

/** Counts the app's event-loop ticks while `work` runs: a starved loop would count none. */
async function ticksDuring<T>(work: Promise<T>): Promise<{ ticks: number; outcome: T | unknown; ms: number }> {
  let ticks = 0;
  const started = Date.now();
  const timer = setInterval(() => ticks++, 50);
  const outcome = await work.catch((e: unknown) => e);
  clearInterval(timer);
  return { ticks, outcome, ms: Date.now() - started };
}

// Each worker thread loads tsx and the engines on first use: seconds on a loaded CI machine.
describe('TemplateRenderer limits', { timeout: 60_000 }, () => {
  it('stops a four-level {{#each}} over 200 items at its deadline, with the event loop free meanwhile', async () => {
    // 200^4 = 1.6 billion iterations that produce nothing: only the deadline can stop it.
    const compiled = await renderer.compile(template('{{#each items}}{{#each @root.items}}{{#each @root.items}}{{#each @root.items}}{{/each}}{{/each}}{{/each}}{{/each}}'));
    const { ticks, outcome, ms } = await ticksDuring(compiled.render({ items }));
    expect(outcome).toBeInstanceOf(TemplateRenderLimitError);
    expect((outcome as TemplateRenderLimitError).code).toBe('template_render_limit');
    expect((outcome as TemplateRenderLimitError).fieldErrors[0]).toEqual({ path: 'data', message: `takes longer than ${TIMEOUT_MS} ms to render` });
    expect(ms).toBeLessThan(TIMEOUT_MS + 5000);
    // Rendering in the app's thread, the interval could not tick once until the render ended.
    expect(ticks).toBeGreaterThanOrEqual(5);
  });

  it('stops output past the content limits while it is produced, not after', async () => {
    const compiled = await renderer.compile(template('{{#each items}}{{#each @root.items}}{{#each @root.items}}<p>{{this}} and more text</p>{{/each}}{{/each}}{{/each}}'));
    const outcome = await compiled.render({ items }).catch((e: unknown) => e);
    // 200^3 paragraphs would take far longer than the deadline: the cap, not the deadline, stopped it.
    expect(outcome).toBeInstanceOf(TemplateRenderLimitError);
    expect((outcome as TemplateRenderLimitError).fieldErrors[0]).toEqual({ path: 'data', message: 'renders more content than an email may have' });
  });

  it('counts nested blocks once: output just under the limit renders', async () => {
    const row = Array.from({ length: 100 }, (_, i) => i);
    const compiled = await renderer.compile(template('{{#each items}}{{#with this}}{{#each @root.items}}{{#if true}}<i>{{this}}</i>{{/if}}{{/each}}{{/with}}{{/each}}'));
    const out = await compiled.render({ items: row });
    // 10 000 cells of about 9 characters: far below the cap even though four blocks nest.
    expect(out.html?.length).toBeGreaterThan(80_000);
  });

  it('keeps rendering after a worker was killed at its deadline', async () => {
    const bomb = await renderer.compile(template('{{#each items}}{{#each @root.items}}{{#each @root.items}}{{#each @root.items}}{{/each}}{{/each}}{{/each}}{{/each}}'));
    await expect(bomb.render({ items })).rejects.toBeInstanceOf(TemplateRenderLimitError);
    const fine = await renderer.compile(template('<p>{{#each items}}{{this}},{{/each}}</p>'));
    expect((await fine.render({ items: [1, 2, 3] })).html).toBe('<p>1,2,3,</p>');
  });

  it('stops an MJML bomb (thousands of sections from data) at its deadline', async () => {
    const compiled = await renderer.compile({
      ...template('<mjml><mj-body>{{#each items}}<mj-section><mj-column><mj-table><tr><td>{{this}}</td></tr></mj-table><mj-button href="https://x.test/{{this}}">b</mj-button></mj-column></mj-section>{{/each}}</mj-body></mjml>'),
      engine: 'mjml' as const,
    });
    const { ticks, outcome } = await ticksDuring(compiled.render({ items: Array.from({ length: 2000 }, (_, i) => i) }));
    // Under the output cap (about 360,000 characters of markup): it is MJML's own work that the deadline stops.
    expect((outcome as TemplateRenderLimitError).fieldErrors[0]?.message).toBe(`takes longer than ${TIMEOUT_MS} ms to render`);
    expect(ticks).toBeGreaterThanOrEqual(5);
  });

  it('still reports data errors as TemplateDataError', async () => {
    const compiled = await renderer.compile(template('<p>{{items.missing.deep}}</p>'));
    await expect(compiled.render({ items: {} })).rejects.toBeInstanceOf(TemplateDataError);
  });
});
