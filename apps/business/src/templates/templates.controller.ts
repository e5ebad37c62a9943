import { Body, Controller, Get, HttpCode, HttpStatus, Param, Post, Query } from '@nestjs/common';
import { RequireScope } from '@app/auth';
import { z } from 'zod';
import { pageQuerySchema, pageRequestOf, parseOrThrow, type Page } from '@app/common';
import { templateNameSchema, templateVersionSchema } from '@app/contracts';
import { TemplatesService, type RenderedTemplate, type TemplateView } from '@app/email';

const pathSchema = z.object({ name: templateNameSchema });
const versionQuerySchema = z.strictObject({ version: z.coerce.number().pipe(templateVersionSchema).optional() });
/** Cursors: the last template's name; the last version's number. */
const listQuerySchema = pageQuerySchema(z.tuple([templateNameSchema])).strict();
const versionsQuerySchema = pageQuerySchema(z.tuple([templateVersionSchema])).strict();

/**
 * `/v1/templates`: create a template (or its next version), read, list, preview. Validation and
 * compilation live in `TemplatesService`; this only reads the path and the query.
 */
@Controller('v1/templates')
export class TemplatesController {
  constructor(private readonly templates: TemplatesService) {}

  @Post()
  @RequireScope('templates:write')
  create(@Body() body: unknown): Promise<TemplateView> {
    return this.templates.create(body as never);
  }

  @Get()
  @RequireScope('templates:read')
  list(@Query() query: unknown): Promise<Page<TemplateView>> {
    return this.templates.list(pageRequestOf(parseOrThrow(listQuerySchema, query, 'query')));
  }

  @Get(':name')
  @RequireScope('templates:read')
  get(@Param('name') name: string, @Query() query: unknown): Promise<TemplateView> {
    const { version } = parseOrThrow(versionQuerySchema, query, 'query');
    return this.templates.get(templateName(name), version);
  }

  @Get(':name/versions')
  @RequireScope('templates:read')
  versions(@Param('name') name: string, @Query() query: unknown): Promise<Page<TemplateView>> {
    return this.templates.versions(templateName(name), pageRequestOf(parseOrThrow(versionsQuerySchema, query, 'query')));
  }

  /** Renders without sending or storing anything: `200`, not `201`. */
  @Post(':name/preview')
  @RequireScope('templates:read')
  @HttpCode(HttpStatus.OK)
  preview(@Param('name') name: string, @Body() body: unknown): Promise<RenderedTemplate> {
    return this.templates.preview(templateName(name), (body ?? {}) as never);
  }
}

/** The `:name` of the path, refused as `400` (field `name`) when no template could have it. */
function templateName(name: string): string {
  return parseOrThrow(pathSchema, { name }, 'path').name;
}
