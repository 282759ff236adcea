import { crc32cBitwise } from '@mtlskit/testkit';
import { describe, expect, it } from 'vitest';
import { checksumValue, crc32c } from './crc32c.js';

describe('crc32c', () => {
  it('gives the published check values (RFC 3720 B.4, the CRC catalogue)', () => {
    expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283);
    expect(crc32c(Buffer.from('hunter2'))).toBe(1736498283);
    expect(crc32c(new Uint8Array(0))).toBe(0);
    expect(crc32c(new Uint8Array(32))).toBe(0x8a9136aa);
    expect(crc32c(new Uint8Array(32).fill(0xff))).toBe(0x62a8ab43);
    expect(crc32c(Uint8Array.from({ length: 32 }, (_, i) => i))).toBe(0x46dd794e);
    expect(crc32c(Uint8Array.from({ length: 32 }, (_, i) => 31 - i))).toBe(0x113fdb5c);
  });

  it('agrees with the bit-by-bit CRC32C of the testkit emulator on random data', () => {
    for (let n = 0; n < 200; n++) {
      const data = new Uint8Array(n * 37 + (n % 7));
      for (let i = 0; i < data.length; i++) data[i] = (i * 2654435761 + n) >>> 24;
      expect(crc32c(data)).toBe(crc32cBitwise(data));
    }
  });
});

describe('checksumValue', () => {
  it('reads a number, a decimal string and a Long alike', () => {
    expect(checksumValue(1736498283)).toBe(1736498283);
    expect(checksumValue('1736498283')).toBe(1736498283);
    expect(checksumValue(1736498283n)).toBe(1736498283);
    // protobufjs Long of 4294967295: low -1 (signed), high 0.
    expect(checksumValue({ low: -1, high: 0, unsigned: false })).toBe(4294967295);
    expect(checksumValue({ low: 5, high: 1, unsigned: false })).toBe(2 ** 32 + 5);
  });

  it('reports an absent checksum as undefined and anything else as NaN', () => {
    expect(checksumValue(undefined)).toBeUndefined();
    expect(checksumValue(null)).toBeUndefined();
    expect(checksumValue('12ab')).toBeNaN();
    expect(checksumValue({})).toBeNaN();
  });
});
