import { describe, expect, it } from 'vitest';
import { templateDefinitionSchema } from './template-definition.js';

const paths = (input: unknown): string[] | undefined => templateDefinitionSchema.safeParse(input).error?.issues.map((i) => i.path.join('.'));

describe('templateDefinitionSchema', () => {
  it('defaults the engine to handlebars, variables to none, and a variable to required', () => {
    expect(templateDefinitionSchema.parse({ name: 'a', subject: 'S', text: 'T' })).toEqual({ name: 'a', engine: 'handlebars', subject: 'S', text: 'T', variables: [] });
    expect(templateDefinitionSchema.parse({ name: 'a', subject: 'S', text: 'T', variables: [{ name: 'x' }] }).variables).toEqual([{ name: 'x', required: true }]);
  });

  it('needs html or text, and html for an mjml template', () => {
    expect(paths({ name: 'a', subject: 'S' })).toEqual(['html']);
    expect(paths({ name: 'a', subject: 'S', engine: 'mjml', text: 'T' })).toEqual(['html']);
  });

  it('refuses a bad name, a multi-line subject, a variable twice, an unknown engine and a TTL out of range', () => {
    expect(paths({ name: 'Has Space', subject: 'S\nBcc: x', text: 'T', engine: 'pug', ttlSeconds: 0, variables: [{ name: 'x' }, { name: 'x' }] })).toEqual(
      expect.arrayContaining(['name', 'subject', 'engine', 'ttlSeconds', 'variables']),
    );
    expect(paths({ name: 'a', subject: 'S', text: 'T', ttlSeconds: 31 * 24 * 3600 })).toEqual(['ttlSeconds']);
    expect(paths({ name: 'a', subject: 'S', text: 'T', variables: [{ name: '9lives' }] })).toEqual(['variables.0.name']);
    expect(paths({ name: 'a', subject: 'S', text: 'T', unknown: true })).toEqual(['']);
  });
});
