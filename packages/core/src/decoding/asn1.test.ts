// The ASN.1 reader reads BER as well as DER and fails fast, with an Asn1Error, on anything hostile.
import { describe, expect, test } from 'vitest';
import { Asn1Error, integer, octets, oid, parseAll, parseOne } from './asn1.js';

describe('ASN.1 reader', () => {
  test('reads indefinite lengths and constructed OCTET STRINGs (BER)', () => {
    // SEQUENCE (indefinite) { OCTET STRING (constructed, indefinite) { 'ab', 'cd' }, INTEGER 2048 }
    const ber = Buffer.from('3080' + '2480' + '04026162' + '04026364' + '0000' + '02020800' + '0000', 'hex');
    const node = parseOne(ber);
    expect(octets(node.children[0], 'x').toString()).toBe('abcd');
    expect(integer(node.children[1], 'x')).toBe(2048);
  });

  test('reads object identifiers with multi-byte arcs', () => {
    expect(oid(parseOne(Buffer.from('060a2a864886f70d010c0106', 'hex')), 'x')).toBe(
      '1.2.840.113549.1.12.1.6',
    );
  });

  test('reports integers too large to be an iteration count as Infinity', () => {
    expect(integer(parseOne(Buffer.from('020801ffffffffffffff', 'hex')), 'x')).toBe(Number.POSITIVE_INFINITY);
  });

  test.each([
    ['a length beyond the end', '3005020101'],
    ['a length field of 5 bytes', '308500000000010500'],
    ['an indefinite length on a primitive', '0480'],
    ['an indefinite length without end-of-contents', '30800500'],
    ['an empty input', ''],
  ])('refuses %s', (_name, hex) => {
    expect(() => parseAll(Buffer.from(hex, 'hex'))).toThrow(Asn1Error);
  });

  test('refuses deep nesting quickly instead of overflowing the stack', () => {
    const deep = Buffer.alloc(200_000);
    for (let i = 0; i < deep.length; i += 2) deep.writeUInt16BE(0x3080, i);
    const started = performance.now();
    expect(() => parseAll(deep)).toThrow(/nested deeper than/);
    expect(performance.now() - started).toBeLessThan(100);
  });
});
