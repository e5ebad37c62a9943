import { describe, expect, it } from 'vitest';
import { confirmationPage, unsubscribedPage } from './unsubscribe-pages.js';

const emailId = '7d8c3f0e-3a57-4c4b-9f11-0d3c7a1b2c3d';

describe('unsubscribe pages', () => {
  it('asks to confirm with a form that posts back to the same URL, and no script', () => {
    const html = confirmationPage({ emailId, address: 'ada@example.test', category: 'newsletter' });
    expect(html).toMatch(/<form method="post">/);
    expect(html).not.toMatch(/action=|<script/i);
    expect(html).toContain('<strong>ada@example.test</strong>');
    expect(html).toContain('our <strong>newsletter</strong> emails');
  });

  it('escapes the address (a valid local part may hold quotes and ampersands)', () => {
    const html = unsubscribedPage({ address: `o'brien&"co"<x>@example.test` });
    expect(html).toContain('o&#39;brien&amp;&quot;co&quot;&lt;x&gt;@example.test');
    expect(html).not.toContain('<x>');
  });

  it('speaks of the recipients of the email when the link names none, and of all emails without a category', () => {
    expect(confirmationPage({ emailId })).toContain('Unsubscribe the recipients of this email from our emails?');
  });
});
