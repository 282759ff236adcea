// The two ciphers Node's OpenSSL 3 refuses without its legacy provider — RC2 and single DES — which
// old PKCS#12 files (`openssl pkcs12 -export -legacy`, Windows and Java exports of the 2010s) and
// PBES1 keys still use. They come from node-forge, loaded only when a file needs them: just its
// rc2 and des modules (~10 ms), not the whole library (~45 ms). Everything else stays in node:crypto.
import { createRequire } from 'node:module';
import { CodeNeeded } from './on-demand.js';

/** Raw CBC decryption (no padding removed: the caller checks it). */
export interface LegacyCiphers {
  rc2Cbc(key: Buffer, iv: Buffer, effectiveBits: number, data: Buffer): Buffer;
  desCbc(key: Buffer, iv: Buffer, data: Buffer): Buffer;
}

/** Thrown by decoders when a legacy cipher is needed and not loaded yet; the async path loads and retries. */
export class LegacyCiphersNeeded extends CodeNeeded {
  override name = 'LegacyCiphersNeeded';
  constructor() {
    super(loadLegacyCiphers);
  }
}

/**
 * RC2/DES for the asynchronous path (loadCredentials, the resolver): throws LegacyCiphersNeeded when
 * they are not loaded yet, and decodeLoading loads them and decodes again (as encryptedCode() does for
 * the PKCS#12 readers).
 */
export function legacyCiphersOrNeeded(): LegacyCiphers {
  const ciphers = legacyCiphersIfLoaded();
  if (!ciphers) throw new LegacyCiphersNeeded();
  return ciphers;
}

// Variables, not literals: node-forge ships no types, and the modules must not load before they are needed.
const RC2 = 'node-forge/lib/rc2.js';
const DES = 'node-forge/lib/des.js';
const UTIL = 'node-forge/lib/util.js';

interface ForgeBuffer {
  getBytes(): string;
}
interface ForgeCipher {
  start(iv: ForgeBuffer | string | null): void;
  update(input: ForgeBuffer): void;
  finish(pad?: () => boolean): boolean;
  output: ForgeBuffer;
}
interface ForgeModules {
  rc2: { createDecryptionCipher(key: ForgeBuffer, bits: number): ForgeCipher };
  des: { createDecryptionCipher(key: ForgeBuffer, mode: string): ForgeCipher };
  util: { createBuffer(bytes: string, encoding?: string): ForgeBuffer };
}

let loaded: LegacyCiphers | undefined;

function wrap(m: ForgeModules): LegacyCiphers {
  const buf = (b: Buffer) => m.util.createBuffer(b.toString('latin1'), 'raw');
  const run = (cipher: ForgeCipher, iv: Buffer, data: Buffer): Buffer => {
    cipher.start(buf(iv));
    cipher.update(buf(data));
    // Padding is checked by the caller, the same way for every cipher.
    cipher.finish(() => true);
    return Buffer.from(cipher.output.getBytes(), 'latin1');
  };
  return {
    rc2Cbc: (key, iv, bits, data) => run(m.rc2.createDecryptionCipher(buf(key), bits), iv, data),
    desCbc: (key, iv, data) => run(m.des.createDecryptionCipher(buf(key), 'CBC'), iv, data),
  };
}

function unwrapDefault<T>(mod: unknown): T {
  const m = mod as { default?: T } & T;
  return m.default ?? m;
}

/** Loads the legacy ciphers with dynamic `import()` (once per process). */
export async function loadLegacyCiphers(): Promise<LegacyCiphers> {
  if (loaded) return loaded;
  const [rc2, des, util] = await Promise.all([import(RC2), import(DES), import(UTIL)]);
  loaded ??= wrap({ rc2: unwrapDefault(rc2), des: unwrapDefault(des), util: unwrapDefault(util) });
  return loaded;
}

/** The legacy ciphers if already loaded, else undefined. */
export function legacyCiphersIfLoaded(): LegacyCiphers | undefined {
  return loaded;
}

/**
 * Loads the legacy ciphers synchronously, for the synchronous `decodeMaterial()`. node-forge is
 * CommonJS, so `require` returns the same module instances a later `import()` would.
 */
export function loadLegacyCiphersSync(): LegacyCiphers {
  if (loaded) return loaded;
  const require = createRequire(import.meta.url);
  loaded = wrap({ rc2: require(RC2), des: require(DES), util: require(UTIL) });
  return loaded;
}
