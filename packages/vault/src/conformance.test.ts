// The shared CredentialSource contract, run against KV v2 (versions, metadata probes) and KV v1
// (no versions: a content digest stands for one), each a secret holding the credential's fields.
import type { CredentialMaterial, FieldValue } from '@mtlskit/core';
import { runSourceConformance, type SourceHarness } from '@mtlskit/testkit/conformance';
import { ROOT_TOKEN, startVaultHarness } from './__tests__/harness.js';

const text = (value: FieldValue | FieldValue[] | undefined): string =>
  (Array.isArray(value) ? value : value === undefined ? [] : [value])
    .map((v) => (typeof v === 'string' ? v : Buffer.from(v).toString()))
    .join('');

for (const kv of [2, 1] as const) {
  runSourceConformance(
    `vault:// (KV v${kv}, one secret holding the fields)`,
    async ({ material }): Promise<SourceHarness> => {
      const vault = await startVaultHarness({ mounts: [{ path: 'secret', version: kv }] });
      const path = 'secret/conformance/mtls';
      const write = async (m: CredentialMaterial) => {
        vault.emulator.putSecret(path, { cert: text(m.cert), key: text(m.key), ca: text(m.ca) });
      };
      await write(material);
      return {
        source: vault.source({ path }),
        write,
        async remove() {
          vault.emulator.destroySecret(path);
        },
        async makeUnreadable() {
          vault.emulator.fail({ kind: 'denied', times: Number.POSITIVE_INFINITY });
          return { code: 'ACCESS_DENIED' as const };
        },
        ...(kv === 2 && {
          async makeLagging() {
            const fault = vault.emulator.fail({ kind: 'stale', times: Number.POSITIVE_INFINITY });
            return () => fault.clear();
          },
        }),
        async makeSlow() {
          const fault = vault.emulator.fail({ kind: 'slow', times: Number.POSITIVE_INFINITY });
          return () => fault.clear();
        },
        versionFollowsContent: kv === 1,
        secrets: [ROOT_TOKEN],
        close: () => vault.close(),
      };
    },
  );
}
