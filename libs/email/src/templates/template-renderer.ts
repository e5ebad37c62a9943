import { createHash } from 'node:crypto';
import { Inject, Injectable, Optional, type OnApplicationShutdown } from '@nestjs/common';
import { Piscina } from 'piscina';
import { z } from 'zod';
import { TransientError, toFieldErrors } from '@app/common';
import { MAX_HTML_LENGTH, MAX_SUBJECT_LENGTH, MAX_TEXT_LENGTH } from '@app/contracts';
import { EMAIL_OPTIONS, type ResolvedEmailModuleOptions } from '../email.options.js';
import type { RenderedContent, TemplateDefinition } from './template-definition.js';
import type { RenderOutputLimits, TemplateSourceParts, TemplateWorkerResult, TemplateWorkerTask } from './template-render.worker.js';
import { TemplateCompileError, TemplateDataError, TemplateRenderLimitError } from './template.errors.js';

/** One version of a template, compiled once: renders `data` into an email's content. */
export interface CompiledTemplate {
  readonly name: string;
  readonly version: number;
  /** The template's time to live, if it has one: the email's `expiresAt` when the request gives none. */
  readonly ttlSeconds?: number;
  /**
   * @throws TemplateDataError naming each missing variable, or what the rendered content breaks.
   * @throws TemplateRenderLimitError when rendering passes its deadline, output or memory limit.
   */
  render(data: Record<string, unknown>): Promise<RenderedContent>;
}

type TemplateSource = Pick<TemplateDefinition, 'name' | 'engine' | 'subject' | 'html' | 'text' | 'variables' | 'ttlSeconds'> & { version: number };

export const DEFAULT_TEMPLATE_RENDER_TIMEOUT_MS = 2000;
const DEFAULT_THREADS = 1;
const DEFAULT_MAX_MEMORY_MB = 128;
/** How many deadlines a task may wait for a free worker before it is refused as an overload (503). */
const QUEUE_WAIT_DEADLINES = 5;

/** What each part's Handlebars output may reach while it renders: the limits of an email's content. */
const OUTPUT_LIMITS: RenderOutputLimits = { subject: MAX_SUBJECT_LENGTH, html: MAX_HTML_LENGTH, text: MAX_TEXT_LENGTH };

/** The limits of an email's content (as `POST /v1/emails` has them), checked on what a template rendered. */
const renderedContentSchema = z.object({
  subject: z
    .string()
    .min(1, 'renders empty')
    .max(MAX_SUBJECT_LENGTH)
    .refine((s) => !/[\r\n]/.test(s), 'must not contain CR or LF (from data)'),
  html: z.string().max(MAX_HTML_LENGTH).optional(),
  text: z.string().max(MAX_TEXT_LENGTH),
});

/**
 * The worker's file, beside this one: `.js` in `dist/` and in the published package; `.ts` when
 * this module itself runs from source (vitest, tsx), where the worker needs tsx's loader too.
 */
const WORKER_URL = new URL(import.meta.url.endsWith('.ts') ? './template-render.worker.ts' : './template-render.worker.js', import.meta.url);
const WORKER_EXEC_ARGV = import.meta.url.endsWith('.ts') ? ['--import', 'tsx'] : [];

/**
 * Compiles and renders templates: Handlebars (HTML-escaped in the HTML part, strict about missing
 * variables, only safe helpers), MJML after Handlebars for `mjml` templates, and the text part
 * derived from the HTML when the template has none.
 *
 * The engines run in a pool of worker threads (piscina: a maintained pool with abort signals,
 * per-worker `resourceLimits` and a queue, so we do not hand-write worker lifecycles). Template
 * code and request data are untrusted: a `{{#each}}` nested four deep over 200 items is 1.6
 * billion iterations. Invariants:
 * - the app's event loop never runs a template: the worst a render can do is occupy one worker;
 * - a render ends within `timeoutMs` of its start in a worker: at the deadline the worker is
 *   terminated (piscina aborts by terminating) and the render fails with `TemplateRenderLimitError`;
 * - output is capped while it is produced (the worker's block helpers count characters), and the
 *   worker's heap is capped, so neither output nor allocation can grow without bound;
 * - a render has no side effect, so a failed one changes nothing.
 *
 * The pool is created on first use and destroyed at shutdown.
 */
@Injectable()
export class TemplateRenderer implements OnApplicationShutdown {
  private pool: Piscina<TemplateWorkerTask & { started: Int32Array }, TemplateWorkerResult> | undefined;
  private readonly timeoutMs: number;
  private readonly threads: number;
  private readonly maxMemoryMb: number;

  constructor(@Optional() @Inject(EMAIL_OPTIONS) options?: Pick<ResolvedEmailModuleOptions, 'templateRendering'>) {
    this.timeoutMs = options?.templateRendering?.timeoutMs ?? DEFAULT_TEMPLATE_RENDER_TIMEOUT_MS;
    this.threads = options?.templateRendering?.threads ?? DEFAULT_THREADS;
    this.maxMemoryMb = options?.templateRendering?.maxMemoryMb ?? DEFAULT_MAX_MEMORY_MB;
  }

  /**
   * Compiles every part of a template, refusing what does not compile.
   *
   * @throws TemplateCompileError with the engine's error for each part that does not compile.
   * @throws TemplateRenderLimitError when compiling passes the deadline or memory limit.
   */
  async compile(template: TemplateSource): Promise<CompiledTemplate> {
    const { name, version, engine, subject, html, text } = template;
    const source: TemplateSourceParts = { name, version, engine, subject, ...(html !== undefined && { html }), ...(text !== undefined && { text }) };
    // The digest names this exact source: each worker compiles it once, and two databases' `welcome` v1 never meet.
    const key = createHash('sha256').update(JSON.stringify(source)).digest('base64url');
    const compiled = await this.run({ op: 'compile', key, source }, name, version);
    if (!compiled.ok) throw new TemplateCompileError(compiled.errors);

    const optional = template.variables.filter((v) => !v.required).map((v) => v.name);
    const required = template.variables.filter((v) => v.required).map((v) => v.name);
    return {
      name,
      version,
      ...(template.ttlSeconds !== undefined && { ttlSeconds: template.ttlSeconds }),
      render: async (data) => {
        const missing = required.filter((variable) => data[variable] === undefined);
        if (missing.length > 0) {
          throw new TemplateDataError(name, version, missing.map((variable) => ({ path: `data.${variable}`, message: 'is required by the template' })));
        }
        // Strict mode would refuse an absent optional variable too: present as null, it renders empty.
        const context = { ...Object.fromEntries(optional.map((variable) => [variable, null])), ...data };
        const result = await this.run({ op: 'render', key, source, data: context, limits: OUTPUT_LIMITS }, name, version);
        if (!result.ok) {
          if (result.kind === 'limit') throw new TemplateRenderLimitError(name, version, result.errors);
          throw new TemplateDataError(name, version, result.errors);
        }
        const content = result.content as RenderedContent;
        const checked = renderedContentSchema.safeParse(content);
        if (!checked.success) {
          throw new TemplateDataError(
            name,
            version,
            toFieldErrors(checked.error.issues).map((e) => ({ path: `rendered.${e.path}`, message: e.message })),
          );
        }
        return content;
      },
    };
  }

  async onApplicationShutdown(): Promise<void> {
    const pool = this.pool;
    this.pool = undefined;
    await pool?.destroy();
  }

  /**
   * Runs a task in the pool. The deadline starts when a worker starts the task (it flags `started`),
   * so time spent queued behind another render, or loading MJML into a fresh worker, is not
   * counted against it; a task that waits for a worker longer than a few deadlines is refused.
   */
  private async run(task: TemplateWorkerTask, name: string, version: number): Promise<TemplateWorkerResult> {
    const pool = this.poolOnce();
    const started = new Int32Array(new SharedArrayBuffer(4));
    const abort = new AbortController();
    let reason: 'deadline' | 'queue' | undefined;
    let timer: NodeJS.Timeout | undefined;
    let done = false;
    const wait = (Atomics as unknown as AtomicsWaitAsync).waitAsync(started, 0, 0, this.timeoutMs * QUEUE_WAIT_DEADLINES);
    void Promise.resolve(wait.value).then((outcome) => {
      if (done) return;
      if (outcome === 'timed-out') {
        reason = 'queue';
        abort.abort();
        return;
      }
      timer = setTimeout(() => {
        reason = 'deadline';
        abort.abort();
      }, this.timeoutMs);
    });
    try {
      return await pool.run({ ...task, started }, { signal: abort.signal });
    } catch (error) {
      if (reason === 'deadline') {
        throw new TemplateRenderLimitError(name, version, [{ path: 'data', message: `takes longer than ${this.timeoutMs} ms to render` }]);
      }
      if (reason === 'queue') throw new TransientError('template rendering is overloaded: no worker was free in time');
      if ((error as { code?: unknown }).code === 'ERR_WORKER_OUT_OF_MEMORY') {
        throw new TemplateRenderLimitError(name, version, [{ path: 'data', message: `needs more than ${this.maxMemoryMb} MB to render` }]);
      }
      throw error;
    } finally {
      done = true;
      clearTimeout(timer);
      // Releases the waiter of a task that ended without being started (e.g. a worker that failed to load).
      Atomics.store(started, 0, 1);
      Atomics.notify(started, 0);
    }
  }

  private poolOnce(): NonNullable<TemplateRenderer['pool']> {
    this.pool ??= new Piscina({
      filename: WORKER_URL.href,
      execArgv: WORKER_EXEC_ARGV,
      minThreads: 0,
      maxThreads: this.threads,
      // Keep warm workers (compiled templates, MJML loaded) rather than start one per burst.
      idleTimeout: 60_000,
      resourceLimits: { maxOldGenerationSizeMb: this.maxMemoryMb },
    });
    return this.pool;
  }
}

/** `Atomics.waitAsync` (Node 16+), not yet in TypeScript's ES2023 lib. */
interface AtomicsWaitAsync {
  waitAsync(array: Int32Array, index: number, value: number, timeoutMs: number): { async: boolean; value: Promise<'ok' | 'timed-out'> | 'not-equal' | 'timed-out' };
}
