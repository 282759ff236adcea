// Soak: many refresh, renewal and token-renewal cycles with short lifetimes, at once, and no growth.
// - Refresh: a resolver over AWS Secrets Manager (the real SDK against the testkit emulator) probing
//   every 10 ms, with requests through its agent(), fetch() and http2() to real mTLS servers.
// - Renewal: the staged renewal of @mtlskit/cli/renewal (start → CA signs the CSR → complete →
//   promote) on that secret, again and again; the resolver rotates to each promoted certificate.
// - Token renewal: a resolver over Vault KV logging in with AppRole for tokens of 1 s (max 2 s): the
//   source renews them (renew-self) and logs in again when the max TTL caps them; and a resolver over
//   Azure Key Vault whose credential hands out tokens valid 1 s, which the Azure SDK fetches again.
// After a warm-up, halfway and at the end, with requests stopped, the emulators' logs cleared, the
// AWS secret compacted, the HTTP/1.1 test server replaced and a full GC: no growth in live sockets,
// TLS wraps, HTTP/2 sessions or timers (async_hooks counts them whether ref'd or not), in listeners on
// the resolvers, agents, dispatchers and process, in pooled sockets, undici Agents and HTTP/2
// sessions, nor in the heap over the second half; and the identities rotated away (their credentials
// and SecureContexts) are collected. First, a regression test for the resolver's timer, which left a
// timer list behind at each refresh. Short mode in `npm test`; `MTLSKIT_LONG=1` runs minutes
// (docs/reliability.md, "Soak").
import type { EventEmitter } from 'node:events';
import v8 from 'node:v8';
import type { AccessToken, TokenCredential } from '@azure/identity';
import { completeRenewal, promoteRenewal, startRenewal } from '@mtlskit/cli/renewal';
import { createTlsResolver, type RefreshFailedEvent, type TlsResolver } from '@mtlskit/core';
import {
  httpsRequest,
  type IssuedCert,
  type MtlsTestServer,
  startMtlsServer,
  TestCA,
  until,
} from '@mtlskit/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AwsHarness, startAwsHarness } from '../../packages/aws/src/__tests__/harness.js';
import { type AzureHarness, startAzureHarness } from '../../packages/azure/src/__tests__/harness.js';
import { SYSTEM_CLOCK, WakeUp } from '../../packages/core/src/resolver/schedule.js';
import { startVaultHarness, type VaultHarness } from '../../packages/vault/src/__tests__/harness.js';
import { type H2TestServer, startH2Server } from '../http2/server.js';
import {
  envNumber,
  fullGc,
  grown,
  LONG,
  listenerCounts,
  machineLine,
  memory,
  mib,
  trackHandles,
} from './measure-support.js';

/** Seconds of warm-up, then of the measured run: 1.5 + 4 in `npm test`, 20 + 300 in long mode. */
const WARMUP_SECONDS = envNumber('MTLSKIT_SOAK_WARMUP_SECONDS', LONG ? 20 : 1.5);
const SECONDS = envNumber('MTLSKIT_SOAK_SECONDS', LONG ? 300 : 4);
/** Handles of one type may differ by this much between the two snapshots (a refresh in flight, a keep-alive socket). */
const HANDLE_SLACK = 4;
/** The heap may grow this much over the second half of the run (V8 keeps some slack even after a full GC). */
const HEAP_SLACK = 3 * 1_048_576;
/**
 * Or this much per rotation in that half: the test's own records grow with each one (the three
 * harnesses' loopback trackers record every new connection, the HTTP/2 test server every session,
 * the test a WeakRef per identity), about 2 KiB together. A leaked identity (its SecureContext, key
 * and pooled clients) would be more, and the WeakRef check below catches it exactly.
 */
const HEAP_PER_ROTATION = 4 * 1024;

const SECRET = 'prod/soak/mtls';
const VAULT_PATH = 'secret/soak/mtls';
const AZURE_NAME = 'soak-mtls';
const SECRET_ID = 'soak-secret-id-0b6e';

let ca: TestCA;
let server: MtlsTestServer;
let h2: H2TestServer;
let aws: AwsHarness;
let vault: VaultHarness;
let azure: AzureHarness;

beforeAll(async () => {
  ca = await TestCA.create({ commonName: 'soak client CA' });
  server = await startMtlsServer({ clientCa: ca, serverCa: ca });
  h2 = await startH2Server(ca);
  [aws, vault, azure] = await Promise.all([startAwsHarness(), startVaultHarness(), startAzureHarness()]);
});
afterAll(async () => {
  await h2?.close();
  await server?.close();
  await Promise.all([aws?.close(), vault?.close(), azure?.close()]);
});

const fields = (cert: IssuedCert) => ({ cert: cert.fullChainPem, key: cert.keyPem, ca: ca.rootPem });

/** A TokenCredential whose tokens last `lifetimeMs`: the Azure SDK asks again once one is about to end. */
function shortLivedCredential(lifetimeMs: number): TokenCredential & { issued: number } {
  const credential = {
    issued: 0,
    async getToken(): Promise<AccessToken> {
      credential.issued++;
      return { token: `soak-token-${credential.issued}`, expiresOnTimestamp: Date.now() + lifetimeMs };
    },
  };
  return credential;
}

/**
 * The emulators keep every version and every call, as a store that never prunes would: between the
 * snapshots that would be their growth, not the client's. The AWS secret is rewritten as one version
 * holding the current value (the resolver reads the same credential again: no rotation), and the logs
 * are emptied. The HTTP/1.1 server is replaced by a new one (the clients find it at its new port):
 * besides its records it keeps the chain of every client certificate it saw (a Buffer copied from
 * Node's 8 KiB pool, which it holds whole), one per renewal.
 */
async function compactRecords(): Promise<void> {
  const current = aws.emulator.secrets.get(SECRET, { label: 'AWSCURRENT' });
  if (current !== undefined) {
    aws.emulator.secrets.delete(SECRET);
    aws.emulator.putSecret(SECRET, current.value);
  }
  for (const emulator of [aws.emulator, vault.emulator, azure.emulator]) emulator.log.clear();
  await server.close();
  server = await startMtlsServer({ clientCa: ca, serverCa: ca });
}

describe('soak', () => {
  // Node keeps the list of a cleared unref'd timer until the time it was set for (about 140 bytes a
  // distinct delay). The resolver arms its one timer, unref'd, for the warning point each time a
  // refresh starts and clears it when the refresh ends: with a warning point under 24.8 days away (a
  // short certificate, the last weeks of a long one) every refresh left a list behind, for days.
  it('re-arming the resolver timer for ever-different far deadlines retains nothing', async () => {
    // Every resolver on the system clock shares one timer (schedule.ts SharedTimer): arming the only
    // wake-up re-arms that timer each time.
    const wake = new WakeUp(SYSTEM_CLOCK, () => {});
    const rearm = (times: number) => {
      const now = Date.now();
      for (let i = 0; i < times; i++) wake.arm(now + 3_600_000 + i * 7);
      wake.disarm();
    };
    rearm(2_000);
    await fullGc();
    const before = memory().heapUsed;
    const times = 20_000;
    rearm(times);
    await fullGc();
    const perArm = (memory().heapUsed - before) / times;
    console.log(
      `soak: ${times} re-arms of the wake-up timer, ${perArm.toFixed(1)} bytes retained per re-arm`,
    );
    expect(perArm).toBeLessThan(10);
  });

  it(`refresh, staged-renewal and token-renewal cycles for ${SECONDS} s: no growth in sockets, timers, listeners or heap`, {
    timeout: (WARMUP_SECONDS + SECONDS + 90) * 1000,
  }, async () => {
    const first = await ca.issueClient({ commonName: 'soak client', dnsNames: ['soak.example.com'] });
    aws.emulator.putSecret(SECRET, JSON.stringify(fields(first)));
    vault.emulator.putSecret(VAULT_PATH, fields(first));
    azure.emulator.putSecret(AZURE_NAME, JSON.stringify(fields(first)));
    const { roleId } = vault.emulator.addAppRole('soak', {
      secretIds: [SECRET_ID],
      tokenTtl: 1,
      tokenMaxTtl: 2,
    });

    const refreshFailures: Array<{ resolver: string; event: RefreshFailedEvent }> = [];
    const watch = (name: string, r: TlsResolver) => {
      r.on('refreshFailed', (event) => refreshFailures.push({ resolver: name, event }));
      return r;
    };
    // The application side: three resolvers, refreshing often.
    const app = watch(
      'aws',
      createTlsResolver({
        source: aws.source({ secretId: SECRET }),
        refreshIntervalMs: 10,
        jitter: 0,
      }),
    );
    const viaVault = watch(
      'vault',
      createTlsResolver({
        source: vault.source({
          path: VAULT_PATH,
          kv: 2,
          auth: { method: 'approle', roleId, secretId: SECRET_ID },
        }),
        refreshIntervalMs: 50,
        jitter: 0,
      }),
    );
    const credential = shortLivedCredential(1_000);
    const viaAzure = watch(
      'azure',
      createTlsResolver({
        source: azure.source({ name: AZURE_NAME, credential }),
        refreshIntervalMs: 20,
        jitter: 0,
      }),
    );
    // The renewal side: its own source on the same secret, as `mtlskit renew` would have.
    const renewer = aws.source({ secretId: SECRET });
    const resolvers = { aws: app, vault: viaVault, azure: viaAzure };
    await Promise.all(Object.values(resolvers).map((r) => r.credentials()));
    const h2client = app.http2(h2.url);

    // Every identity the app resolver rotated to, held weakly: those rotated away must be collected.
    const identities: Array<{ fingerprint: string; credentials: WeakRef<object>; context: WeakRef<object> }> =
      [];
    const remember = async () => {
      const [credentials, context] = await Promise.all([app.credentials(), app.secureContext()]);
      identities.push({
        fingerprint: credentials.fingerprint256,
        credentials: new WeakRef(credentials),
        context: new WeakRef(context),
      });
    };
    await remember();
    let rotations = 0;
    app.on('rotated', () => {
      rotations++;
      void remember();
    });

    const failures: unknown[] = [];
    let renewals = 0;
    let requests = 0;
    /** Runs requests and renewals until `ms` have passed, then lets them finish. */
    const phase = async (ms: number) => {
      let running = true;
      const ask = async (send: () => Promise<number>) => {
        while (running) {
          try {
            const status = await send();
            if (status !== 200) failures.push(new Error(`status ${status}`));
            requests++;
          } catch (err) {
            failures.push(err);
          }
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
      };
      const h2get = () =>
        new Promise<number>((resolve, reject) => {
          const stream = h2client.request({ ':path': '/soak/http2' });
          let status = 0;
          stream.on('response', (headers) => {
            status = Number(headers[':status']);
          });
          stream.resume();
          stream.on('end', () => resolve(status));
          stream.on('error', reject);
        });
      const fetchGet = (r: TlsResolver, path: string) => async () => {
        const res = await r.fetch(`${server.url}${path}`);
        await res.arrayBuffer();
        return res.status;
      };
      const renewing = async () => {
        while (running) {
          try {
            const started = await startRenewal(renewer);
            const signed = await ca.signCsr(started.csrPem, { validForSeconds: 86_400 });
            const completed = await completeRenewal(renewer, signed.fullChainPem);
            await promoteRenewal(renewer, { version: completed.version });
            await until(
              () => app.health().fingerprint256 === signed.fingerprint256,
              'the promoted certificate served',
              10_000,
            );
            renewals++;
          } catch (err) {
            // Counted (the test fails), and the cycles go on: what they leave behind still shows.
            failures.push(err);
            await new Promise((resolve) => setTimeout(resolve, 100));
          }
        }
      };
      const loops = [
        ask(async () => (await httpsRequest(`${server.url}/soak/agent`, { agent: app.agent() })).status),
        ask(fetchGet(app, '/soak/fetch')),
        ask(h2get),
        ask(async () => (await httpsRequest(`${server.url}/soak/vault`, { agent: viaVault.agent() })).status),
        ask(fetchGet(viaAzure, '/soak/azure')),
        renewing(),
      ];
      await new Promise((resolve) => setTimeout(resolve, ms));
      running = false;
      await Promise.all(loops);
    };

    const handles = trackHandles({ stacks: process.env.MTLSKIT_SOAK_STACKS === '1' });
    const emitters: Record<string, EventEmitter> = {
      ...(resolvers as unknown as Record<string, EventEmitter>),
      'aws agent': app.agent(),
      'aws dispatcher': app.dispatcher() as unknown as EventEmitter,
      'vault agent': viaVault.agent(),
      'azure dispatcher': viaAzure.dispatcher() as unknown as EventEmitter,
      process,
    };
    const pooled = (agent: {
      sockets: NodeJS.ReadOnlyDict<unknown[]>;
      freeSockets: NodeJS.ReadOnlyDict<unknown[]>;
    }) =>
      [...Object.values(agent.sockets), ...Object.values(agent.freeSockets)].reduce(
        (sum, list) => sum + (list?.length ?? 0),
        0,
      );
    const counters = () => ({
      cycles: {
        refreshProbes: aws.emulator.log.count({ operation: 'DescribeSecret' }),
        vaultRenewSelf: vault.emulator.log.count({ operation: 'RenewSelf' }),
        vaultLogins: vault.emulator.log.count({ operation: 'AppRoleLogin' }),
        vaultReads: vault.emulator.log.count(),
        azureReads: azure.emulator.log.count(),
      },
    });
    const snapshot = async () => {
      const cycles = counters().cycles;
      // Let closing sockets finish closing and the last refreshes land.
      await new Promise((resolve) => setTimeout(resolve, 300));
      await compactRecords();
      await fullGc();
      const heap = memory();
      // To find what grew: MTLSKIT_SOAK_HEAPSNAPSHOT=DIR writes a heap snapshot at each point.
      const dir = process.env.MTLSKIT_SOAK_HEAPSNAPSHOT;
      if (dir) v8.writeHeapSnapshot(`${dir}/soak-${Date.now()}.heapsnapshot`);
      // A closed socket's or session's handle is destroyed once collected (hence after the GC above);
      // the resolvers go on refreshing meanwhile, and a load in flight holds its deadline timers and
      // its socket for a moment: the fewest of each type over a few samples is what stays.
      const samples: Array<Record<string, number>> = [];
      for (let i = 0; i < 8; i++) {
        await new Promise((resolve) => setTimeout(resolve, 25));
        samples.push(handles.live());
      }
      const live: Record<string, number> = {};
      for (const type of new Set(samples.flatMap((x) => Object.keys(x)))) {
        live[type] = Math.min(...samples.map((x) => x[type] ?? 0));
      }
      return {
        cycles,
        memory: heap,
        handles: live,
        listeners: listenerCounts(emitters),
        pools: {
          'aws agent sockets': pooled(app.agent()),
          'vault agent sockets': pooled(viaVault.agent()),
          'aws undici Agents': (app.dispatcher() as unknown as { liveAgents(): number }).liveAgents(),
          'azure undici Agents': (viaAzure.dispatcher() as unknown as { liveAgents(): number }).liveAgents(),
          'http2 sessions': h2client.liveSessions(),
          'server sockets': server.openSockets(),
        },
        tokens: credential.issued,
        sites: handles.sites(),
      };
    };

    let start: Awaited<ReturnType<typeof snapshot>>;
    let middle: Awaited<ReturnType<typeof snapshot>>;
    let rotationsAtMiddle = 0;
    let end: Awaited<ReturnType<typeof snapshot>>;
    const renewalsAtStart = { renewals: 0, rotations: 0, requests: 0 };
    try {
      await phase(WARMUP_SECONDS * 1000);
      start = await snapshot();
      Object.assign(renewalsAtStart, { renewals, rotations, requests });
      await phase((SECONDS * 1000) / 2);
      middle = await snapshot();
      rotationsAtMiddle = rotations;
      await phase((SECONDS * 1000) / 2);
      end = await snapshot();
    } finally {
      handles.stop();
      await h2client.close();
      await Promise.all(Object.values(resolvers).map((r) => r.close()));
      await renewer.close();
    }

    const cycles = {
      'refresh probes (AWS)': middle.cycles.refreshProbes + end.cycles.refreshProbes,
      'staged renewals (AWS)': renewals - renewalsAtStart.renewals,
      rotations: rotations - renewalsAtStart.rotations,
      'Vault token renewals': middle.cycles.vaultRenewSelf + end.cycles.vaultRenewSelf,
      'Vault logins': middle.cycles.vaultLogins + end.cycles.vaultLogins,
      'Vault calls': middle.cycles.vaultReads + end.cycles.vaultReads,
      'Azure tokens': end.tokens - start.tokens,
      'Azure calls': middle.cycles.azureReads + end.cycles.azureReads,
      requests: requests - renewalsAtStart.requests,
    };
    // Compiled code keeps growing for a while as more paths get hot (and deoptimised), which the first
    // half takes; a leak grows as much in the second half as in the first.
    const heapGrowth = end.memory.heapUsed - start.memory.heapUsed;
    const secondHalf = end.memory.heapUsed - middle.memory.heapUsed;
    const kib = (bytes: number) => `${bytes >= 0 ? '+' : ''}${(bytes / 1024).toFixed(0)} KiB`;
    console.log(
      [
        `soak: ${LONG ? 'long' : 'short'} mode, ${WARMUP_SECONDS} s warm-up, then ${SECONDS} s measured`,
        `cycles: ${Object.entries(cycles)
          .map(([k, v]) => `${k} ${v}`)
          .join(', ')}`,
        `heap after GC ${mib(start.memory.heapUsed)} → ${mib(middle.memory.heapUsed)} → ${mib(end.memory.heapUsed)} (${kib(heapGrowth)}: first half ${kib(heapGrowth - secondHalf)}, second half ${kib(secondHalf)} over ${rotations - rotationsAtMiddle} rotations), external ${mib(start.memory.external)} → ${mib(end.memory.external)}, RSS ${mib(start.memory.rss)} → ${mib(end.memory.rss)}`,
        `handles ${JSON.stringify(start.handles)} → ${JSON.stringify(end.handles)}`,
        `listeners ${JSON.stringify(start.listeners)} → ${JSON.stringify(end.listeners)}`,
        `pools ${JSON.stringify(start.pools)} → ${JSON.stringify(end.pools)}`,
        `identities alive after GC: ${identities.filter((i) => i.credentials.deref() !== undefined).length} credentials, ${identities.filter((i) => i.context.deref() !== undefined).length} SecureContexts of ${identities.length}`,
        `refreshes failed: ${refreshFailures.length}`,
        ...[...end.sites]
          .filter(([site, n]) => n > (start.sites.get(site) ?? 0))
          .map(([site, n]) => `grew: ${start.sites.get(site) ?? 0} → ${n} ${site}`),
        machineLine(),
      ].join('\n  '),
    );

    expect(failures.slice(0, 5)).toEqual([]);
    expect(refreshFailures.map((f) => `${f.resolver}: ${f.event.error.code}`)).toEqual([]);
    // The cycles did happen, each kind several times.
    expect(cycles['refresh probes (AWS)']).toBeGreaterThan(SECONDS * 5);
    expect(cycles['staged renewals (AWS)']).toBeGreaterThanOrEqual(3);
    expect(cycles.rotations).toBeGreaterThanOrEqual(cycles['staged renewals (AWS)']);
    expect(cycles['Vault token renewals'] + cycles['Vault logins']).toBeGreaterThanOrEqual(3);
    expect(cycles['Vault logins']).toBeGreaterThanOrEqual(1);
    expect(cycles['Azure tokens']).toBeGreaterThanOrEqual(3);
    // No growth.
    expect(grown(start.handles, end.handles, HANDLE_SLACK)).toEqual({});
    expect(grown(start.listeners, end.listeners)).toEqual({});
    expect(grown(start.pools, end.pools, 2)).toEqual({});
    expect(end.pools['aws undici Agents']).toBe(1);
    expect(end.pools['http2 sessions']).toBeLessThanOrEqual(1);
    expect(secondHalf).toBeLessThan(
      Math.max(HEAP_SLACK, HEAP_PER_ROTATION * (rotations - rotationsAtMiddle)),
    );
    // Only the identity served now (and the one before, whose last connection may just have closed)
    // is still reachable.
    const alive = identities.filter(
      (i) => i.credentials.deref() !== undefined || i.context.deref() !== undefined,
    );
    expect(identities.length).toBeGreaterThan(cycles.rotations);
    expect(alive.length).toBeLessThanOrEqual(2);
    expect(alive.map((i) => i.fingerprint)).toContain(identities.at(-1)?.fingerprint);
  });
});
