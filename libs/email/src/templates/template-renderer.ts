import { Injectable } from '@nestjs/common';
import Handlebars from 'handlebars';
import { compile as compileHtmlToText } from 'html-to-text';
import type mjml2htmlType from 'mjml';
import { z } from 'zod';
import { toFieldErrors, type FieldError } from '@app/common';
import { MAX_HTML_LENGTH, MAX_SUBJECT_LENGTH, MAX_TEXT_LENGTH } from '@app/contracts';
import type { RenderedContent, TemplateDefinition } from './template-definition.js';
import { TemplateCompileError, TemplateDataError } from './template.errors.js';

/** One version of a template, compiled once: renders `data` into an email's content. */
export interface CompiledTemplate {
  readonly name: string;
  readonly version: number;
  /** The template's time to live, if it has one: the email's `expiresAt` when the request gives none. */
  readonly ttlSeconds?: number;
  /** @throws TemplateDataError naming each missing variable, or what the rendered content breaks. */
  render(data: Record<string, unknown>): Promise<RenderedContent>;
}

type TemplateSource = Pick<TemplateDefinition, 'name' | 'engine' | 'subject' | 'html' | 'text' | 'variables' | 'ttlSeconds'> & { version: number };

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

/** An isolated Handlebars environment: helpers registered elsewhere in the process never reach templates. */
const handlebars = Handlebars.create();
handlebars.unregisterHelper('log');

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
 * `mjml` takes about two seconds to import: loaded on the first MJML template, so an app (or a
 * host of the package) that never uses one does not pay for it at start-up.
 */
let mjmlLoading: Promise<typeof mjml2htmlType> | undefined;
const loadMjml = (): Promise<typeof mjml2htmlType> => (mjmlLoading ??= import('mjml').then((module) => module.default));

const MJML_OPTIONS = {
  // `mj-include` would read files from the server's disk.
  ignoreIncludes: true,
} as const;

/**
 * Compiles and renders templates: Handlebars (HTML-escaped in the HTML part, strict about missing
 * variables, only safe helpers), MJML after Handlebars for `mjml` templates, and the text part
 * derived from the HTML when the template has none.
 *
 * Pure logic without I/O (MJML is async but reads nothing: includes are ignored).
 */
@Injectable()
export class TemplateRenderer {
  /**
   * Compiles every part of a template, refusing what does not compile.
   *
   * @throws TemplateCompileError with the engine's error for each part that does not compile.
   */
  async compile(template: TemplateSource): Promise<CompiledTemplate> {
    const errors: FieldError[] = [];
    const part = (field: 'subject' | 'html' | 'text', source: string | undefined, escape: boolean): HandlebarsTemplateDelegate | undefined => {
      if (source === undefined) return undefined;
      try {
        const options = { ...COMPILE_OPTIONS, noEscape: !escape };
        const finder = new UnsafeConstructFinder();
        finder.accept(handlebars.parse(source));
        if (finder.found) throw new Error(finder.found);
        // Handlebars compiles lazily; precompiling finds syntax errors and unknown helpers now.
        handlebars.precompile(source, options);
        return handlebars.compile(source, options);
      } catch (error) {
        errors.push({ path: field, message: error instanceof Error ? error.message : String(error) });
        return undefined;
      }
    };
    // Subject and text are plain text: HTML escaping would put `&amp;` in them.
    const subject = part('subject', template.subject, false);
    const html = part('html', template.html, true);
    const text = part('text', template.text, false);
    if (template.engine === 'mjml' && template.html !== undefined && html) {
      const mjmlError = await validateMjml(template.html);
      if (mjmlError) errors.push({ path: 'html', message: mjmlError });
    }
    if (errors.length > 0 || !subject) throw new TemplateCompileError(errors);

    const { name, version, engine } = template;
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
        const run = (delegate: HandlebarsTemplateDelegate): string => {
          try {
            return delegate(context);
          } catch (error) {
            throw new TemplateDataError(name, version, [strictModeFieldError(error)]);
          }
        };
        let renderedHtml = html && run(html);
        if (renderedHtml !== undefined && engine === 'mjml') renderedHtml = await renderMjml(renderedHtml, name, version);
        const content = {
          subject: run(subject),
          ...(renderedHtml !== undefined && { html: renderedHtml }),
          text: text ? run(text) : htmlToText(renderedHtml ?? ''),
        };
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
}

/**
 * Handlebars' strict mode names the missing value only in its message (`"name" not defined in …`):
 * the one place we read an engine's message, to point the caller at the field.
 */
function strictModeFieldError(error: unknown): FieldError {
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
async function renderMjml(markup: string, name: string, version: number): Promise<string> {
  const mjml2html = await loadMjml();
  try {
    // `soft`: the markup was validated strictly at creation; data alone should not stop an email.
    const { html } = await mjml2html(markup, { ...MJML_OPTIONS, validationLevel: 'soft' });
    return html;
  } catch (error) {
    throw new TemplateDataError(name, version, [{ path: 'data', message: `the MJML does not render: ${error instanceof Error ? error.message : String(error)}` }]);
  }
}
