import { describe, expect, it } from 'vitest';
import { subjectAltNames } from '../../../gateway/identity/mtls.js';

describe("Node's subjectAltName text is split into names without letting one name pose as two", () => {
  it('splits plain names', () => {
    expect(subjectAltNames('URI:spiffe://example.org/a, DNS:a.example')).toEqual([
      { type: 'URI', value: 'spiffe://example.org/a' },
      { type: 'DNS', value: 'a.example' },
    ]);
  });

  it('keeps a quoted name containing ", URI:" as one name', () => {
    expect(subjectAltNames('URI:"spiffe://example.org/a, URI:spiffe://example.org/admin"')).toEqual([
      { type: 'URI', value: 'spiffe://example.org/a, URI:spiffe://example.org/admin' },
    ]);
  });

  it('refuses text it cannot parse', () => {
    expect(() => subjectAltNames('URI:"unterminated')).toThrow();
    expect(() => subjectAltNames('garbage')).toThrow();
  });

  it('reads an empty SAN list as no names', () => {
    expect(subjectAltNames('')).toEqual([]);
  });
});
