import { z } from 'zod';
import { MAX_HTML_LENGTH, MAX_SUBJECT_LENGTH, MAX_TEXT_LENGTH, templateNameSchema } from '@app/contracts';

/** `handlebars`: Handlebars in every part. `mjml`: the HTML part is MJML markup with Handlebars expressions. */
export const TEMPLATE_ENGINES = ['handlebars', 'mjml'] as const;
export type TemplateEngine = (typeof TEMPLATE_ENGINES)[number];

/** The longest time to live a template may give its emails: 30 days. */
export const MAX_TEMPLATE_TTL_SECONDS = 30 * 24 * 3600;

const variableSchema = z.strictObject({
  name: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/, 'letters, digits and `_`, not starting with a digit, at most 64'),
  /** A required variable must be in `data`; an optional one renders as empty when absent. */
  required: z.boolean().default(true),
  description: z.string().max(500).optional(),
});

/** The body of `POST /v1/templates` (`TemplatesService.create()`): one version of a named template. */
export const templateDefinitionSchema = z
  .strictObject({
    name: templateNameSchema,
    engine: z.enum(TEMPLATE_ENGINES).default('handlebars'),
    subject: z
      .string()
      .min(1, 'must not be empty')
      .max(MAX_SUBJECT_LENGTH)
      .refine((s) => !/[\r\n]/.test(s), 'must not contain CR or LF'),
    html: z.string().min(1, 'must not be empty').max(MAX_HTML_LENGTH).optional(),
    text: z.string().min(1, 'must not be empty').max(MAX_TEXT_LENGTH).optional(),
    variables: z
      .array(variableSchema)
      .max(100, 'at most 100 variables')
      .default([])
      .refine((vars) => new Set(vars.map((v) => v.name)).size === vars.length, 'each variable once'),
    /** Seconds an email rendered from this template may wait to be sent: its `expiresAt` when the request gives none. */
    ttlSeconds: z.number().int().min(1).max(MAX_TEMPLATE_TTL_SECONDS).optional(),
  })
  .superRefine((t, ctx) => {
    if (t.engine === 'mjml' && t.html === undefined) ctx.addIssue({ code: 'custom', path: ['html'], message: 'an mjml template needs its MJML markup in html' });
    else if (t.html === undefined && t.text === undefined) ctx.addIssue({ code: 'custom', path: ['html'], message: 'either html or text is required' });
  });

export type TemplateDefinitionInput = z.input<typeof templateDefinitionSchema>;
export type TemplateDefinition = z.output<typeof templateDefinitionSchema>;
export type TemplateVariable = TemplateDefinition['variables'][number];

/** A stored version of a template: immutable once created. */
export interface StoredTemplate extends TemplateDefinition {
  version: number;
  createdAt: Date;
}

/** What a template renders to: the content of one email. */
export interface RenderedContent {
  subject: string;
  html?: string;
  text: string;
}
