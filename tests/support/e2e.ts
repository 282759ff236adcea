// Shared by the adapters' end-to-end tests (tests/aws, azure, gcp, vault): two client certificates,
// alice and bob, from a test CA, and a real mTLS server that reports which one each request presented;
// the process is checked to have stayed on loopback when the file ends. A flow of requests runs through
// a rotation, and tells which certificate the connections opened after it presented. The CA that issued
// them signs the CSRs of a staged renewal.
import type { TlsResolver } from '@mtlskit/core';
import {
  type ConnectionTracker,
  httpsRequest,
  type IssuedCert,
  type IssueOptions,
  type MtlsTestServer,
  type SignedCert,
  startMtlsServer,
  TestCA,
  type TestKeyType,
  trackConnections,
  until,
} from '@mtlskit/testkit';
import { afterAll, beforeAll, expect } from 'vitest';

export { until };

const NINETY_DAYS = 90 * 24 * 3600;
const ONE_YEAR = 365 * 24 * 3600;

export interface MtlsFixture {
  /** Filled in by the file's beforeAll. */
  readonly alice: IssuedCert;
  readonly bob: IssuedCert;
  readonly server: MtlsTestServer;
  /** What a store holds for `cert`: its certificate and key, and the CA of the server to trust. */
  fields(cert: IssuedCert): { cert: string; key: string; ca: string };
  /** Another client certificate from the CA that issued alice and bob (valid 90 days unless told). */
  issue(options: IssueOptions): Promise<IssuedCert>;
  /** What that CA answers to a renewal's CSR: the certificate of the CSR's key, valid a year unless told. */
  signCsr(csrPem: string, options?: Omit<IssueOptions, 'keyType'>): Promise<SignedCert>;
  /** {@link fields} as the JSON document a secret holds. */
  bundle(cert: IssuedCert): string;
  /** One request through `r`'s agent (answered 200); the fingerprint of the certificate the server saw. */
  presented(r: TlsResolver): Promise<string | undefined>;
  /** Starts requests through `r`'s agent that run until stopped. */
  flow(r: TlsResolver, options?: FlowOptions): RequestFlow;
  /**
   * The fingerprints presented with requests on `path` over connections that carried no request
   * before `at`: what the connections opened after a rotation at `at` presented.
   */
  presentedOnNewConnections(at: number, path?: string): (string | undefined)[];
}

export interface FlowOptions {
  /** Requests under way at once. Default 4. */
  workers?: number;
  /** The server path asked for. Default `/flow`. */
  path?: string;
  /** Each worker's pause between two requests. Default 0. */
  pauseMs?: number;
}

export interface RequestFlow {
  /** Requests answered or failed so far. */
  readonly sent: number;
  /** Every request that failed or was not answered 200. */
  readonly failures: unknown[];
  /** The fingerprint the server saw with each request answered 200, in the order the answers came. */
  readonly seen: string[];
  /** Resolves once a request answered from now on was served with `fingerprint`; `what` names it on timeout. */
  served(fingerprint: string, what: string, timeoutMs?: number): Promise<void>;
  /** {@link seen} with repeats folded: the certificates one after another. */
  order(): string[];
  /** Lets each worker finish its request, then stops. */
  stop(): Promise<void>;
}

/**
 * Registers the file's beforeAll/afterAll: a CA (with `intermediate`, a root and an issuing CA under
 * it, the server trusting the root), alice and bob valid 90 days, the server, and the loopback check.
 */
export function useMtlsFixture(options: { intermediate?: boolean; keyType?: TestKeyType } = {}): MtlsFixture {
  let net: ConnectionTracker;
  let alice: IssuedCert;
  let bob: IssuedCert;
  let server: MtlsTestServer;
  let ca: TestCA;

  beforeAll(async () => {
    net = trackConnections();
    const root = await TestCA.create({
      commonName: options.intermediate ? 'e2e client root' : 'e2e client CA',
    });
    ca = options.intermediate ? await root.intermediate({ commonName: 'e2e issuing CA' }) : root;
    const issue = (commonName: string) =>
      ca.issueClient({ commonName, validForSeconds: NINETY_DAYS, keyType: options.keyType });
    alice = await issue('alice');
    bob = await issue('bob');
    server = await startMtlsServer({ clientCa: root });
  });
  afterAll(async () => {
    await server.close();
    net.stop();
    expect(net.offLoopback()).toEqual([]);
  });

  const fields = (cert: IssuedCert) => ({ cert: cert.certPem, key: cert.keyPem, ca: server.caPem });
  return {
    get alice() {
      return alice;
    },
    get bob() {
      return bob;
    },
    get server() {
      return server;
    },
    fields,
    issue: (more) => ca.issueClient({ validForSeconds: NINETY_DAYS, keyType: options.keyType, ...more }),
    signCsr: (csrPem, more) => ca.signCsr(csrPem, { validForSeconds: ONE_YEAR, ...more }),
    bundle: (cert) => JSON.stringify(fields(cert)),
    async presented(r) {
      const response = await httpsRequest(`${server.url}/whoami`, { agent: r.agent() });
      expect(response.status).toBe(200);
      return server.requests.at(-1)?.peerFingerprint256;
    },
    flow(r, { workers = 4, path = '/flow', pauseMs = 0 } = {}) {
      let running = true;
      let sent = 0;
      const failures: unknown[] = [];
      const seen: string[] = [];
      const loops = Array.from({ length: workers }, async () => {
        while (running) {
          try {
            const response = await httpsRequest(`${server.url}${path}`, { agent: r.agent() });
            if (response.status !== 200) failures.push(new Error(`status ${response.status}`));
            else seen.push(JSON.parse(response.body).fingerprint256 as string);
          } catch (err) {
            failures.push(err);
          }
          sent++;
          if (pauseMs > 0) await new Promise((resolve) => setTimeout(resolve, pauseMs));
        }
      });
      return {
        get sent() {
          return sent;
        },
        failures,
        seen,
        served(fingerprint, what, timeoutMs = 10_000) {
          const from = seen.length;
          return until(() => seen.indexOf(fingerprint, from) >= 0, what, timeoutMs);
        },
        order: () => seen.filter((f, i) => i === 0 || seen[i - 1] !== f),
        async stop() {
          running = false;
          await Promise.all(loops);
        },
      };
    },
    presentedOnNewConnections(at, path = '/flow') {
      const before = new Set(server.requests.filter((q) => q.at < at).map((q) => q.connectionId));
      return server.requests
        .filter((q) => q.path === path && !before.has(q.connectionId))
        .map((q) => q.peerFingerprint256);
    },
  };
}
