/**
 * The template engine, run in a worker thread of `TemplateRenderer`'s pool (piscina): Handlebars,
 * MJML and html-to-text on data from a request. Here a render that loops for minutes or
 * allocates gigabytes stops one worker (killed at the deadline, or by its heap limit), never the
 * app's event loop.
 *
 * It imports only npm packages: it is loaded by path, from `dist/` or from the published package,
 * where the repository's `@app/*` aliases do not exist. It returns plain data (no error classes
 * cross a thread): the caller turns it into the module's errors.
 */
import Handlebars from 'handlebars';
import { compile as compileHtmlToText } from 'html-to-text';
import type mjml2htmlType from 'mjml';

/** What the engine needs of a template. */
export interface TemplateSourceParts {
  name: string;
  version: number;
  engine: 'handlebars' | 'mjml';
  subject: string;
  html?: string;
  text?: string;
}

/** The most characters each part's Handlebars output may reach while it renders. */
export interface RenderOutputLimits {
  subject: number;
  html: number;
  text: number;
}

export interface WorkerFieldError {
  path: string;
  message: string;
}

/** A task: `key` names the exact source (a digest of it), so a worker compiles each source once. */
export type TemplateWorkerTask =
  | { op: 'compile'; key: string; source: TemplateSourceParts }
  | { op: 'render'; key: string; source: TemplateSourceParts; data: Record<string, unknown>; limits: RenderOutputLimits };

export type TemplateWorkerResult =
  | { ok: true; content?: { subject: string; html?: string; text: string } }
  | { ok: false; kind: 'compile' | 'data' | 'limit'; errors: WorkerFieldError[] };

/**
 * Only Handlebars' own block helpers: no `log` (it would write request data to the server's
 * console), no partials or decorators, nothing a template author could use to reach outside the
 * data it is given. `knownHelpersOnly` makes any other helper a compile error at creation.
 */
const SAFE_HELPERS = { if: true, unless: true, each: true, with: true, lookup: true } as const;
const COMPILE_OPTIONS = {
  // A missing variable throws instead of rendering as an empty string.
  strict: true,
  knownHelpersOnly: true,
  knownHelpers: { ...SAFE_HELPERS, log: false, helperMissing: false, blockHelperMissing: false },
} satisfies CompileOptions;
type CompileOptions = Parameters<typeof Handlebars.compile>[1] & object;
type HelperOptions = Handlebars.HelperOptions;
type Program = HelperOptions['fn'];

/** Thrown inside a render once a part's output passes its limit; caught below, never leaves the worker. */
class OutputLimitError extends Error {}

/**
 * The output budget of the part being rendered. Handlebars renders synchronously, so one render
 * runs at a time in this thread and a module-level budget is exact.
 */
const budget = { produced: 0, limit: Number.POSITIVE_INFINITY };

/**
 * Wraps a block's program so the characters it produces count against the budget as they are
 * produced, not once the whole part is done: a `{{#each}}` nested four deep over 200 items stops
 * at the limit instead of building gigabytes first. An outer block's output contains its inner
 * blocks' output, so each call adds only what it produced beyond what its inner blocks counted;
 * `produced` is then exactly the characters the blocks have produced so far.
 */
function counted(program: Program): Program {
  const wrapped = ((context: unknown, options?: unknown) => {
    const before = budget.produced;
    const out = program(context, options as never);
    budget.produced = before + out.length;
    if (budget.produced > budget.limit) throw new OutputLimitError();
    return out;
  }) as Program;
  // Handlebars reads properties of its programs (`blockParams`, `program`, `depth`).
  return Object.assign(wrapped, program);
}

/** An isolated Handlebars environment: its block helpers count their output, and `log` is gone. */
const handlebars = Handlebars.create();
handlebars.unregisterHelper('log');
for (const name of ['each', 'with', 'if', 'unless'] as const) {
  const original = handlebars.helpers[name] as (this: unknown, context: unknown, options: HelperOptions) => string;
  handlebars.registerHelper(name, function (this: unknown, context: unknown, options: HelperOptions) {
    return original.call(this, context, { ...options, fn: counted(options.fn), inverse: counted(options.inverse) });
  });
}

/** Finds what `knownHelpersOnly` does not cover: partials (`{{> x}}`) and decorators (`{{* x}}`). */
class UnsafeConstructFinder extends Handlebars.Visitor {
  found: string | null = null;

  override PartialStatement(): void {
    this.found ??= 'partials ({{> name}}) are not supported';
  }

  override PartialBlockStatement(): void {
    this.found ??= 'partials ({{#> name}}) are not supported';
  }

  override Decorator(): void {
    this.found ??= 'decorators ({{* name}}) are not supported';
  }

  override DecoratorBlock(): void {
    this.found ??= 'decorators ({{#* name}}) are not supported';
  }
}

/** The text part when a template has none: readable text from the HTML (html-to-text, compiled once). */
const htmlToText = compileHtmlToText({
  wordwrap: 78,
  selectors: [
    { selector: 'img', format: 'skip' },
    { selector: 'a', options: { hideLinkHrefIfSameAsText: true } },
  ],
});

/**
 * `mjml` takes about two seconds to import: loaded on the first MJML template, so a worker that
 * never sees one does not pay for it.
 */
let mjmlLoading: Promise<typeof mjml2htmlType> | undefined;
const loadMjml = (): Promise<typeof mjml2htmlType> => (mjmlLoading ??= import('mjml').then((module) => module.default));

const MJML_OPTIONS = {
  // `mj-include` would read files from the server's disk.
  ignoreIncludes: true,
} as const;

interface CompiledParts {
  subject: HandlebarsTemplateDelegate;
  html?: HandlebarsTemplateDelegate;
  text?: HandlebarsTemplateDelegate;
}

/** Compiled sources by digest, least recently used evicted: a digest names one exact source, so an entry never goes stale. */
const compiledCache = new Map<string, CompiledParts>();
const CACHE_CAPACITY = 200;

async function compileParts(source: TemplateSourceParts): Promise<CompiledParts | WorkerFieldError[]> {
  const errors: WorkerFieldError[] = [];
  const part = (field: 'subject' | 'html' | 'text', text: string | undefined, escape: boolean): HandlebarsTemplateDelegate | undefined => {
    if (text === undefined) return undefined;
    try {
      const options = { ...COMPILE_OPTIONS, noEscape: !escape };
      const finder = new UnsafeConstructFinder();
      finder.accept(handlebars.parse(text));
      if (finder.found) throw new Error(finder.found);
      // Handlebars compiles lazily; precompiling finds syntax errors and unknown helpers now.
      handlebars.precompile(text, options);
      return handlebars.compile(text, options);
    } catch (error) {
      errors.push({ path: field, message: error instanceof Error ? error.message : String(error) });
      return undefined;
    }
  };
  // Subject and text are plain text: HTML escaping would put `&amp;` in them.
  const subject = part('subject', source.subject, false);
  const html = part('html', source.html, true);
  const text = part('text', source.text, false);
  if (source.engine === 'mjml' && source.html !== undefined && html) {
    const mjmlError = await validateMjml(source.html);
    if (mjmlError) errors.push({ path: 'html', message: mjmlError });
  }
  if (errors.length > 0 || !subject) return errors;
  return { subject, ...(html && { html }), ...(text && { text }) };
}

async function compiledFor(key: string, source: TemplateSourceParts): Promise<CompiledParts | WorkerFieldError[]> {
  const cached = compiledCache.get(key);
  if (cached) {
    compiledCache.delete(key);
    compiledCache.set(key, cached);
    return cached;
  }
  const compiled = await compileParts(source);
  if (Array.isArray(compiled)) return compiled;
  compiledCache.set(key, compiled);
  if (compiledCache.size > CACHE_CAPACITY) compiledCache.delete(compiledCache.keys().next().value as string);
  return compiled;
}

/** The worker's entry point (piscina calls the default export with each task). */
export default async function runTemplateTask(task: TemplateWorkerTask & { started?: Int32Array }): Promise<TemplateWorkerResult> {
  // Loading MJML (a second or so, once per worker) is not the template's doing: the deadline starts after it.
  if (task.source.engine === 'mjml') await loadMjml();
  if (task.started) {
    Atomics.store(task.started, 0, 1);
    Atomics.notify(task.started, 0);
  }
  const compiled = await compiledFor(task.key, task.source);
  if (Array.isArray(compiled)) return { ok: false, kind: 'compile', errors: compiled };
  if (task.op === 'compile') return { ok: true };

  const { data, limits, source } = task;
  const run = (field: 'subject' | 'html' | 'text', delegate: HandlebarsTemplateDelegate): string => {
    budget.produced = 0;
    budget.limit = limits[field];
    try {
      const out = delegate(data);
      if (out.length > limits[field]) throw new OutputLimitError();
      return out;
    } finally {
      budget.limit = Number.POSITIVE_INFINITY;
    }
  };
  try {
    let html = compiled.html && run('html', compiled.html);
    if (html !== undefined && source.engine === 'mjml') {
      const rendered = await renderMjml(html);
      if (typeof rendered !== 'string') return { ok: false, kind: 'data', errors: [rendered] };
      html = rendered;
    }
    const subject = run('subject', compiled.subject);
    const text = compiled.text ? run('text', compiled.text) : htmlToText(html ?? '');
    return { ok: true, content: { subject, ...(html !== undefined && { html }), text } };
  } catch (error) {
    if (error instanceof OutputLimitError) {
      return { ok: false, kind: 'limit', errors: [{ path: 'data', message: 'renders more content than an email may have' }] };
    }
    // A string past V8's largest length: output without bound, caught before the heap limit.
    if (error instanceof RangeError) {
      return { ok: false, kind: 'limit', errors: [{ path: 'data', message: 'renders more content than an email may have' }] };
    }
    return { ok: false, kind: 'data', errors: [strictModeFieldError(error)] };
  }
}

/**
 * Handlebars' strict mode names the missing value only in its message (`"name" not defined in …`):
 * the one place we read an engine's message, to point the caller at the field.
 */
function strictModeFieldError(error: unknown): WorkerFieldError {
  const message = error instanceof Error ? error.message : String(error);
  const missing = /^"([^"]+)" not defined/.exec(message);
  if (missing) return { path: `data.${missing[1]}`, message: 'is used by the template but not given' };
  return { path: 'data', message };
}

/** The MJML markup's errors in strict validation, or null when it is valid. */
async function validateMjml(source: string): Promise<string | null> {
  const mjml2html = await loadMjml();
  try {
    await mjml2html(source, { ...MJML_OPTIONS, validationLevel: 'strict' });
    return null;
  } catch (error) {
    // Each error's own line and message: the formatted one names the server's working directory.
    const details = (error as { errors?: { line?: number; message?: string }[] }).errors;
    if (Array.isArray(details) && details.length > 0) return details.map((e) => `line ${e.line ?? '?'}: ${e.message ?? 'invalid'}`).join('; ');
    return error instanceof Error ? error.message : String(error);
  }
}

/** MJML after Handlebars: MJML drops text it does not expect (a `{{#each}}` between sections), so data goes in first. */
async function renderMjml(markup: string): Promise<string | WorkerFieldError> {
  const mjml2html = await loadMjml();
  try {
    // `soft`: the markup was validated strictly at creation; data alone should not stop an email.
    const { html } = await mjml2html(markup, { ...MJML_OPTIONS, validationLevel: 'soft' });
    return html;
  } catch (error) {
    return { path: 'data', message: `the MJML does not render: ${error instanceof Error ? error.message : String(error)}` };
  }
}
