import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { z } from 'zod';
import { DEFAULT_PAGE_LIMIT, mapPage, pageOf, parseOrThrow, type Page, type PageRequest } from '@app/common';
import { templateDataSchema, templateVersionSchema } from '@app/contracts';
import { CompiledTemplateCache } from './compiled-template-cache.js';
import { templateDefinitionSchema, type RenderedContent, type StoredTemplate, type TemplateDefinitionInput } from './template-definition.js';
import { TemplateRenderer, type CompiledTemplate } from './template-renderer.js';
import { TemplateNotFoundError, UnknownTemplateError } from './template.errors.js';
import { TemplatesRepository } from './templates.repository.js';

/** A stored template version as the API shows it. */
/** The keyset of the template list: the name (one row per name). */
export type TemplateListKey = [name: string];
/** The keyset of a template's versions: the version number. */
export type TemplateVersionKey = [version: number];

export interface TemplateView extends Omit<StoredTemplate, 'createdAt'> {
  createdAt: string;
}

/** A preview, or what `send()` puts in the email: the content and the version it came from. */
export interface RenderedTemplate extends RenderedContent {
  name: string;
  version: number;
}

/** `send()`'s template branch: the rendered content, the version used, and the template's time to live. */
export interface ResolvedTemplate {
  content: RenderedContent;
  template: { name: string; version: number };
  ttlSeconds?: number;
}

const previewSchema = z.strictObject({
  version: templateVersionSchema.optional(),
  data: templateDataSchema.default({}),
});
export type TemplatePreviewInput = z.input<typeof previewSchema>;

/**
 * Named, versioned templates: create a version (compiled first, so one that does not compile is
 * never stored), read them, preview them, and render one for `EmailClient.send()`.
 *
 * Invariant: a (name, version) never changes once created, so it is compiled once per process
 * and kept in a bounded cache; only "which version is the latest" is asked of the database.
 * `create()` commits on its own, never in a caller's transaction: a version that a cache may have
 * compiled can never be rolled back and its number given to other content.
 */
@Injectable()
export class TemplatesService {
  private readonly compiled = new CompiledTemplateCache();

  constructor(
    private readonly dataSource: DataSource,
    private readonly templates: TemplatesRepository,
    private readonly renderer: TemplateRenderer,
  ) {}

  /**
   * Stores the next version of a template (version 1 for a new name).
   *
   * @throws InvalidInputError listing every bad field.
   * @throws TemplateCompileError with the engine's error when a part does not compile.
   */
  async create(input: TemplateDefinitionInput): Promise<TemplateView> {
    const definition = parseOrThrow(templateDefinitionSchema, input, 'template');
    await this.renderer.compile({ ...definition, version: 0 });
    return toView(await this.templates.insertNextVersion(this.dataSource.manager, definition));
  }

  /** @throws TemplateNotFoundError */
  async get(name: string, version?: number): Promise<TemplateView> {
    const template = await this.templates.find(this.dataSource.manager, name, version);
    if (!template) throw new TemplateNotFoundError(name, version);
    return toView(template);
  }

  /** A page of the latest version of each template, by name (`nextCursor` names the page after it). */
  async list(page: PageRequest<TemplateListKey> = { limit: DEFAULT_PAGE_LIMIT }): Promise<Page<TemplateView>> {
    const rows = await this.templates.listLatest(this.dataSource.manager, page);
    return mapPage(pageOf(rows, page.limit, (t): TemplateListKey => [t.name]), toView);
  }

  /** A page of the versions of a template, newest first. @throws TemplateNotFoundError (for the first page) */
  async versions(name: string, page: PageRequest<TemplateVersionKey> = { limit: DEFAULT_PAGE_LIMIT }): Promise<Page<TemplateView>> {
    const rows = await this.templates.listVersions(this.dataSource.manager, name, page);
    if (rows.length === 0 && page.after === undefined) throw new TemplateNotFoundError(name);
    return mapPage(pageOf(rows, page.limit, (t): TemplateVersionKey => [t.version]), toView);
  }

  /**
   * Renders a version (the latest by default) with `data`, sending nothing.
   *
   * @throws TemplateNotFoundError
   * @throws TemplateDataError naming each missing variable.
   */
  async preview(name: string, input: TemplatePreviewInput): Promise<RenderedTemplate> {
    const { version, data } = parseOrThrow(previewSchema, input, 'preview');
    const compiled = await this.load(this.dataSource.manager, name, version, () => new TemplateNotFoundError(name, version));
    return { name, version: compiled.version, ...(await compiled.render(data)) };
  }

  /**
   * The template branch of `send()`: resolves the version (the latest by default, one indexed
   * look) and renders it. Runs on the caller's manager, so a template created in the same
   * transaction is found.
   *
   * @throws UnknownTemplateError (a 400: the request names what does not exist)
   * @throws TemplateDataError naming each missing variable.
   */
  async render(manager: EntityManager, name: string, version: number | undefined, data: Record<string, unknown>): Promise<ResolvedTemplate> {
    const compiled = await this.load(manager, name, version, () => new UnknownTemplateError(name, version));
    return {
      content: await compiled.render(data),
      template: { name, version: compiled.version },
      ...(compiled.ttlSeconds !== undefined && { ttlSeconds: compiled.ttlSeconds }),
    };
  }

  /** The compiled version, from the cache or else loaded and compiled once. */
  private async load(manager: EntityManager, name: string, version: number | undefined, notFound: () => Error): Promise<CompiledTemplate> {
    const resolved = version ?? (await this.templates.latestVersion(manager, name));
    if (resolved === null) throw notFound();
    return this.compiled.get(name, resolved, async () => {
      const template = await this.templates.find(manager, name, resolved);
      if (!template) throw notFound();
      return this.renderer.compile(template);
    });
  }
}

function toView(template: StoredTemplate): TemplateView {
  return { ...template, createdAt: template.createdAt.toISOString() };
}
