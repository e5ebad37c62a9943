import { describe, expect, it } from 'vitest';
import { parseDomainRates, recipientDomains } from './send-rate.js';

describe('parseDomainRates', () => {
  it('reads domain:rate pairs, domains in lower case', () => {
    expect(parseDomainRates('Gmail.com:20/s, yahoo.com:600/m')).toEqual(
      new Map([
        ['gmail.com', { points: 20, durationSeconds: 1 }],
        ['yahoo.com', { points: 600, durationSeconds: 60 }],
      ]),
    );
    expect(parseDomainRates('')).toEqual(new Map());
  });

  it('refuses a bad domain, a bad rate or a domain given twice', () => {
    expect(() => parseDomainRates('gmail:20/s')).toThrow(/domain:rate/);
    expect(() => parseDomainRates('20/s')).toThrow(/domain:rate/);
    expect(() => parseDomainRates('gmail.com:fast')).toThrow(/not a rate/);
    expect(() => parseDomainRates('gmail.com:1/s,GMAIL.com:2/s')).toThrow(/twice/);
  });
});

describe('recipientDomains', () => {
  it('gives each domain once, in lower case', () => {
    expect(recipientDomains(['a@Gmail.com', 'b@gmail.com', 'c@yahoo.com', '"x@y"@example.org'])).toEqual(['gmail.com', 'yahoo.com', 'example.org']);
  });
});
