import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type IssuedCert, TestCA } from '@mtlskit/testkit';
import { runSourceConformance } from '@mtlskit/testkit/conformance';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MtlsError } from '../errors.js';
import type { CredentialMaterial, CredentialSource } from '../types.js';
import { loadCredentials } from '../validation/load.js';
import { text } from './__tests__/material.js';
import { envSource } from './env.js';
import { fileSource } from './file.js';
import { firstOf } from './first-of.js';
import { inlineSource } from './inline.js';

let one: IssuedCert;
let two: IssuedCert;
let dir: string;

beforeAll(async () => {
  const ca = await TestCA.create();
  one = await ca.issueClient({ commonName: 'first one' });
  two = await ca.issueClient({ commonName: 'first two' });
  dir = await mkdtemp(join(tmpdir(), 'mtlskit-firstof-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function failing(
  id: string,
  code: 'ACCESS_DENIED' | 'SOURCE_NOT_FOUND',
): CredentialSource & { loads: number } {
  const source = {
    id,
    loads: 0,
    async load() {
      source.loads++;
      throw new MtlsError(code, `${id} says ${code}.`, { sourceId: id });
    },
  };
  return source;
}

describe('firstOf', () => {
  it('loads from the first source that has a credential, in the order given', async () => {
    const env: Record<string, string> = {};
    const fromEnv = envSource({ env });
    const fromMemory = inlineSource({ cert: two.fullChainPem, key: two.keyPem });
    const source = firstOf(fromEnv, fromMemory);
    expect(source.id).toBe('firstOf(env:, inline)');
    expect((await loadCredentials(source)).fingerprint256).toBe(two.fingerprint256);

    env.MTLS_CERT = one.fullChainPem;
    env.MTLS_KEY = one.keyPem;
    expect((await loadCredentials(source)).fingerprint256).toBe(one.fingerprint256);
  });

  it('changes its version when it falls back to another source, even to identical content', async () => {
    const env: Record<string, string> = { MTLS_CERT: one.fullChainPem, MTLS_KEY: one.keyPem };
    const source = firstOf(envSource({ env }), inlineSource({ cert: one.fullChainPem, key: one.keyPem }));
    const primary = await source.version!();
    expect(primary).toMatch(/^0:/);
    expect((await source.load()).version).toBe(primary);
    delete env.MTLS_CERT;
    delete env.MTLS_KEY; // a key alone would be a broken configuration, which firstOf reports
    expect(await source.version!()).toMatch(/^1:/);
  });

  it('derives a version from what a source without version() loads', async () => {
    const held = inlineSource({ cert: one.fullChainPem, key: one.keyPem });
    const noVersion: CredentialSource = { id: 'plain', load: (ctx) => held.load(ctx) };
    const source = firstOf(noVersion);
    const v1 = await source.version!();
    expect(v1).toMatch(/^0:/);
    expect(await source.version!()).toBe(v1);
    await held.store({ cert: two.fullChainPem, key: two.keyPem });
    expect(await source.version!()).not.toBe(v1);
  });

  it('needs at least one source', () => {
    expect(() => firstOf()).toThrow(/firstOf\(\) needs at least one source/);
  });

  it('does not fall through on a failure other than "not found": access denied is reported', async () => {
    const denied = failing('vault://secret/mtls', 'ACCESS_DENIED');
    const fallback = inlineSource({ cert: one.fullChainPem, key: one.keyPem });
    await expect(firstOf(denied, fallback).load()).rejects.toMatchObject({
      code: 'ACCESS_DENIED',
      sourceId: 'vault://secret/mtls',
    });
  });

  it('does not fall through when a source is configured but broken, naming what is wrong', async () => {
    const fallback = inlineSource({ cert: one.fullChainPem, key: one.keyPem });
    const folder = join(dir, 'a-folder');
    await mkdir(folder, { recursive: true });
    const certFile = join(dir, 'broken-cert.pem');
    await writeFile(certFile, one.fullChainPem);
    const halfDir = join(dir, 'half');
    await mkdir(halfDir, { recursive: true });
    await writeFile(join(halfDir, 'tls.crt'), one.fullChainPem);
    const broken: Array<[CredentialSource, RegExp]> = [
      // A *_FILE variable naming a folder (and another naming a missing file).
      [
        envSource({ env: { MTLS_CERT_FILE: folder, MTLS_KEY_FILE: join(dir, 'missing.key') } }),
        /^MTLS_CERT_FILE \(.*a-folder\) is a directory, where a file was expected/,
      ],
      [
        envSource({ env: { MTLS_CERT: one.fullChainPem, MTLS_KEY_FILE: join(dir, 'missing.key') } }),
        /^MTLS_KEY_FILE \(.*missing\.key\): no such file/,
      ],
      // A key without its certificate.
      [envSource({ env: { MTLS_KEY: one.keyPem } }), /^No certificate in the environment: MTLS_KEY is set/],
      // A certificate file whose key file is missing, and a directory with tls.crt but no tls.key.
      [fileSource({ cert: certFile, key: join(dir, 'missing.key') }), /missing\.key: no such file/],
      [fileSource(halfDir), /has tls\.crt but no tls\.key/],
    ];
    for (const [source, message] of broken) {
      const err = await firstOf(source, fallback)
        .load()
        .catch((e) => e);
      expect(err, source.id).toBeInstanceOf(MtlsError);
      expect(err, source.id).toMatchObject({ code: 'SOURCE_NOT_FOUND', sourceId: source.id });
      expect(err.message, source.id).toMatch(message);
      await expect(firstOf(source, fallback).version!(), source.id).rejects.toMatchObject({
        code: 'SOURCE_NOT_FOUND',
      });
    }
    // Nothing configured at all still falls through: no variable set, no file at the paths.
    for (const nothing of [
      envSource({ env: {} }),
      fileSource(join(dir, 'not-mounted')),
      fileSource({ cert: join(dir, 'no.crt'), key: join(dir, 'no.key') }),
    ]) {
      expect((await loadCredentials(firstOf(nothing, fallback))).fingerprint256, nothing.id).toBe(
        one.fingerprint256,
      );
    }
  });

  it('says what each source reported when none has a credential', async () => {
    const err = await firstOf(failing('aws-sm://a', 'SOURCE_NOT_FOUND'), envSource({ env: {} }))
      .load()
      .catch((e) => e);
    expect(err).toMatchObject({ code: 'SOURCE_NOT_FOUND', sourceId: 'firstOf(aws-sm://a, env:)' });
    expect(err.message).toMatch(
      /\(1\) aws-sm:\/\/a: aws-sm:\/\/a says SOURCE_NOT_FOUND\. \(2\) env:: No credential in the environment/,
    );
  });

  it('watches every source that can watch, and closes them all', async () => {
    const calls: string[] = [];
    const closed: string[] = [];
    const watching = (id: string): CredentialSource => ({
      id,
      load: async () => ({}),
      watch(onChange) {
        calls.push(`watch ${id}`);
        onChange();
        return () => calls.push(`stop ${id}`);
      },
      close: async () => {
        closed.push(id);
      },
    });
    let changes = 0;
    const source = firstOf(watching('a'), envSource({ env: {} }), watching('b'));
    const stop = source.watch!(() => changes++);
    stop();
    await source.close!();
    expect(changes).toBe(2);
    expect(calls).toEqual(['watch a', 'watch b', 'stop a', 'stop b']);
    expect(closed).toEqual(['a', 'b']);
    expect(firstOf(envSource({ env: {} })).watch).toBeUndefined();
  });
});

// Precedence as users write it: the environment first, then a mounted directory.
runSourceConformance('firstOf(env:, file:DIR)', async ({ material }) => {
  const home = await mkdtemp(join(tmpdir(), 'mtlskit-firstof-conf-'));
  const write = async (m: CredentialMaterial) => {
    await writeFile(join(home, 'certificate.pem'), text(m.cert));
    await writeFile(join(home, 'private.key'), text(m.key), { mode: 0o600 });
  };
  await write(material);
  return {
    source: firstOf(envSource({ env: {} }), fileSource(home)),
    write,
    versionFollowsContent: true,
    async remove() {
      await rm(join(home, 'certificate.pem'), { force: true });
    },
    async close() {
      await rm(home, { recursive: true, force: true });
    },
  };
});
