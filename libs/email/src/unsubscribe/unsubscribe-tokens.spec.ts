import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { UnsubscribeTokens } from './unsubscribe-tokens.js';

const SECRET = 'a-secret-of-at-least-thirty-two-characters';
const OTHER_SECRET = 'another-secret-of-thirty-two-characters!';
const link = { emailId: '7d8c3f0e-3a57-4c4b-9f11-0d3c7a1b2c3d', address: 'ada@example.test', category: 'newsletter' };

/** `token` with the character at `index` replaced by another base64url character. */
function flip(token: string, index: number): string {
  const at = index < 0 ? token.length + index : index;
  const replacement = token[at] === 'A' ? 'B' : 'A';
  return token.slice(0, at) + replacement + token.slice(at + 1);
}

describe('UnsubscribeTokens', () => {
  const tokens = new UnsubscribeTokens([SECRET]);

  it('verifies what it signed: the email, the recipient and the category', () => {
    const token = tokens.sign(link);
    expect(token).toMatch(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/); // URL-safe as it is
    expect(tokens.verify(token)).toEqual(link);
  });

  it('signs a link without recipient (several `to`) or without category', () => {
    const { emailId } = link;
    expect(tokens.verify(tokens.sign({ emailId }))).toEqual({ emailId });
    expect(tokens.verify(tokens.sign({ emailId, address: link.address }))).toEqual({ emailId, address: link.address });
  });

  it('refuses a token whose payload or signature was changed', () => {
    const token = tokens.sign(link);
    expect(tokens.verify(flip(token, 3))).toBeNull(); // payload
    expect(tokens.verify(flip(token, -1))).toBeNull(); // last signature character, spare bits included
    expect(tokens.verify(flip(token, -20))).toBeNull();
  });

  it("refuses another email's payload under this email's signature", () => {
    const [, signature] = tokens.sign(link).split('.');
    const [otherPayload] = tokens.sign({ ...link, emailId: '0b6f2c1e-9a7d-4e2b-8c3f-1a2b3c4d5e6f' }).split('.');
    expect(tokens.verify(`${otherPayload}.${signature}`)).toBeNull();
    const [otherAddress] = tokens.sign({ ...link, address: 'victim@example.test' }).split('.');
    expect(tokens.verify(`${otherAddress}.${signature}`)).toBeNull();
  });

  it('refuses a token signed with another secret', () => {
    expect(new UnsubscribeTokens([OTHER_SECRET]).verify(tokens.sign(link))).toBeNull();
  });

  it('keeps verifying links signed with a previous secret after a rotation', () => {
    const old = tokens.sign(link);
    const rotated = new UnsubscribeTokens([OTHER_SECRET, SECRET]);
    expect(rotated.verify(old)).toEqual(link);
    expect(tokens.verify(rotated.sign(link))).toBeNull(); // the new secret signs
  });

  it.each([
    ['empty', ''],
    ['no signature', 'eyJlIjoiMSJ9'],
    ['a short signature', 'eyJlIjoiMSJ9.abc'],
    ['characters outside base64url', 'eyJl+IjoiMSJ9.' + 'A'.repeat(43)],
    ['three parts', `a.b.${'A'.repeat(43)}`],
    ['a huge payload', `${'A'.repeat(5_000)}.${'A'.repeat(43)}`],
  ])('refuses a malformed token (%s)', (_name, token) => {
    expect(tokens.verify(token)).toBeNull();
  });

  it('refuses a validly signed payload that is not a link', () => {
    // Signed as the class signs, to show the payload is validated after the signature.
    const encoded = Buffer.from(JSON.stringify({ e: 'not-a-uuid' })).toString('base64url');
    const mac = createHmac('sha256', SECRET).update('email-loop.unsubscribe.v1.').update(encoded).digest('base64url');
    expect(tokens.verify(`${encoded}.${mac}`)).toBeNull();
  });

  it('refuses short secrets and an empty list', () => {
    expect(() => new UnsubscribeTokens(['short'])).toThrow(/at least 32 characters/);
    expect(() => new UnsubscribeTokens([])).toThrow(/at least one secret/);
  });
});
