// The whole staged renewal on Google Secret Manager through @mtlskit/cli/renewal (start → complete →
// check the pending version → promote → rollback), with the real client over gRPC and over the REST
// fallback against the loopback emulator, while a resolver reading `latest` serves requests one after
// another to the testkit mTLS server: none fails, the server sees the new certificate after promote
// and the old one again after rollback, and a running resolver costs one metadata read per refresh.
import {
  completeRenewal,
  loadPending,
  promoteRenewal,
  rollbackRenewal,
  startRenewal,
} from '@mtlskit/cli/renewal';
import { MtlsError } from '@mtlskit/core';
import { type GcpClientOptions, gcpSecretManagerSource } from '@mtlskit/gcp';
import { type GcpSecretManagerEmulator, leakCheck, startGcpSecretManagerEmulator } from '@mtlskit/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { expectOldNewOld, pendingPresents, renewalClient, useRenewalFixture } from '../support/renewal.js';

const NAME = 'projects/mtlskit-test/secrets/payments-mtls';

const e2e = useRenewalFixture();

describe.each(['grpc', 'rest'] as const)('staged renewal on Google Secret Manager (%s)', (transport) => {
  let emulator: GcpSecretManagerEmulator;
  const closing: { close(): Promise<void> }[] = [];
  beforeEach(async () => {
    emulator = await startGcpSecretManagerEmulator();
  });
  afterEach(async () => {
    for (const c of closing.splice(0)) await c.close();
    await emulator.close();
  });

  const sourceOf = () => {
    const source = gcpSecretManagerSource({
      name: NAME,
      transport,
      clientOptions: emulator.clientOptions(transport) as GcpClientOptions,
      timeoutMs: 2_000,
    });
    closing.push(source);
    return source;
  };

  it('start → complete → check pending → promote → rollback while a client makes requests: none fails', async () => {
    emulator.putSecret(NAME, e2e.bundle(e2e.old));
    // An application's resolver reading `latest`, with one request at a time through it.
    const client = renewalClient(e2e, sourceOf(), { refreshIntervalMs: 40 });
    const renewer = sourceOf();
    let newKey = '';
    try {
      await client.served(e2e.old.fingerprint256, 'a request with the current certificate');

      // Start: the version in use gets the alias, the new key alone becomes the pending version.
      const started = await startRenewal(renewer);
      newKey = started.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
      expect(emulator.metadataOf(NAME)).toMatchObject({
        versionAliases: { current: 1 },
        annotations: { 'mtlskit-pending': started.version },
      });
      const stored = emulator.secrets.get(emulator.keyOf(NAME), { versionId: started.version });
      expect(Object.keys(JSON.parse(String(Buffer.from(stored!.value as Uint8Array))))).toEqual(['key']);
      // latest is that key-only version now; the running client keeps the current one.
      await new Promise((r) => setTimeout(r, 200));
      expect(client.seen.at(-1)).toBe(e2e.old.fingerprint256);

      // Before the certificate is in, the pending version cannot be checked nor promoted.
      expect(MtlsError.is(await loadPending(renewer).catch((e: unknown) => e), 'MISSING_FIELD')).toBe(true);
      expect(MtlsError.is(await promoteRenewal(renewer).catch((e: unknown) => e), 'MISSING_FIELD')).toBe(
        true,
      );

      const signed = await e2e.signCsr(started.csrPem);
      const completed = await completeRenewal(renewer, signed.fullChainPem);
      expect(completed.certificate.fingerprint256).toBe(signed.fingerprint256);
      expect(emulator.metadataOf(NAME).annotations['mtlskit-pending']).toBe(completed.version);

      // A real handshake with the pending credential; running clients still use the old one.
      const pending = await loadPending(renewer);
      expect(pending.version).toBe(completed.version);
      expect(await pendingPresents(e2e, renewer)).toBe(signed.fingerprint256);
      expect(client.seen.at(-1)).toBe(e2e.old.fingerprint256);

      // A running resolver in steady state: one metadata read (the alias) per refresh, no payload.
      emulator.log.clear();
      await new Promise((r) => setTimeout(r, 400));
      const steady = emulator.log.calls();
      expect(steady.length).toBeGreaterThan(3);
      expect(new Set(steady.map((c) => c.operation))).toEqual(new Set(['GetSecretVersion']));

      const promoted = await promoteRenewal(renewer, { version: completed.version });
      expect(promoted).toMatchObject({ current: completed.version, previous: '1' });
      expect(emulator.metadataOf(NAME)).toMatchObject({
        versionAliases: { current: Number(completed.version) },
        annotations: { 'mtlskit-previous': '1' },
      });
      await client.served(signed.fingerprint256, 'the new certificate after the promotion');

      expect(await rollbackRenewal(renewer)).toEqual({ current: '1', previous: completed.version });
      await client.served(e2e.old.fingerprint256, 'the old certificate after the rollback');
    } finally {
      await client.stop();
    }
    expectOldNewOld(client, e2e.old.fingerprint256);
    const leaks = leakCheck([e2e.old.keyPem, newKey]);
    for (const entry of emulator.log.calls({ operation: 'UpdateSecret' })) {
      leaks.checkText(JSON.stringify(entry.body), 'UpdateSecret request');
    }
  });

  it('refuses a second promote of the same version and a certificate of another key, keeping the pending version', async () => {
    emulator.putSecret(NAME, e2e.bundle(e2e.old));
    const renewer = sourceOf();
    const started = await startRenewal(renewer);
    const other = await e2e.issue({ commonName: 'client-42.sandbox.mangopay.com' });
    const mismatch = await completeRenewal(renewer, other.certPem).catch((e: unknown) => e);
    expect(MtlsError.is(mismatch, 'KEY_MISMATCH')).toBe(true);
    expect(emulator.metadataOf(NAME).annotations['mtlskit-pending']).toBe(started.version);

    const signed = await e2e.signCsr(started.csrPem);
    const { version } = await completeRenewal(renewer, signed.certPem);
    await promoteRenewal(renewer, { version });
    const again = await promoteRenewal(renewer, { version }).catch((e: unknown) => e);
    expect(MtlsError.is(again, 'SOURCE_NOT_FOUND')).toBe(true);
    expect((again as MtlsError).message).toMatch(/no pending version .*renew start/);
  });
});
