// The shared CredentialSource contract, run against the three shapes a Key Vault secret takes: a JSON
// bundle, and the secret behind a certificate in PFX and in PEM form.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CredentialMaterial, FieldValue } from '@mtlskit/core';
import { hasOpenssl, runOpenssl } from '@mtlskit/testkit';
import { runSourceConformance, type SourceHarness } from '@mtlskit/testkit/conformance';
import { startAzureHarness, TEST_TOKEN } from './__tests__/harness.js';
import { PEM_CONTENT_TYPE, PKCS12_CONTENT_TYPE } from './source.js';

const text = (value: FieldValue | FieldValue[] | undefined): string =>
  (Array.isArray(value) ? value : value === undefined ? [] : [value])
    .map((v) => (typeof v === 'string' ? v : Buffer.from(v).toString()))
    .join('');

/** A PFX with an empty password, as Key Vault keeps a certificate: the openssl CLI writes it from the PEM. */
async function pfxOf(m: CredentialMaterial): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'mtlskit-kv-'));
  try {
    const out = join(dir, 'out.p12');
    const pem = join(dir, 'in.pem');
    await writeFile(pem, text(m.key) + text(m.cert), { mode: 0o600 });
    const result = await runOpenssl(['pkcs12', '-export', '-in', pem, '-passout', 'pass:', '-out', out]);
    if (result.code !== 0) throw new Error(`openssl pkcs12 -export failed: ${result.stderr}`);
    return (await readFile(out)).toString('base64');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** How each shape writes material: what Key Vault would hold after an import or a setSecret. */
const shapes: Record<
  string,
  (m: CredentialMaterial) => Promise<{ value: string; contentType?: string; managed?: boolean }>
> = {
  'a JSON bundle': async (m) => ({
    value: JSON.stringify({ cert: text(m.cert), key: text(m.key), ca: text(m.ca) }),
  }),
  'a certificate’s secret, PEM (key first)': async (m) => ({
    value: text(m.key) + text(m.cert),
    contentType: PEM_CONTENT_TYPE,
    managed: true,
  }),
  'a certificate’s secret, PFX': async (m) => ({
    value: await pfxOf(m),
    contentType: PKCS12_CONTENT_TYPE,
    managed: true,
  }),
};

// The PFX shape needs the openssl CLI to write the suite's credentials as PKCS#12.
for (const [shape, encode] of Object.entries(shapes).filter(([s]) => hasOpenssl() || !s.includes('PFX'))) {
  runSourceConformance(`azure-kv:// (${shape})`, async ({ material }): Promise<SourceHarness> => {
    const kv = await startAzureHarness();
    const name = 'conformance-mtls';
    const write = async (m: CredentialMaterial) => {
      const { value, ...put } = await encode(m);
      kv.emulator.putSecret(name, value, put);
    };
    await write(material);
    return {
      source: kv.source({ name }),
      write,
      async remove() {
        kv.emulator.secrets.delete(name);
      },
      async makeUnreadable() {
        kv.emulator.fail({ kind: 'denied', times: Number.POSITIVE_INFINITY });
        return { code: 'ACCESS_DENIED' as const };
      },
      async makeLagging() {
        const fault = kv.emulator.fail({ kind: 'stale', times: Number.POSITIVE_INFINITY });
        return () => fault.clear();
      },
      async makeSlow() {
        const fault = kv.emulator.fail({ kind: 'slow', times: Number.POSITIVE_INFINITY });
        return () => fault.clear();
      },
      secrets: [TEST_TOKEN],
      close: () => kv.close(),
    };
  });
}
