import { InvalidInputError, NotFoundError, type FieldError } from '@app/common';

/** `/v1/templates/:name`: no template with that name, or not that version (HTTP 404). */
export class TemplateNotFoundError extends NotFoundError {
  readonly code = 'template_not_found';

  constructor(
    readonly templateName: string,
    readonly version?: number,
  ) {
    super(version === undefined ? `no template named ${templateName}` : `template ${templateName} has no version ${version}`);
  }
}

/**
 * An email request names a template (or version) that does not exist: the request is what is
 * wrong, so it is a 400 (not the 404 of the template API), with the stable code
 * `template_not_found` and a field error on `template` or `version`.
 */
export class UnknownTemplateError extends InvalidInputError {
  override readonly code = 'template_not_found';

  constructor(templateName: string, version?: number) {
    const message = version === undefined ? `no template named ${templateName}` : `template ${templateName} has no version ${version}`;
    super(`email request is invalid: ${message}`, [{ path: version === undefined ? 'template' : 'version', message }]);
  }
}

/** A template's source does not compile: refused at creation with the engine's error (HTTP 400). */
export class TemplateCompileError extends InvalidInputError {
  override readonly code = 'template_invalid';

  constructor(fieldErrors: readonly FieldError[]) {
    super(`template does not compile: ${fieldErrors.map((e) => `${e.path}: ${e.message}`).join('; ')}`, fieldErrors);
  }
}

/**
 * `data` does not fit the template: required variables missing (each named as `data.<name>`), or
 * the template referenced a value `data` does not have (Handlebars' strict mode). HTTP 400.
 */
export class TemplateDataError extends InvalidInputError {
  override readonly code = 'template_data_invalid';

  constructor(templateName: string, version: number, fieldErrors: readonly FieldError[]) {
    super(
      `data does not fit template ${templateName} v${version}: ${fieldErrors.map((e) => `${e.path}: ${e.message}`).join('; ')}`,
      fieldErrors,
    );
  }
}

/**
 * Rendering a template with this `data` passed a limit: its deadline, the size an email's content
 * may have (counted while it renders), or the render worker's memory. HTTP 400 with the stable
 * code `template_render_limit`; nothing was written. Usually a loop over too much data.
 */
export class TemplateRenderLimitError extends InvalidInputError {
  override readonly code = 'template_render_limit';

  constructor(templateName: string, version: number, fieldErrors: readonly FieldError[]) {
    super(`rendering template ${templateName} v${version} passed a limit: ${fieldErrors.map((e) => `${e.path}: ${e.message}`).join('; ')}`, fieldErrors);
  }
}
