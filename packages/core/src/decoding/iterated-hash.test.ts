// The JS fast path of H^n must agree with node:crypto bit for bit, for every count and input.
import { hash, randomBytes } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import { iterateHash } from './iterated-hash.js';

function reference(digest: string, input: Buffer, n: number): Buffer {
  let a = hash(digest, input, 'buffer');
  for (let i = 1; i < n; i++) a = hash(digest, a, 'buffer');
  return a;
}

describe('iterateHash', () => {
  test.each(['sha1', 'sha256', 'sha384', 'sha512', 'md5'])(
    '%s agrees with crypto.hash applied n times',
    (digest) => {
      for (const n of [1, 2, 3, 64, 2048]) {
        for (const size of [0, 1, 20, 64, 200]) {
          const input = randomBytes(size);
          expect(iterateHash(digest, input, n).toString('hex')).toBe(
            reference(digest, input, n).toString('hex'),
          );
        }
      }
    },
  );
});
