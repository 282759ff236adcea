// The grammar of vault: and vault-pki: references: every form, the target a source is built from,
// each malformed form with the part the error points at, the option tables as documented, and
// parsing without loading node-vault.
import { readFileSync } from 'node:fs';
import { parseReference } from '@mtlskit/core/adapter';
import { documentedOptionRows, optionTableRows } from '@mtlskit/testkit';
import {
  type InvalidReferenceForm,
  referenceFormTests,
  type ValidReferenceForm,
} from '@mtlskit/testkit/conformance';
import { describe, expect, it, vi } from 'vitest';
import { vaultPkiScheme, vaultScheme } from './scheme.js';

const sdk = vi.hoisted(() => ({ loaded: false }));
vi.mock('node-vault', () => {
  sdk.loaded = true;
  return { default: () => ({}) };
});

const VALID: ValidReferenceForm[] = [
  ['vault://secret/mtls/client', { scheme: 'vault', target: { mount: 'secret', path: 'mtls/client' } }],
  [
    'vault://mtls/client?mount=team-a/kv&kv=2',
    { target: { mount: 'team-a/kv', path: 'mtls/client', kv: 2 } },
  ],
  [
    'vault://secret/mtls?version=3&namespace=team-a',
    {
      values: { version: 3, namespace: 'team-a' },
      target: { mount: 'secret', path: 'mtls', version: 3, namespace: 'team-a' },
    },
  ],
  [
    'vault://secret/mtls?bundleField=mtls&endpoint=https://vault.internal:8200&timeoutMs=5000',
    {
      values: { timeoutMs: 5000, bundleField: 'mtls', endpoint: 'https://vault.internal:8200' },
      target: { mount: 'secret', path: 'mtls', bundleField: 'mtls', endpoint: 'https://vault.internal:8200' },
    },
  ],
  [
    'vault://secret/mtls?certField=tls_crt&keyField=tls_key',
    { target: expect.objectContaining({ certField: 'tls_crt', keyField: 'tls_key' }) },
  ],
  [
    'vault://secret/mtls?tokenFile=/run/vault/token',
    { target: expect.objectContaining({ auth: { method: 'token', tokenFile: '/run/vault/token' } }) },
  ],
  [
    'vault://secret/mtls?auth=approle&roleIdFile=/etc/vault/role-id&secretIdFile=/etc/vault/secret-id&authMount=ci',
    {
      target: expect.objectContaining({
        auth: {
          method: 'approle',
          roleIdFile: '/etc/vault/role-id',
          secretIdFile: '/etc/vault/secret-id',
          mount: 'ci',
        },
      }),
    },
  ],
  [
    'vault://secret/mtls?auth=kubernetes&role=web',
    { target: expect.objectContaining({ auth: { method: 'kubernetes', role: 'web' } }) },
  ],
  [
    'vault://secret/mtls?passphrase=env:MTLS_PASSPHRASE',
    {
      passphrase: expect.objectContaining({ scheme: 'env', path: 'MTLS_PASSPHRASE' }),
      target: { mount: 'secret', path: 'mtls' },
    },
  ],
  [
    'vault-pki://pki/sign/client?common_name=client-42.example.com&ttl=72h',
    {
      scheme: 'vault-pki',
      target: {
        mount: 'pki',
        mode: 'sign',
        role: 'client',
        commonName: 'client-42.example.com',
        params: { ttl: '72h' },
      },
    },
  ],
  [
    'vault-pki://pki/intermediate/issue/client?common_name=c.example.com&alt_names=a.example.com,b.example.com&trustIssuingCa=true',
    {
      target: {
        mount: 'pki/intermediate',
        mode: 'issue',
        role: 'client',
        commonName: 'c.example.com',
        params: { alt_names: 'a.example.com,b.example.com' },
        trustIssuingCa: true,
      },
    },
  ],
  [
    'vault-pki://pki/sign/client?common_name=c&key_type=rsa2048&auth=approle&roleId=r',
    { target: expect.objectContaining({ keyType: 'rsa2048', auth: { method: 'approle', roleId: 'r' } }) },
  ],
];

const INVALID: InvalidReferenceForm[] = [
  ['vault:secret/mtls', /needs "\/\/" after the colon/, 'secret/mtls'],
  ['vault://secret', /"secret" names a mount but no secret inside it/, 'secret'],
  ['vault://secret/x?kv=3', /kv=3 is not one of 1, 2/, '3'],
  ['vault://secret/x?kv=1&version=2', /KV v1 keeps no versions/, 'version=2'],
  ['vault://secret/x?version=0', /below the least value, 1/, '0'],
  ['vault://x?mount=a//b', /mount=a\/\/b is not a mount path/, 'mount=a//b'],
  ['vault://secret/../x', /segment/, '..'],
  ['vault://secret/x?roleId=r', /roleId= belongs to auth=approle, not auth=token/, 'roleId=r'],
  ['vault://secret/x?auth=approle', /auth=approle needs the role id/, 'auth=approle'],
  ['vault://secret/x?auth=kubernetes&roleId=r', /roleId= belongs to auth=approle/, 'roleId=r'],
  ['vault://secret/x?auth=kubernetes', /auth=kubernetes needs the Vault role/, 'auth=kubernetes'],
  [
    'vault://secret/x?auth=token&authMount=m',
    /authMount= belongs to auth=approle or auth=kubernetes/,
    'authMount=m',
  ],
  [
    'vault://secret/x?bundleField=b&certField=c',
    /bundleField= names one field holding everything/,
    'bundleField=b',
  ],
  ['vault://secret/x?secretId=s3cr3t', /unknown option "secretId"/, 'secretId'],
  ['vault://secret/x?endpoint=vault:8200', /is not an http\(s\) URL/, 'vault:8200'],
  ['vault-pki://pki/client', /does not end in \/sign\/ROLE or \/issue\/ROLE/, 'pki/client'],
  ['vault-pki://pki/sign/client', /needs a common name/, ''],
  ['vault-pki://pki/sign/client?common_name=x&ttl=soon', /ttl=soon is not a Vault duration/, 'ttl=soon'],
  [
    'vault-pki://pki/sign/client?common_name=x&ttl=1h&not_after=2030-01-01T00:00:00Z',
    /both set the lifetime/,
    'not_after=2030-01-01T00:00:00Z',
  ],
  [
    'vault-pki://pki/issue/client?common_name=x&key_type=rsa2048',
    /key_type= applies to sign/,
    'key_type=rsa2048',
  ],
  ['vault-pki://pki/sign/client?common_name=x&key_type=ec-p384', /is not one of ec-p256, rsa2048/, 'ec-p384'],
];

describe('the vault: and vault-pki: schemes', () => {
  referenceFormTests({ parse: (text) => parseReference(text), valid: VALID, invalid: INVALID });

  it('writes a secret-free canonical id', () => {
    expect(parseReference('vault://secret/mtls?kv=2&auth=approle&roleIdFile=/r&secretIdFile=/s').id).toBe(
      'vault://secret/mtls?kv=2&auth=approle&roleIdFile=/r&secretIdFile=/s',
    );
  });

  it.each(['docs/adapters/vault.md', 'docs/references.md'])(
    'is documented in %s with exactly these option tables',
    (page) => {
      const doc = readFileSync(new URL(`../../../${page}`, import.meta.url), 'utf8');
      expect(documentedOptionRows(doc, 'vault')).toEqual(optionTableRows(vaultScheme.options));
      expect(documentedOptionRows(doc, 'vault-pki')).toEqual(optionTableRows(vaultPkiScheme.options));
    },
  );

  it('parses without loading node-vault: the scheme module imports none of it', async () => {
    const { parseReference: parse } = await import('@mtlskit/core/adapter');
    await import('./scheme.js');
    expect(parse('vault://secret/mtls?kv=2').target).toMatchObject({ kv: 2 });
    expect(() => parse('vault://secret/mtls?nmespace=x')).toThrow(/Did you mean "namespace"/);
    expect(sdk.loaded).toBe(false);
  });
});
