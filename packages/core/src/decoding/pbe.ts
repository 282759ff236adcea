// Password-based decryption for PKCS#12 and encrypted private keys: the PKCS#12 key derivation
// (RFC 7292 appendix B), PBES1/PBKDF1, PBES2 with PBKDF2 or scrypt (RFC 8018), and OpenSSL's
// traditional `Proc-Type: 4,ENCRYPTED` keys. Decoding them here rather than through OpenSSL lets core
// refuse an absurd iteration count *before* spending it, and lets one code path read every cipher:
// node:crypto for AES and 3DES, the lazily loaded legacy ciphers for RC2 and DES.
import { createDecipheriv, hash, pbkdf2Sync, scryptSync } from 'node:crypto';
import { type Asn1Node, algorithm, integer, isUniversal, octets, sequence, TAG } from './asn1.js';
import { type IterationBudget, PbeError } from './budget.js';
import { iterateHash, iterationCost } from './iterated-hash.js';
import type { LegacyCiphers } from './legacy-ciphers.js';
import { LIMITS } from './limits.js';

export { IterationBudget, PbeError, type PbeFailure } from './budget.js';

export interface PbeOptions {
  budget: IterationBudget;
  /** Returns RC2/DES, or throws LegacyCiphersNeeded when they are not loaded and cannot be. */
  legacy: () => LegacyCiphers;
}

/** Hash output (u) and block (v) sizes in bytes, for the PKCS#12 KDF and HMAC. */
export const HASHES: Record<string, { u: number; v: number }> = {
  md5: { u: 16, v: 64 },
  sha1: { u: 20, v: 64 },
  sha224: { u: 28, v: 64 },
  sha256: { u: 32, v: 64 },
  sha384: { u: 48, v: 128 },
  sha512: { u: 64, v: 128 },
  'sha512-224': { u: 28, v: 128 },
  'sha512-256': { u: 32, v: 128 },
};

/** Digest OIDs (as in DigestInfo) and HMAC OIDs (as PBKDF2/PBMAC1 PRFs) to node:crypto names. */
export const DIGEST_OIDS: Record<string, string> = {
  '1.3.14.3.2.26': 'sha1',
  '2.16.840.1.101.3.4.2.4': 'sha224',
  '2.16.840.1.101.3.4.2.1': 'sha256',
  '2.16.840.1.101.3.4.2.2': 'sha384',
  '2.16.840.1.101.3.4.2.3': 'sha512',
  '2.16.840.1.101.3.4.2.5': 'sha512-224',
  '2.16.840.1.101.3.4.2.6': 'sha512-256',
  '1.2.840.113549.2.5': 'md5',
};
export const HMAC_OIDS: Record<string, string> = {
  '1.2.840.113549.2.7': 'sha1',
  '1.2.840.113549.2.8': 'sha224',
  '1.2.840.113549.2.9': 'sha256',
  '1.2.840.113549.2.10': 'sha384',
  '1.2.840.113549.2.11': 'sha512',
  '1.2.840.113549.2.12': 'sha512-224',
  '1.2.840.113549.2.13': 'sha512-256',
};

const OID_PBES2 = '1.2.840.113549.1.5.13';
export const OID_PBKDF2 = '1.2.840.113549.1.5.12';
export const OID_PBMAC1 = '1.2.840.113549.1.5.14';
const OID_SCRYPT = '1.3.6.1.4.1.11591.4.11';

interface CipherSpec {
  name: string;
  keyLength: number;
  blockSize: number;
  /** node:crypto cipher name, or the legacy cipher to use. */
  impl: { native: string } | { rc2Bits: number } | { des: true };
}

const AES = (bits: number): CipherSpec => ({
  name: `AES-${bits}-CBC`,
  keyLength: bits / 8,
  blockSize: 16,
  impl: { native: `aes-${bits}-cbc` },
});
const DES_EDE3: CipherSpec = {
  name: '3DES-CBC',
  keyLength: 24,
  blockSize: 8,
  impl: { native: 'des-ede3-cbc' },
};
const DES_EDE: CipherSpec = {
  name: '2-key 3DES-CBC',
  keyLength: 16,
  blockSize: 8,
  impl: { native: 'des-ede-cbc' },
};
const DES: CipherSpec = { name: 'DES-CBC', keyLength: 8, blockSize: 8, impl: { des: true } };
const RC2 = (keyLength: number, bits: number): CipherSpec => ({
  name: `RC2-${bits}-CBC`,
  keyLength,
  blockSize: 8,
  impl: { rc2Bits: bits },
});

/** PKCS#12 PBE algorithms (pbeWithSHAAnd…), keyed by the last arc of 1.2.840.113549.1.12.1. */
const PKCS12_PBE: Record<string, CipherSpec | string> = {
  '1.2.840.113549.1.12.1.1': 'RC4-128',
  '1.2.840.113549.1.12.1.2': 'RC4-40',
  '1.2.840.113549.1.12.1.3': DES_EDE3,
  '1.2.840.113549.1.12.1.4': DES_EDE,
  '1.2.840.113549.1.12.1.5': RC2(16, 128),
  '1.2.840.113549.1.12.1.6': RC2(5, 40),
};

/** PBES1 (PKCS#5 v1.5): digest and cipher. */
const PBES1: Record<string, { digest: string; cipher: CipherSpec }> = {
  '1.2.840.113549.1.5.3': { digest: 'md5', cipher: DES },
  '1.2.840.113549.1.5.10': { digest: 'sha1', cipher: DES },
  '1.2.840.113549.1.5.6': { digest: 'md5', cipher: RC2(8, 64) },
  '1.2.840.113549.1.5.11': { digest: 'sha1', cipher: RC2(8, 64) },
};

/** PBES2 encryption schemes; the IV (and RC2's version) is in the parameters. */
const PBES2_CIPHERS: Record<string, CipherSpec> = {
  '2.16.840.1.101.3.4.1.2': AES(128),
  '2.16.840.1.101.3.4.1.22': AES(192),
  '2.16.840.1.101.3.4.1.42': AES(256),
  '1.2.840.113549.3.7': DES_EDE3,
  '1.3.14.3.2.7': DES,
  '1.2.840.113549.3.2': RC2(16, 128),
};

/** Traditional PEM encryption (`DEK-Info:` names). */
const DEK_CIPHERS: Record<string, CipherSpec> = {
  'DES-EDE3-CBC': DES_EDE3,
  'DES-EDE-CBC': DES_EDE,
  'DES-CBC': DES,
  'AES-128-CBC': AES(128),
  'AES-192-CBC': AES(192),
  'AES-256-CBC': AES(256),
  'RC2-CBC': RC2(16, 128),
  'RC2-64-CBC': RC2(8, 64),
  'RC2-40-CBC': RC2(5, 40),
};

/** The password as PKCS#12 wants it: UTF-16BE with a trailing NUL; `null` is the zero-length "no password". */
export function bmpPassword(password: string | null): Buffer {
  if (password === null) return Buffer.alloc(0);
  const le = Buffer.from(`${password}\0`, 'utf16le');
  return le.swap16();
}

function repeatTo(src: Buffer, length: number): Buffer {
  const out = Buffer.alloc(length);
  for (let i = 0; i < length; i++) out[i] = src[i % src.length]!;
  return out;
}

/** RFC 7292 appendix B.2: `id` 1 derives keys, 2 IVs, 3 MAC keys. */
export function pkcs12Kdf(
  digest: string,
  password: Buffer,
  salt: Buffer,
  id: number,
  iterations: number,
  length: number,
  budget: IterationBudget,
): Buffer {
  const sizes = HASHES[digest];
  if (!sizes) throw new PbeError('unsupported', `PKCS#12 key derivation with ${digest}`);
  const { u, v } = sizes;
  const blocks = Math.ceil(length / u);
  budget.spend(iterations, 'the PKCS#12 key derivation', iterations * blocks * iterationCost(digest));
  return budget.derive(['pkcs12', digest, password, salt, id, iterations, length], () =>
    pkcs12KdfRun(digest, password, salt, id, iterations, length, u, v),
  );
}

function pkcs12KdfRun(
  digest: string,
  password: Buffer,
  salt: Buffer,
  id: number,
  iterations: number,
  length: number,
  u: number,
  v: number,
): Buffer {
  const blocks = Math.ceil(length / u);
  const S = salt.length ? repeatTo(salt, v * Math.ceil(salt.length / v)) : Buffer.alloc(0);
  const P = password.length ? repeatTo(password, v * Math.ceil(password.length / v)) : Buffer.alloc(0);
  const I = Buffer.concat([S, P]);
  const D = Buffer.alloc(v, id);
  const out: Buffer[] = [];
  for (let i = 0; i < blocks; i++) {
    const A = iterateHash(digest, Buffer.concat([D, I]), iterations);
    out.push(A);
    if (i + 1 < blocks) {
      const B = repeatTo(A, v);
      // I_j = (I_j + B + 1) mod 2^(8v), for each v-byte block of I.
      for (let j = 0; j < I.length; j += v) {
        let carry = 1;
        for (let k = v - 1; k >= 0; k--) {
          const sum = I[j + k]! + B[k]! + carry;
          I[j + k] = sum & 0xff;
          carry = sum >> 8;
        }
      }
    }
  }
  return Buffer.concat(out).subarray(0, length);
}

function unpad(data: Buffer, blockSize: number): Buffer {
  const n = data[data.length - 1] ?? 0;
  if (n < 1 || n > blockSize || n > data.length) throw new PbeError('bad-decrypt', 'bad padding');
  for (let i = data.length - n; i < data.length; i++) {
    if (data[i] !== n) throw new PbeError('bad-decrypt', 'bad padding');
  }
  return data.subarray(0, data.length - n);
}

function cbcDecrypt(spec: CipherSpec, key: Buffer, iv: Buffer, data: Buffer, opts: PbeOptions): Buffer {
  if (data.length === 0 || data.length % spec.blockSize !== 0) {
    throw new PbeError('malformed', `${spec.name} ciphertext is not a whole number of blocks`);
  }
  if (iv.length !== spec.blockSize) throw new PbeError('malformed', `${spec.name} IV has the wrong length`);
  let plain: Buffer;
  if ('native' in spec.impl) {
    const d = createDecipheriv(spec.impl.native, key, iv);
    d.setAutoPadding(false);
    plain = Buffer.concat([d.update(data), d.final()]);
  } else if ('des' in spec.impl) {
    plain = opts.legacy().desCbc(key, iv, data);
  } else {
    plain = opts.legacy().rc2Cbc(key, iv, spec.impl.rc2Bits, data);
  }
  return unpad(plain, spec.blockSize);
}

/**
 * Asks for RC2/DES before a derivation is spent on them: on the asynchronous path the first such
 * file throws LegacyCiphersNeeded here, and the decode runs again once they are loaded.
 */
function needsCipher(spec: CipherSpec, opts: PbeOptions): void {
  if (!('native' in spec.impl)) opts.legacy();
}

/** The secret bytes of a password for PBES1/PBES2 (raw UTF-8, as OpenSSL uses it). */
function utf8Password(password: string | null): Buffer {
  return Buffer.from(password ?? '', 'utf8');
}

/** A human-readable name of a PBE AlgorithmIdentifier, for messages. */
export function describePbe(alg: { oid: string; params: Asn1Node | undefined }): string {
  const p12 = PKCS12_PBE[alg.oid];
  if (p12) return `PKCS#12 PBE with SHA-1 and ${typeof p12 === 'string' ? p12 : p12.name}`;
  const p1 = PBES1[alg.oid];
  if (p1) return `PBES1 with ${p1.digest.toUpperCase()} and ${p1.cipher.name}`;
  if (alg.oid === OID_PBES2) {
    try {
      const [kdf, enc] = sequence(alg.params, 'PBES2 parameters', 2);
      const k = algorithm(kdf, 'PBES2 key derivation');
      const e = algorithm(enc, 'PBES2 encryption scheme');
      const cipher = PBES2_CIPHERS[e.oid]?.name ?? `cipher ${e.oid}`;
      if (k.oid === OID_SCRYPT) return `PBES2 (scrypt, ${cipher})`;
      const prf = sequence(k.params, 'PBKDF2 parameters').find((n) => isUniversal(n, TAG.SEQUENCE));
      const prfName = prf ? (HMAC_OIDS[algorithm(prf, 'PRF').oid] ?? 'unknown PRF') : 'sha1';
      return `PBES2 (PBKDF2-${prfName.toUpperCase()}, ${cipher})`;
    } catch {
      return 'PBES2';
    }
  }
  return `algorithm ${alg.oid}`;
}

// OpenSSL's PBKDF2 runs ~0.45 µs per iteration with these, ~1.4 µs with SHA-384/512 and MD5.
const FAST_PBKDF2_PRFS = new Set(['sha1', 'sha224', 'sha256']);

/** PBKDF2 with a cost check first; `prf` is a node:crypto digest name. */
export function pbkdf2(
  password: Buffer,
  salt: Buffer,
  iterations: number,
  length: number,
  prf: string,
  budget: IterationBudget,
): Buffer {
  const blocks = Math.ceil(length / (HASHES[prf]?.u ?? 20));
  budget.spend(iterations, 'PBKDF2', iterations * blocks * (FAST_PBKDF2_PRFS.has(prf) ? 1 : 3));
  return budget.derive(['pbkdf2', prf, password, salt, iterations, length], () =>
    pbkdf2Sync(password, salt, iterations, length, prf),
  );
}

/** Reads PBKDF2-params: salt, iteration count, optional key length and PRF. */
export function pbkdf2Params(params: Asn1Node | undefined): {
  salt: Buffer;
  iterations: number;
  keyLength: number | undefined;
  prf: string;
} {
  const parts = sequence(params, 'PBKDF2 parameters', 2);
  if (!isUniversal(parts[0], TAG.OCTET_STRING)) {
    throw new PbeError('unsupported', 'PBKDF2 with a salt from another source');
  }
  const salt = octets(parts[0], 'PBKDF2 salt');
  const iterations = integer(parts[1], 'PBKDF2 iteration count');
  let keyLength: number | undefined;
  let prf = 'sha1';
  for (const part of parts.slice(2)) {
    if (isUniversal(part, TAG.INTEGER)) keyLength = integer(part, 'PBKDF2 key length');
    else {
      const alg = algorithm(part, 'PBKDF2 PRF');
      const name = HMAC_OIDS[alg.oid];
      if (!name) throw new PbeError('unsupported', `PBKDF2 with PRF ${alg.oid}`);
      prf = name;
    }
  }
  if (keyLength !== undefined && (keyLength < 1 || keyLength > 64)) {
    throw new PbeError('malformed', 'PBKDF2 key length out of range');
  }
  return { salt, iterations, keyLength, prf };
}

function pbes2(
  params: Asn1Node | undefined,
  data: Buffer,
  password: string | null,
  opts: PbeOptions,
): Buffer {
  const [kdfNode, encNode] = sequence(params, 'PBES2 parameters', 2);
  const kdf = algorithm(kdfNode, 'PBES2 key derivation');
  const enc = algorithm(encNode, 'PBES2 encryption scheme');
  let spec = PBES2_CIPHERS[enc.oid];
  if (!spec) throw new PbeError('unsupported', `PBES2 with cipher ${enc.oid}`);
  let iv: Buffer;
  if ('rc2Bits' in spec.impl) {
    // RC2-CBC-Parameter: an optional "version" that encodes the effective key bits, then the IV.
    const parts = isUniversal(enc.params, TAG.SEQUENCE) ? sequence(enc.params, 'RC2 parameters', 1) : [];
    const version = parts.length > 1 ? integer(parts[0], 'RC2 version') : undefined;
    const known: Record<number, number> = { 160: 40, 120: 64, 58: 128 };
    const bits = version === undefined ? 32 : version >= 256 && version <= 1024 ? version : known[version];
    if (bits === undefined) throw new PbeError('malformed', 'RC2 parameters with an unknown version');
    iv = octets(parts[parts.length - 1], 'RC2 IV');
    spec = RC2(spec.keyLength, bits);
  } else {
    if (!isUniversal(enc.params, TAG.OCTET_STRING))
      throw new PbeError('malformed', 'PBES2 cipher without an IV');
    iv = octets(enc.params, 'PBES2 IV');
  }
  needsCipher(spec, opts);
  const pw = utf8Password(password);
  let key: Buffer;
  if (kdf.oid === OID_PBKDF2) {
    const p = pbkdf2Params(kdf.params);
    const keyLength = 'rc2Bits' in spec.impl ? (p.keyLength ?? spec.keyLength) : spec.keyLength;
    if (p.keyLength !== undefined && p.keyLength !== keyLength) {
      throw new PbeError('malformed', 'PBKDF2 key length does not match the cipher');
    }
    key = pbkdf2(pw, p.salt, p.iterations, keyLength, p.prf, opts.budget);
  } else if (kdf.oid === OID_SCRYPT) {
    const parts = sequence(kdf.params, 'scrypt parameters', 4);
    const salt = octets(parts[0], 'scrypt salt');
    const N = integer(parts[1], 'scrypt cost');
    const r = integer(parts[2], 'scrypt block size');
    const p = integer(parts[3], 'scrypt parallelization');
    // Time grows with N·r·p and memory with 128·N·r bytes: one bound on N·r·p caps both.
    if (N * r * p > LIMITS.maxScryptCost) {
      throw new PbeError(
        'limit',
        `scrypt with N=${N}, r=${r}, p=${p} asks for more work than mtlskit's limit (N·r·p ≤ 2^20)`,
      );
    }
    const invalid = () => new PbeError('malformed', `scrypt parameters N=${N}, r=${r}, p=${p} are not valid`);
    if (N < 2 || (N & (N - 1)) !== 0 || r < 1 || p < 1) throw invalid();
    // One N·r·p step costs about one budget unit (~0.5 µs): N=2^17, r=8, p=1 is 2^20 units, ~0.6 s.
    opts.budget.charge(N * r * p);
    const keyLength = spec.keyLength;
    key = opts.budget.derive(['scrypt', pw, salt, N, r, p, keyLength], () => {
      try {
        return scryptSync(pw, salt, keyLength, { N, r, p, maxmem: 128 * N * r + 16 * 1024 * 1024 });
      } catch {
        // OpenSSL's own checks (e.g. N below 2^(16·r)): the file's fault whatever the passphrase.
        throw invalid();
      }
    });
  } else {
    throw new PbeError('unsupported', `PBES2 with key derivation ${kdf.oid}`);
  }
  return cbcDecrypt(spec, key, iv, data, opts);
}

/**
 * Decrypts `data` encrypted under the password-based scheme `alg` (an EncryptedPrivateKeyInfo's or
 * a PKCS#12 EncryptedData's algorithm). `null` is "no password". Throws PbeError.
 */
export function decryptPbe(
  alg: { oid: string; params: Asn1Node | undefined },
  data: Buffer,
  password: string | null,
  opts: PbeOptions,
): Buffer {
  if (alg.oid === OID_PBES2) return pbes2(alg.params, data, password, opts);
  const p12 = PKCS12_PBE[alg.oid];
  const p1 = PBES1[alg.oid];
  if (!p12 && !p1) throw new PbeError('unsupported', describePbe(alg));
  if (typeof p12 === 'string')
    throw new PbeError('unsupported', `${describePbe(alg)} (RC4 is not supported)`);
  const parts = sequence(alg.params, 'PBE parameters', 2);
  const salt = octets(parts[0], 'PBE salt');
  const iterations = integer(parts[1], 'PBE iteration count');
  needsCipher(p12 || p1!.cipher, opts);
  if (p12) {
    const pw = bmpPassword(password);
    const key = pkcs12Kdf('sha1', pw, salt, 1, iterations, p12.keyLength, opts.budget);
    const iv = pkcs12Kdf('sha1', pw, salt, 2, iterations, 8, opts.budget);
    return cbcDecrypt(p12, key, iv, data, opts);
  }
  const { digest, cipher } = p1!;
  // PBKDF1: T = H^c(P || S); key = T[0..8], IV = T[8..16].
  opts.budget.spend(iterations, 'PBKDF1', iterations * iterationCost(digest));
  const input = Buffer.concat([utf8Password(password), salt]);
  const t = opts.budget.derive(['pbkdf1', digest, input, iterations], () =>
    iterateHash(digest, input, iterations),
  );
  return cbcDecrypt(cipher, t.subarray(0, 8), t.subarray(8, 16), data, opts);
}

/** OpenSSL's EVP_BytesToKey with MD5 and one iteration, as traditional PEM encryption uses. */
function bytesToKey(password: Buffer, salt: Buffer, length: number): Buffer {
  const parts: Buffer[] = [];
  let prev = Buffer.alloc(0);
  let total = 0;
  while (total < length) {
    prev = hash('md5', Buffer.concat([prev, password, salt]), 'buffer');
    parts.push(prev);
    total += prev.length;
  }
  return Buffer.concat(parts).subarray(0, length);
}

/** Decrypts the body of a `Proc-Type: 4,ENCRYPTED` PEM key given its `DEK-Info` header. */
export function decryptTraditional(
  dekInfo: string,
  data: Buffer,
  password: string,
  opts: PbeOptions,
): Buffer {
  const [name = '', ivHex = ''] = dekInfo.split(',').map((s) => s.trim());
  const spec = DEK_CIPHERS[name.toUpperCase()];
  if (!spec)
    throw new PbeError('unsupported', `traditional PEM encryption with ${name || 'no cipher named'}`);
  if (!/^[0-9a-fA-F]+$/.test(ivHex) || ivHex.length !== spec.blockSize * 2) {
    throw new PbeError('malformed', 'DEK-Info has no valid IV');
  }
  const iv = Buffer.from(ivHex, 'hex');
  const key = bytesToKey(utf8Password(password), iv.subarray(0, 8), spec.keyLength);
  return cbcDecrypt(spec, key, iv, data, opts);
}
