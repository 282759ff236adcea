import { readFileSync } from 'node:fs';
// The azure-kv: grammar: every form, the target the source is built from, and for each malformed form
// the message and the part its caret line points at. Parsing never loads the Azure SDK.
import { MtlsError, parseReference } from '@mtlskit/core/adapter';
import { documentedOptionRows, optionTableRows } from '@mtlskit/testkit';
import {
  type InvalidReferenceForm,
  referenceFormTests,
  type ValidReferenceForm,
} from '@mtlskit/testkit/conformance';
import { describe, expect, it, vi } from 'vitest';
import { azureKvScheme } from './scheme.js';

const sdk = vi.hoisted(() => ({ loaded: [] as string[] }));
vi.mock('@azure/keyvault-secrets', () => {
  sdk.loaded.push('@azure/keyvault-secrets');
  return {};
});
vi.mock('@azure/identity', () => {
  sdk.loaded.push('@azure/identity');
  return {};
});

const V = '0123456789abcdef0123456789abcdef';

const VALID: ValidReferenceForm[] = [
  [
    'azure-kv://myvault/mtls',
    {
      scheme: 'azure-kv',
      target: { vault: 'myvault', vaultUrl: 'https://myvault.vault.azure.net', secret: 'mtls' },
    },
  ],
  [
    `AZURE-KV://my-vault-01/client-cert-2026/${V}`,
    {
      scheme: 'azure-kv',
      target: {
        vault: 'my-vault-01',
        vaultUrl: 'https://my-vault-01.vault.azure.net',
        secret: 'client-cert-2026',
        version: V,
      },
    },
  ],
  [
    'azure-kv://myvault.vault.azure.cn/mtls',
    {
      target: { vault: 'myvault.vault.azure.cn', vaultUrl: 'https://myvault.vault.azure.cn', secret: 'mtls' },
    },
  ],
  [
    'azure-kv://myvault.vault.usgovcloudapi.net/mtls',
    { target: expect.objectContaining({ vaultUrl: 'https://myvault.vault.usgovcloudapi.net' }) },
  ],
  [
    'azure-kv://127.0.0.1:8443/mtls',
    { target: { vault: '127.0.0.1:8443', vaultUrl: 'https://127.0.0.1:8443', secret: 'mtls' } },
  ],
  [
    'azure-kv://myvault/mtls?vaultUrl=https://kv.internal.example/',
    { target: { vault: 'myvault', vaultUrl: 'https://kv.internal.example', secret: 'mtls' } },
  ],
  [
    'azure-kv:///mtls?vaultUrl=https://127.0.0.1:8443',
    { target: { vault: '', vaultUrl: 'https://127.0.0.1:8443', secret: 'mtls' } },
  ],
  ['azure-kv://myvault/mtls?timeoutMs=2500', { values: { timeoutMs: 2500 } }],
  [
    'azure-kv://myvault/mtls?passphrase=env:KV_PASS&ca=file:/etc/ssl/api-ca.pem',
    {
      passphrase: expect.objectContaining({ scheme: 'env', path: 'KV_PASS' }),
      ca: expect.objectContaining({ scheme: 'file', path: '/etc/ssl/api-ca.pem' }),
    },
  ],
  [
    'azure-kv://myvault/client-key?passphrase=azure-kv://myvault/client-key-pass',
    {
      passphrase: expect.objectContaining({
        scheme: 'azure-kv',
        target: expect.objectContaining({ secret: 'client-key-pass' }),
      }),
    },
  ],
];

const INVALID: InvalidReferenceForm[] = [
  ['azure-kv:myvault/mtls', /azure-kv: needs "\/\/" after the colon/, 'myvault/mtls'],
  ['azure-kv://v/mtls', /"v" is not a Key Vault name/, 'v'],
  ['azure-kv://my_vault/mtls', /"my_vault" is not a Key Vault name/, 'my_vault'],
  ['azure-kv://my--vault/mtls', /"my--vault" is not a Key Vault name/, 'my--vault'],
  ['azure-kv://myvault-/mtls', /"myvault-" is not a Key Vault name/, 'myvault-'],
  ['azure-kv://bad_host.example/mtls', /"bad_host.example" is not a host name/, 'bad_host.example'],
  ['azure-kv://myvault', /"myvault" is not VAULT\/SECRET or VAULT\/SECRET\/VERSION/, 'myvault'],
  ['azure-kv://myvault/a/b/c', /is not VAULT\/SECRET/, 'myvault/a/b/c'],
  ['azure-kv://myvault//mtls', /is not VAULT\/SECRET/, 'myvault//mtls'],
  ['azure-kv://myvault/my_secret', /"my_secret" is not a Key Vault secret name/, 'my_secret'],
  [
    'azure-kv://myvault/mtls/not-a-version',
    /"not-a-version" is not a Key Vault secret version/,
    'not-a-version',
  ],
  ['azure-kv:///mtls', /the vault is missing/, '/'],
  ['azure-kv://myvault/mtls?passphrase=hunter2', /passphrase= of azure-kv: must be a reference/, 'hunter2'],
  ['azure-kv://myvault/mtls?ca=api-ca.pem', /ca= of azure-kv: must be a reference/, 'api-ca.pem'],
  ['azure-kv://myvault/mtls?vaultUrl=not a url', /is not an http\(s\) URL/, 'not a url'],
  ['azure-kv://myvault/mtls?timeoutMs=0', /timeoutMs=0 is below the least value, 1/, '0'],
  ['azure-kv://myvault/mtls?timeoutMs=soon', /timeoutMs=soon is not a whole number/, 'soon'],
];

function rejection(text: string): MtlsError {
  try {
    parseReference(text);
  } catch (err) {
    expect(err).toBeInstanceOf(MtlsError);
    return err as MtlsError;
  }
  throw new Error(`${text} parsed`);
}

describe('the azure-kv: scheme', () => {
  referenceFormTests({
    parse: (text) => parseReference(text, azureKvScheme),
    valid: VALID,
    invalid: INVALID,
  });

  it('suggests the option meant, and never echoes a passphrase written where a reference belongs', () => {
    const typo = rejection('azure-kv://myvault/mtls?vaulturl=https://kv.example');
    expect(typo.message).toMatch(/Did you mean "vaultUrl"/);
    expect(rejection('azure-kv://myvault/mtls?timeout=5').message).toMatch(/Did you mean "timeoutMs"/);
    const secret = 'Tr0ub4dor&3-hunter2-passphrase';
    const masked = rejection(`azure-kv://my_vault/mtls?passphrase=${encodeURIComponent(secret)}`);
    expect(masked.message).not.toContain('Tr0ub4dor');
  });

  it('writes references back as parsed (round trip)', async () => {
    const { formatReference } = await import('@mtlskit/core/adapter');
    for (const [text] of VALID) {
      const ref = parseReference(text);
      expect(parseReference(formatReference(ref)).target).toEqual(ref.target);
    }
  });

  it('parses without loading the Azure SDK: the scheme module imports no @azure module', async () => {
    await import('./scheme.js');
    expect(parseReference('azure-kv://myvault/mtls').target).toMatchObject({ secret: 'mtls' });
    expect(sdk.loaded).toEqual([]);
  });

  it('is documented in docs/references.md with exactly this option table', () => {
    const doc = readFileSync(new URL('../../../docs/references.md', import.meta.url), 'utf8');
    expect(documentedOptionRows(doc, 'azure-kv')).toEqual(optionTableRows(azureKvScheme.options));
  });
});
