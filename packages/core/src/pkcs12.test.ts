// PKCS#12 reading beyond the decode matrix: BER-encoded files, the iteration budget, and loading the
// legacy ciphers only for the files that need them.
import { hasOpenssl, type IssuedCert, TestCA } from '@mtlskit/testkit';
import { beforeAll, describe, expect, test } from 'vitest';
import { parseOne } from './asn1.js';
import { decodeMaterial } from './decode.js';
import { legacyCiphersIfLoaded } from './legacy-ciphers.js';
import { LIMITS } from './limits.js';
import { loadCredentials } from './load.js';
import { IterationBudget, PbeError } from './pbe.js';

const PASSPHRASE = 'pkcs12 test password';
let leaf: IssuedCert;

beforeAll(async () => {
  const root = await TestCA.create();
  leaf = await (await root.intermediate()).issueClient({ validForSeconds: 90 * 86_400 });
}, 60_000);

/** One BER element with an indefinite length. */
function indefinite(tag: number, ...content: Uint8Array[]): Buffer {
  return Buffer.concat([Buffer.from([tag, 0x80]), ...content, Buffer.from([0, 0])]);
}

function primitive(tag: number, content: Uint8Array): Buffer {
  const n = content.length;
  const len = n < 0x80 ? [n] : n < 0x100 ? [0x81, n] : [0x82, n >> 8, n & 0xff];
  return Buffer.concat([Buffer.from([tag, ...len]), content]);
}

/** Re-encodes a PFX's outer layers as BER (indefinite lengths, the content OCTET STRING in 100-byte pieces). */
function toBer(pfx: Buffer): Buffer {
  const [version, authSafe, macData] = parseOne(pfx).children;
  const [contentType, explicit] = authSafe!.children;
  const content = explicit!.children[0]!.content;
  const pieces: Buffer[] = [];
  for (let i = 0; i < content.length; i += 100) pieces.push(primitive(0x04, content.subarray(i, i + 100)));
  return indefinite(
    0x30,
    version!.encoded,
    indefinite(0x30, contentType!.encoded, indefinite(0xa0, indefinite(0x24, ...pieces))),
    macData!.encoded,
  );
}

describe('PKCS#12', () => {
  test('reads a BER-encoded file (indefinite lengths, chunked OCTET STRING), as Java and macOS write them', async () => {
    const ber = toBer(await leaf.pkcs12(PASSPHRASE));
    expect(ber[1]).toBe(0x80);
    const creds = await loadCredentials({ pfx: ber, passphrase: PASSPHRASE });
    expect(creds.fingerprint256).toBe(leaf.fingerprint256);
  });

  test.skipIf(!hasOpenssl())('loads the legacy ciphers only when a file needs them', async () => {
    await loadCredentials({ pfx: await leaf.pkcs12(PASSPHRASE), passphrase: PASSPHRASE });
    await loadCredentials({
      pfx: await leaf.pkcs12(PASSPHRASE, { algorithm: '3des' }),
      passphrase: PASSPHRASE,
    });
    expect(legacyCiphersIfLoaded()).toBeUndefined();
    const legacy = await leaf.pkcs12(PASSPHRASE, { algorithm: 'legacy-rc2' });
    const creds = await loadCredentials({ pfx: legacy, passphrase: PASSPHRASE });
    expect(creds.findings.map((f) => f.code)).toContain('LEGACY_PKCS12');
    expect(legacyCiphersIfLoaded()).toBeDefined();
  });

  test.skipIf(!hasOpenssl())('a legacy file says which schemes it uses and how to re-export it', async () => {
    const legacy = await leaf.pkcs12(PASSPHRASE, { algorithm: 'legacy-rc2' });
    const [warning] = decodeMaterial({ pfx: legacy, passphrase: PASSPHRASE }).findings;
    expect(warning?.message).toMatch(/RC2-40-CBC/);
    expect(warning?.fix).toMatch(/openssl pkcs12 -legacy/);
  });

  test('the empty password and "no password" are both tried for a file without passphrase', async () => {
    const creds = await loadCredentials({ pfx: await leaf.pkcs12('') });
    expect(creds.fingerprint256).toBe(leaf.fingerprint256);
  });
});

describe('iteration budget', () => {
  test('refuses one derivation above the per-derivation limit before spending anything', () => {
    const budget = new IterationBudget();
    expect(() => budget.spend(LIMITS.maxIterations + 1, 'PBKDF2')).toThrow(PbeError);
    budget.spend(LIMITS.maxIterations, 'PBKDF2');
  });

  test('refuses many derivations that add up past the total', () => {
    const budget = new IterationBudget();
    const spend = () => budget.spend(LIMITS.maxIterations, 'PBKDF2');
    for (let i = 0; i < LIMITS.maxTotalIterations / LIMITS.maxIterations; i++) spend();
    expect(spend).toThrow(/add up to more than/);
  });

  test('refuses a zero iteration count as malformed', () => {
    expect(() => new IterationBudget().spend(0, 'MAC')).toThrow(
      expect.objectContaining({ reason: 'malformed' }),
    );
  });
});
