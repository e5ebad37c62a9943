import { describe, expect, it } from 'vitest';
import { parseDomainRates, parseSendRate, recipientDomains } from './send-rate.js';

describe('parseSendRate', () => {
  it('reads a count per second, minute or hour', () => {
    expect(parseSendRate('100/s')).toEqual({ points: 100, durationSeconds: 1 });
    expect(parseSendRate(' 600 / m ')).toEqual({ points: 600, durationSeconds: 60 });
    expect(parseSendRate('5000/h')).toEqual({ points: 5_000, durationSeconds: 3_600 });
  });

  it.each(['', '100', '0/s', '-1/s', '1.5/s', '10/d', '10/ms', 'ten/s'])('refuses %j', (text) => {
    expect(() => parseSendRate(text)).toThrow(/not a rate/);
  });
});

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
