import { describe, expect, it } from 'vitest';
import { listUnsubscribeHeaders } from './list-unsubscribe.headers.js';

const unsubscribeUrl = 'https://api.example.test/v1/unsubscribe/abc.def';

describe('listUnsubscribeHeaders', () => {
  it('gives bulk mail with an unsubscribe URL the RFC 8058 one-click pair', () => {
    expect(listUnsubscribeHeaders({ lane: 'bulk', unsubscribeUrl })).toEqual({
      'List-Unsubscribe': `<${unsubscribeUrl}>`,
      'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
    });
  });

  it('gives nothing to transactional mail, even with a URL, nor to bulk mail without one', () => {
    expect(listUnsubscribeHeaders({ lane: 'transactional', unsubscribeUrl })).toEqual({});
    expect(listUnsubscribeHeaders({ lane: 'bulk' })).toEqual({});
  });
});
