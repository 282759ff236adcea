// H^n(x): a hash applied to its own output n times, the inner loop of the PKCS#12 key derivation
// (RFC 7292 B.2) and of PBKDF1. Node has no native API for either, and a crypto.hash() call costs
// ~2 µs of JS/C++ crossing for ~0.25 µs of hashing; one SHA-1 or SHA-256 block compressed in JS costs
// ~0.5 µs. So the repeats run here for those two digests (every PKCS#12 in the wild uses one of them),
// and through crypto.hash() for the rest. Checked against crypto.hash in iterated-hash.test.ts.
import { hash } from 'node:crypto';

const SHA1_IV = [0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0];
const SHA256_IV = [
  0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];
// biome-ignore format: a table of constants reads best in rows.
const SHA256_K = new Int32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);

function toWords(digest: Buffer, words: number): Int32Array {
  const out = new Int32Array(words);
  for (let i = 0; i < words; i++) out[i] = digest.readInt32BE(i * 4);
  return out;
}

function fromWords(h: Int32Array): Buffer {
  const out = Buffer.alloc(h.length * 4);
  for (let i = 0; i < h.length; i++) out.writeInt32BE(h[i]!, i * 4);
  return out;
}

/** Replaces the 20-byte digest in `h` by SHA-1 of it, `times` times. */
function sha1Repeat(h: Int32Array, times: number): void {
  const w = new Int32Array(80);
  for (let n = 0; n < times; n++) {
    // One block: the 20-byte message, the 0x80 marker, zeros, and the bit length 160.
    for (let i = 0; i < 5; i++) w[i] = h[i]!;
    w[5] = 0x80000000 | 0;
    for (let i = 6; i < 15; i++) w[i] = 0;
    w[15] = 160;
    for (let i = 16; i < 80; i++) {
      const x = w[i - 3]! ^ w[i - 8]! ^ w[i - 14]! ^ w[i - 16]!;
      w[i] = (x << 1) | (x >>> 31);
    }
    let a = SHA1_IV[0]! | 0;
    let b = SHA1_IV[1]! | 0;
    let c = SHA1_IV[2]! | 0;
    let d = SHA1_IV[3]! | 0;
    let e = SHA1_IV[4]! | 0;
    for (let i = 0; i < 80; i++) {
      let f: number;
      let k: number;
      if (i < 20) {
        f = (b & c) | (~b & d);
        k = 0x5a827999;
      } else if (i < 40) {
        f = b ^ c ^ d;
        k = 0x6ed9eba1;
      } else if (i < 60) {
        f = (b & c) | (b & d) | (c & d);
        k = 0x8f1bbcdc | 0;
      } else {
        f = b ^ c ^ d;
        k = 0xca62c1d6 | 0;
      }
      const t = (((a << 5) | (a >>> 27)) + f + e + k + w[i]!) | 0;
      e = d;
      d = c;
      c = (b << 30) | (b >>> 2);
      b = a;
      a = t;
    }
    h[0] = (SHA1_IV[0]! + a) | 0;
    h[1] = (SHA1_IV[1]! + b) | 0;
    h[2] = (SHA1_IV[2]! + c) | 0;
    h[3] = (SHA1_IV[3]! + d) | 0;
    h[4] = (SHA1_IV[4]! + e) | 0;
  }
}

/** Replaces the 32-byte digest in `h` by SHA-256 of it, `times` times. */
function sha256Repeat(h: Int32Array, times: number): void {
  const w = new Int32Array(64);
  for (let n = 0; n < times; n++) {
    for (let i = 0; i < 8; i++) w[i] = h[i]!;
    w[8] = 0x80000000 | 0;
    for (let i = 9; i < 15; i++) w[i] = 0;
    w[15] = 256;
    for (let i = 16; i < 64; i++) {
      const x = w[i - 15]!;
      const y = w[i - 2]!;
      const s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
      const s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
      w[i] = (w[i - 16]! + s0 + w[i - 7]! + s1) | 0;
    }
    let a = SHA256_IV[0]! | 0;
    let b = SHA256_IV[1]! | 0;
    let c = SHA256_IV[2]! | 0;
    let d = SHA256_IV[3]! | 0;
    let e = SHA256_IV[4]! | 0;
    let f = SHA256_IV[5]! | 0;
    let g = SHA256_IV[6]! | 0;
    let k = SHA256_IV[7]! | 0;
    for (let i = 0; i < 64; i++) {
      const s1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
      const ch = (e & f) ^ (~e & g);
      const t1 = (k + s1 + ch + SHA256_K[i]! + w[i]!) | 0;
      const s0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
      const maj = (a & b) ^ (a & c) ^ (b & c);
      const t2 = (s0 + maj) | 0;
      k = g;
      g = f;
      f = e;
      e = (d + t1) | 0;
      d = c;
      c = b;
      b = a;
      a = (t1 + t2) | 0;
    }
    h[0] = (SHA256_IV[0]! + a) | 0;
    h[1] = (SHA256_IV[1]! + b) | 0;
    h[2] = (SHA256_IV[2]! + c) | 0;
    h[3] = (SHA256_IV[3]! + d) | 0;
    h[4] = (SHA256_IV[4]! + e) | 0;
    h[5] = (SHA256_IV[5]! + f) | 0;
    h[6] = (SHA256_IV[6]! + g) | 0;
    h[7] = (SHA256_IV[7]! + k) | 0;
  }
}

/**
 * What one repeat of `digest` costs in {@link iterateHash}, in budget units of one SHA-1 repeat
 * (measured on Node 20, x64: SHA-1 ~0.6 µs, SHA-256 ~0.95 µs in JS; MD5, SHA-224/384/512 ~1.4–2.2 µs
 * through crypto.hash): the iteration budget charges this, so a hostile file cannot pick a slow
 * digest to multiply the time its iteration limits allow.
 */
export function iterationCost(digest: string): number {
  if (digest === 'sha1') return 1;
  return digest === 'sha256' ? 2 : 4;
}

/** `digest` applied `iterations` times (≥ 1) to `input`: H(input), then H(H(input)), ... */
export function iterateHash(digest: string, input: Buffer, iterations: number): Buffer {
  const first = hash(digest, input, 'buffer');
  if (iterations <= 1) return first;
  if (digest === 'sha1') {
    const h = toWords(first, 5);
    sha1Repeat(h, iterations - 1);
    return fromWords(h);
  }
  if (digest === 'sha256') {
    const h = toWords(first, 8);
    sha256Repeat(h, iterations - 1);
    return fromWords(h);
  }
  let a = first;
  for (let i = 1; i < iterations; i++) a = hash(digest, a, 'buffer');
  return a;
}
