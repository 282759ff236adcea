// The shared CredentialSource contract, run against both shapes of AWS storage: one secret holding
// the credential, and one secret per field.
import type { CredentialMaterial, FieldValue } from '@mtlskit/core';
import { runSourceConformance, type SourceHarness } from '@mtlskit/testkit/conformance';
import { startAwsHarness, TEST_CREDENTIALS } from './__tests__/harness.js';

const text = (value: FieldValue | FieldValue[] | undefined): string =>
  (Array.isArray(value) ? value : value === undefined ? [] : [value])
    .map((v) => (typeof v === 'string' ? v : Buffer.from(v).toString()))
    .join('');

async function withFaults(aws: Awaited<ReturnType<typeof startAwsHarness>>) {
  return {
    async makeUnreadable() {
      aws.emulator.fail({ kind: 'denied', times: Number.POSITIVE_INFINITY });
      return { code: 'ACCESS_DENIED' as const };
    },
    async makeLagging() {
      const fault = aws.emulator.fail({ kind: 'stale', times: Number.POSITIVE_INFINITY });
      return () => fault.clear();
    },
    async makeSlow() {
      const fault = aws.emulator.fail({ kind: 'slow', times: Number.POSITIVE_INFINITY });
      return () => fault.clear();
    },
    secrets: [TEST_CREDENTIALS.secretAccessKey],
    close: () => aws.close(),
  };
}

runSourceConformance(
  'aws-sm:// (one secret holding a JSON bundle)',
  async ({ material }): Promise<SourceHarness> => {
    const aws = await startAwsHarness();
    const name = 'conformance/mtls';
    const write = async (m: CredentialMaterial) => {
      aws.emulator.putSecret(name, JSON.stringify({ cert: text(m.cert), key: text(m.key), ca: text(m.ca) }));
    };
    await write(material);
    return {
      source: aws.source({ secretId: name }),
      write,
      async remove() {
        aws.emulator.secrets.delete(name);
      },
      ...(await withFaults(aws)),
    };
  },
);

runSourceConformance(
  'aws-sm://?cert=…&key=… (one secret per field)',
  async ({ material }): Promise<SourceHarness> => {
    const aws = await startAwsHarness();
    const names = { cert: 'conformance/cert', key: 'conformance/key', ca: 'conformance/ca' } as const;
    const write = async (m: CredentialMaterial) => {
      for (const field of ['cert', 'key', 'ca'] as const)
        aws.emulator.putSecret(names[field], text(m[field]));
    };
    await write(material);
    return {
      source: aws.source({ secrets: names }),
      write,
      async remove() {
        aws.emulator.secrets.delete(names.cert);
      },
      ...(await withFaults(aws)),
    };
  },
);
