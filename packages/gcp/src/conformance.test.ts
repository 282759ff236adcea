// The shared CredentialSource contract, on both transports of the Google client. Secret Manager is
// strongly consistent, so the harness offers no lagging store (that check is skipped).
import type { CredentialMaterial, FieldValue } from '@mtlskit/core';
import { runSourceConformance, type SourceHarness } from '@mtlskit/testkit/conformance';
import { startGcpHarness, TRANSPORTS } from './__tests__/harness.js';

const text = (value: FieldValue | FieldValue[] | undefined): string =>
  (Array.isArray(value) ? value : value === undefined ? [] : [value])
    .map((v) => (typeof v === 'string' ? v : Buffer.from(v).toString()))
    .join('');

const NAME = 'projects/mtlskit-test/secrets/conformance';

for (const transport of TRANSPORTS) {
  runSourceConformance(`gcp-sm:// over ${transport}`, async ({ material }): Promise<SourceHarness> => {
    const gcp = await startGcpHarness(transport);
    const write = async (m: CredentialMaterial) => {
      gcp.emulator.putSecret(NAME, JSON.stringify({ cert: text(m.cert), key: text(m.key), ca: text(m.ca) }));
    };
    await write(material);
    return {
      source: gcp.source({ name: NAME }),
      write,
      async remove() {
        gcp.emulator.secrets.delete(NAME);
      },
      async makeUnreadable() {
        gcp.emulator.fail({ kind: 'denied', times: Number.POSITIVE_INFINITY });
        return { code: 'ACCESS_DENIED' as const };
      },
      async makeSlow() {
        const fault = gcp.emulator.fail({ kind: 'slow', times: Number.POSITIVE_INFINITY });
        return () => fault.clear();
      },
      close: () => gcp.close(),
    };
  });
}
