import { generateKeyPairSync } from 'node:crypto';
import nodemailer from 'nodemailer';
import { describe, expect, it } from 'vitest';
import { DKIM_HEADER_FIELD_NAMES, listUnsubscribeHeaders } from './list-unsubscribe.headers.js';

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

  it('names both one-click headers for the DKIM signature (RFC 8058 §4), which nodemailer signs then', async () => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
    const signedFields = async (headerFieldNames?: string): Promise<string[]> => {
      const transport = nodemailer.createTransport({
        streamTransport: true,
        buffer: true,
        dkim: {
          domainName: 'example.test',
          keySelector: 's1',
          privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
          ...(headerFieldNames && { headerFieldNames }),
        },
      });
      const info = await transport.sendMail({
        from: 'news@example.test',
        to: 'ada@example.test',
        subject: 'News',
        text: 'x',
        headers: listUnsubscribeHeaders({ lane: 'bulk', unsubscribeUrl }),
      });
      const raw = (info.message as Buffer).toString('utf8').replace(/\r\n[ \t]+/g, ' ');
      const h = /^DKIM-Signature:.*?\bh=([^;]+)/im.exec(raw)?.[1] ?? '';
      return h.replace(/\s+/g, '').toLowerCase().split(':');
    };
    expect(await signedFields()).not.toContain('list-unsubscribe-post'); // why the list exists
    expect(await signedFields(DKIM_HEADER_FIELD_NAMES)).toEqual(expect.arrayContaining(['list-unsubscribe', 'list-unsubscribe-post']));
  });
});
