import { describe, expect, it } from 'vitest';
import { pkcs12Kdf } from './pkcs12.js';

// The PKCS#12 key derivation's published test vectors (the ones OpenSSL and Bouncy Castle test with):
// 3DES key (id 1) and IV (id 2) for two passwords.
describe('pkcs12Kdf (RFC 7292 B.2, SHA-1)', () => {
  it.each([
    ['smeg', '0A58CF64530D823F', 1, 1, 24, '8AAAE6297B6CB04642AB5B077851284EB7128F1A2A7FBCA3'],
    ['smeg', '0A58CF64530D823F', 2, 1, 8, '79993DFE048D3B76'],
    ['queeg', '05DEC959ACFF72F7', 1, 1000, 24, 'ED2034E36328830FF09DF1E1A07DD357185DAC0D4F9EB3D4'],
    ['queeg', '05DEC959ACFF72F7', 2, 1000, 8, '11DEDAD7758D4860'],
  ] as const)(
    'password %s, salt %s, id %i, %i iterations',
    (password, salt, id, iterations, length, expected) => {
      expect(
        pkcs12Kdf(password, Buffer.from(salt, 'hex'), id, iterations, length).toString('hex').toUpperCase(),
      ).toBe(expected);
    },
  );
});
