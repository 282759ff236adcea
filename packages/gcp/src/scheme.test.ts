import { readFileSync } from 'node:fs';
import { parseReference } from '@mtlskit/core/adapter';
import { documentedOptionRows, optionTableRows } from '@mtlskit/testkit';
import {
  type InvalidReferenceForm,
  referenceFormTests,
  type ValidReferenceForm,
} from '@mtlskit/testkit/conformance';
import { describe, expect, it, vi } from 'vitest';
import { gcpSmScheme } from './scheme.js';

const client = vi.hoisted(() => ({ loaded: false }));
vi.mock('@google-cloud/secret-manager', () => {
  client.loaded = true;
  return {};
});

// The forms of gcp-sm: references, and the target the source is built from.
const VALID: ValidReferenceForm[] = [
  [
    'gcp-sm://projects/my-project/secrets/mtls',
    {
      scheme: 'gcp-sm',
      target: {
        name: 'projects/my-project/secrets/mtls/versions/latest',
        project: 'my-project',
        secret: 'mtls',
        version: 'latest',
        transport: 'grpc',
      },
    },
  ],
  [
    'gcp-sm://projects/123456789012/secrets/mtls/versions/7?transport=rest',
    {
      values: { transport: 'rest' },
      target: expect.objectContaining({
        name: 'projects/123456789012/secrets/mtls/versions/7',
        transport: 'rest',
      }),
    },
  ],
  [
    'gcp-sm://projects/my-project/locations/europe-west1/secrets/mtls/versions/prod',
    {
      target: {
        name: 'projects/my-project/locations/europe-west1/secrets/mtls/versions/prod',
        project: 'my-project',
        location: 'europe-west1',
        secret: 'mtls',
        version: 'prod',
        transport: 'grpc',
      },
    },
  ],
  [
    'gcp-sm://projects/example.com:my-project/secrets/Team_A-mtls',
    { target: expect.objectContaining({ project: 'example.com:my-project', secret: 'Team_A-mtls' }) },
  ],
  [
    'gcp-sm://projects/my-project/secrets/mtls?timeoutMs=5000',
    { values: { timeoutMs: 5000 }, target: expect.objectContaining({ timeoutMs: 5000 }) },
  ],
  [
    'gcp-sm://projects/my-project/secrets/mtls?passphrase=env:MTLS_PASSPHRASE&ca=file:/etc/ssl/api-ca.pem',
    {
      passphrase: expect.objectContaining({ scheme: 'env', path: 'MTLS_PASSPHRASE' }),
      target: expect.objectContaining({ secret: 'mtls' }),
    },
  ],
  [
    'gcp-sm://projects/my-project/secrets/mtls?passphrase=gcp-sm://projects/my-project/secrets/mtls-pass',
    { passphrase: expect.objectContaining({ scheme: 'gcp-sm' }) },
  ],
];

// Malformed forms: the message, and the part the caret line points at.
const INVALID: InvalidReferenceForm[] = [
  ['gcp-sm:projects/p/secrets/s', /gcp-sm: needs "\/\/" after the colon/, 'projects/p/secrets/s'],
  ['gcp-sm://', /the secret resource name is missing/, ''],
  ['gcp-sm://my-secret', /"my-secret" is not a secret resource name/, 'my-secret'],
  ['gcp-sm://projects/my-project/secrets', /is not a secret resource name/, 'projects/my-project/secrets'],
  [
    'gcp-sm://projects/my-project/secrets/mtls/version/3',
    /is not a secret resource name/,
    'projects/my-project/secrets/mtls/version/3',
  ],
  ['gcp-sm://projects/My_Project/secrets/mtls', /"My_Project" is not a project id or number/, 'My_Project'],
  ['gcp-sm://projects/my-project/secrets/mt.ls', /"mt\.ls" is not a secret id/, 'mt.ls'],
  ['gcp-sm://projects/my-project/secrets/mtls/versions/1.5', /"1\.5" is not a secret version/, '1.5'],
  ['gcp-sm://projects/my-project/locations/Europe/secrets/mtls', /"Europe" is not a location/, 'Europe'],
  [
    'gcp-sm://projects/my-project/secrets/mtls?transport=http2',
    /transport=http2 is not one of grpc, rest/,
    'http2',
  ],
  ['gcp-sm://projects/my-project/secrets/mtls?timeoutMs=0', /timeoutMs=0 is below the least value, 1/, '0'],
  ['gcp-sm://projects/my-project/secrets/mtls?passphrase=hunter2', /must be a reference/, 'hunter2'],
];

describe('the gcp-sm: scheme', () => {
  referenceFormTests({
    parse: (text) => parseReference(text, gcpSmScheme),
    valid: VALID,
    invalid: INVALID,
    neverEchoed: 'hunter2',
  });

  it('has one option table: transport, timeoutMs and the passphrase and ca sub-references', () => {
    expect(optionTableRows(gcpSmScheme.options)).toEqual([
      '| `transport` | `grpc` \\| `rest` | `grpc` | gRPC, or HTTP/1.1 REST (the client’s fallback mode) where gRPC cannot pass. |',
      '| `timeoutMs` | integer | `10000` | Deadline of each Secret Manager call, in milliseconds. |',
      '| `passphrase` | reference |  | Where the key’s passphrase comes from, e.g. `env:MTLS_PASSPHRASE` or another `gcp-sm://…`. |',
      '| `ca` | reference |  | Where the CA certificates to trust for the server come from, e.g. `file:/etc/ssl/api-ca.pem`. |',
    ]);
  });

  it('parses without loading the Google client: the scheme module imports none of it', async () => {
    // Any import of the client, however indirect, runs this factory.
    const { parseReference: parse } = await import('@mtlskit/core/adapter');
    await import('./scheme.js');
    expect(parse('gcp-sm://projects/my-project/secrets/mtls?transport=rest').target).toMatchObject({
      transport: 'rest',
    });
    expect(() => parse('gcp-sm://projects/my-project/secrets/mtls?transprt=rest')).toThrow(
      /Did you mean "transport"/,
    );
    expect(client.loaded).toBe(false);
  });

  it('is documented in docs/references.md with exactly this option table', () => {
    const doc = readFileSync(new URL('../../../docs/references.md', import.meta.url), 'utf8');
    expect(documentedOptionRows(doc, 'gcp-sm')).toEqual(optionTableRows(gcpSmScheme.options));
  });
});
