// Shared by the staged-renewal end-to-end tests (tests/azure, gcp, vault): the e2e fixture with the
// certificate to renew (a Mangopay ClientId's, 30 days left) issued by the CA that signs the renewal's
// CSR; an application's resolver over
// the secret being renewed, with one request at a time through it to the fixture's server, and what every
// renewal promises that client (no request and no refresh failed; the server saw the old certificate,
// then the new one, then the old one again after the rollback); and one real handshake with the pending
// credential while the application still uses the current one, or with `mtlskit check --pending`.
import { pendingSource } from '@mtlskit/cli/renewal';
import {
  type CredentialSource,
  createTlsResolver,
  type RefreshFailedEvent,
  type TlsResolver,
} from '@mtlskit/core';
import { httpsRequest, type IssuedCert } from '@mtlskit/testkit';
import { beforeAll, expect } from 'vitest';
import type { Cli } from './cli.js';
import { type MtlsFixture, type RequestFlow, useMtlsFixture } from './e2e.js';

/** The subject of the certificate being renewed, which the CSR repeats. */
export const SUBJECT = 'CN=client-42.sandbox.mangopay.com, O=Mangopay, C=LU';
/** Its DNS name (subjectAltName). */
export const DNS = 'client-42.sandbox.mangopay.com';

export interface RenewalFixture extends MtlsFixture {
  /** The certificate in use before the renewal: {@link SUBJECT}, valid 30 more days. Filled in by beforeAll. */
  readonly old: IssuedCert;
}

/** {@link useMtlsFixture}, and the file's beforeAll issues {@link RenewalFixture.old}. */
export function useRenewalFixture(): RenewalFixture {
  const fixture = useMtlsFixture();
  let old: IssuedCert;
  beforeAll(async () => {
    old = await fixture.issue({ subject: SUBJECT, dnsNames: [DNS], validForSeconds: 30 * 86_400 });
  });
  return Object.defineProperty(fixture, 'old', { get: () => old, enumerable: true }) as RenewalFixture;
}

export interface RenewalClient extends RequestFlow {
  /** The application's resolver: refreshes every `refreshIntervalMs`, no jitter. */
  readonly resolver: TlsResolver;
  /** Every refresh of that resolver that failed. */
  readonly refreshFailures: RefreshFailedEvent[];
  /** Stops the requests, then closes the resolver (and so its source). */
  stop(): Promise<void>;
}

/** Requests to `fixture`'s server one after another through a resolver over `source`, until stopped. */
export function renewalClient(
  fixture: MtlsFixture,
  source: CredentialSource,
  { refreshIntervalMs = 50 }: { refreshIntervalMs?: number } = {},
): RenewalClient {
  const resolver = createTlsResolver({ source, refreshIntervalMs, jitter: 0 });
  const refreshFailures: RefreshFailedEvent[] = [];
  resolver.on('refreshFailed', (e) => refreshFailures.push(e));
  // One worker: the order of `seen` is the order the application's requests were made in.
  const flow = fixture.flow(resolver, { workers: 1, path: '/ping', pauseMs: 1 });
  return {
    get sent() {
      return flow.sent;
    },
    failures: flow.failures,
    seen: flow.seen,
    served: flow.served,
    order: flow.order,
    resolver,
    refreshFailures,
    async stop() {
      await flow.stop();
      await resolver.close();
    },
  };
}

/**
 * What a renewal promoted then rolled back promises the stopped `client`: not one request or refresh
 * failed, and the server saw exactly `old`, then one other certificate, then `old` again.
 */
export function expectOldNewOld(client: RenewalClient, old: string): void {
  expect(client.failures).toEqual([]);
  expect(client.refreshFailures).toEqual([]);
  expect(client.seen.length).toBeGreaterThan(10);
  const order = client.order();
  expect(order).toEqual([old, expect.any(String), old]);
  expect(order[1]).not.toBe(old);
}

let checks = 0;

/**
 * One request to `fixture`'s server with `renewer`'s pending credential (a resolver of its own, closed
 * after), answered 200: the fingerprint the server saw.
 */
export async function pendingPresents(
  fixture: MtlsFixture,
  renewer: CredentialSource,
): Promise<string | undefined> {
  const trial = createTlsResolver({ source: pendingSource(renewer), mode: 'on-access' });
  try {
    // A path of its own: the running client's requests land on the same server meanwhile.
    const path = `/check/${++checks}`;
    const response = await httpsRequest(`${fixture.server.url}${path}`, { agent: trial.agent() });
    expect(response.status).toBe(200);
    return fixture.server.requests.find((q) => q.path === path)?.peerFingerprint256;
  } finally {
    await trial.close();
  }
}

/** `mtlskit check --pending` of `ref` against `fixture`'s server: accepted, presenting `fingerprint`. */
export async function expectPendingAccepted(
  mtlskit: Cli,
  fixture: MtlsFixture,
  ref: string,
  fingerprint: string,
): Promise<void> {
  const check = await mtlskit.json(
    'check',
    '--source',
    ref,
    '--pending',
    '--url',
    `${fixture.server.url}/check`,
  );
  expect(check).toMatchObject({ status: 'accepted', clientCertificate: { fingerprint256: fingerprint } });
}
