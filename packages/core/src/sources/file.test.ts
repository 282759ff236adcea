import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readdirSync, readlinkSync } from 'node:fs';
import {
  chmod,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  readlink,
  rename,
  rm,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { inspect } from 'node:util';
import { type IssuedCert, leakCheck, TestCA } from '@mtlskit/testkit';
import { runSourceConformance } from '@mtlskit/testkit/conformance';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { MtlsError } from '../errors.js';
import type { CredentialMaterial, FieldValue, Finding } from '../types.js';
import { loadCredentials } from '../validation/load.js';
import {
  fifoOpenBlocked,
  fifoOpensBlocked,
  fifoUnsupported,
  makeFifo,
  releaseFifo,
  removeFifo,
} from './__tests__/fifo.js';
import { put, text } from './__tests__/material.js';
import {
  actAsNobody,
  nobodyCannotRun,
  removeTranspiledCore,
  runAsNobody,
  transpiledCore,
} from './__tests__/node-child.js';
import { until, watchedByThisProcess } from './__tests__/watching.js';
import { envSource } from './env.js';
import { fileSource } from './file.js';

const isRoot = process.getuid?.() === 0;

let ca: TestCA;
let one: IssuedCert;
let two: IssuedCert;
let root: string;

beforeAll(async () => {
  ca = await TestCA.create();
  one = await ca.issueClient({ commonName: 'file one' });
  two = await ca.issueClient({ commonName: 'file two' });
  root = await mkdtemp(join(tmpdir(), 'mtlskit-file-'));
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
  await removeTranspiledCore();
});

let counter = 0;
async function freshDir(): Promise<string> {
  const dir = join(root, `d${++counter}`);
  await mkdir(dir);
  return dir;
}

/**
 * Does what the kubelet's atomic writer does for a Secret volume: the files go into a new timestamped
 * directory, a `..data_tmp` symlink to it is renamed over `..data`, the user-visible names are
 * symlinks through `..data`, and the previous directory is removed. Returns the new directory's name.
 */
async function kubernetesWrite(dir: string, files: Record<string, string>): Promise<string> {
  const generation = `..2026_01_01_00_00_00.${process.hrtime.bigint()}`;
  await mkdir(join(dir, generation));
  for (const [name, content] of Object.entries(files)) await put(join(dir, generation, name), content, 0o600);
  const old = await readlink(join(dir, '..data')).catch(() => undefined);
  await symlink(generation, join(dir, '..data_tmp'));
  await rename(join(dir, '..data_tmp'), join(dir, '..data'));
  for (const name of Object.keys(files)) {
    await symlink(join('..data', name), join(dir, name)).catch((err) => {
      if (err.code !== 'EEXIST') throw err;
    });
  }
  if (old !== undefined) await rm(join(dir, old), { recursive: true, force: true });
  return generation;
}

const pair = (c: IssuedCert) => ({ 'tls.crt': c.fullChainPem, 'tls.key': c.keyPem, 'ca.crt': c.caPem });

/** A watch() listener that loads on each call, as a resolver does; `nth(n)` resolves at the n-th load. */
function loadingListener(source: { load(): Promise<CredentialMaterial> }) {
  const loaded: CredentialMaterial[] = [];
  const waiters: Array<{ n: number; resolve: () => void }> = [];
  return {
    loaded,
    onChange(): void {
      void source.load().then((m) => {
        loaded.push(m);
        for (const w of waiters) if (loaded.length >= w.n) w.resolve();
      });
    },
    nth(n: number, timeoutMs = 5000): Promise<void> {
      if (loaded.length >= n) return Promise.resolve();
      return new Promise((resolve, reject) => {
        waiters.push({ n, resolve });
        setTimeout(
          () =>
            reject(new Error(`watch() reported ${loaded.length} change(s) within ${timeoutMs} ms, not ${n}`)),
          timeoutMs,
        ).unref();
      });
    },
  };
}

/** The fingerprint of what was loaded, after checking that its key belongs to its certificate. */
async function pairOf(material: CredentialMaterial): Promise<string> {
  expect(matches(material), 'certificate and key of one generation').toBe(true);
  return (await loadCredentials(material)).fingerprint256;
}

/** Whether this process has `path` open (Linux /proc); false where that cannot be seen. */
function openedByThisProcess(path: string): boolean {
  let fds: string[];
  try {
    fds = readdirSync('/proc/self/fd');
  } catch {
    return false;
  }
  return fds.some((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`) === path;
    } catch {
      return false;
    }
  });
}

/** Whether the loaded key belongs to the loaded certificate. */
function matches(material: CredentialMaterial): boolean {
  return new X509Certificate(text(material.cert)).checkPrivateKey(createPrivateKey(text(material.key)));
}

describe('fileSource', () => {
  it('reads a directory with certificate.pem, private.key and ca.pem', async () => {
    const dir = await freshDir();
    await put(join(dir, 'certificate.pem'), one.fullChainPem);
    await put(join(dir, 'private.key'), one.keyPem);
    await put(join(dir, 'ca.pem'), one.caPem);
    const source = fileSource(dir);
    expect(source.id).toBe(`file:${dir}`);
    const material = await source.load();
    expect(material).toMatchObject({ cert: one.fullChainPem, key: one.keyPem, ca: one.caPem });
    expect((await loadCredentials(material)).fingerprint256).toBe(one.fingerprint256);
  });

  it('reads a directory with the Kubernetes names tls.crt, tls.key and ca.crt', async () => {
    const dir = await freshDir();
    await kubernetesWrite(dir, pair(two));
    const material = await fileSource(dir).load();
    expect(material).toMatchObject({ cert: two.fullChainPem, key: two.keyPem, ca: two.caPem });
    expect((await loadCredentials(material)).fingerprint256).toBe(two.fingerprint256);
  });

  it('reads one PEM holding key and certificate as a bundle', async () => {
    const path = await put(join(await freshDir(), 'client.pem'), `${one.keyPem}${one.fullChainPem}`);
    const material = await fileSource(path).load();
    expect(Object.keys(material).sort()).toEqual(['bundle', 'fetchedAt', 'version']);
    expect((await loadCredentials(material)).fingerprint256).toBe(one.fingerprint256);
  });

  it('reads explicit paths, DER and PKCS#12 as bytes and PEM as text', async () => {
    const dir = await freshDir();
    const explicit = fileSource({
      cert: await put(join(dir, 'leaf.der'), one.certDer),
      key: await put(join(dir, 'leaf.key.der'), one.keyDer),
      ca: await put(join(dir, 'roots.pem'), one.caPem),
    });
    const material = await explicit.load();
    expect(material.cert).toBeInstanceOf(Uint8Array);
    expect(material.key).toBeInstanceOf(Uint8Array);
    expect(material.ca).toBe(one.caPem);
    expect((await loadCredentials(material)).fingerprint256).toBe(one.fingerprint256);

    const pfx = fileSource({ pfx: await put(join(dir, 'client.p12'), await one.pkcs12('p12-pass')) });
    expect(pfx.id).toBe(`file:?pfx=${join(dir, 'client.p12')}`);
    const p12 = await pfx.load();
    expect(p12.pfx).toBeInstanceOf(Uint8Array);
    expect((await loadCredentials({ ...p12, passphrase: 'p12-pass' })).fingerprint256).toBe(
      one.fingerprint256,
    );
  });

  it('takes ca and passphrase files beside a directory', async () => {
    const dir = await freshDir();
    await kubernetesWrite(dir, { 'tls.crt': one.fullChainPem, 'tls.key': one.encryptedPkcs8Pem('dir-pass') });
    const pass = await put(join(await freshDir(), 'pass.txt'), 'dir-pass\n');
    const ca = await put(join(await freshDir(), 'other-ca.pem'), one.caPem);
    const material = await fileSource({ path: dir, ca, passphrase: pass }).load();
    expect(material.ca).toBe(one.caPem);
    expect((await loadCredentials(material)).fingerprint256).toBe(one.fingerprint256);
  });

  it('names what it looked for when a directory holds no credential, or a certificate without its key', async () => {
    const empty = await freshDir();
    const none = await fileSource(empty)
      .load()
      .catch((e) => e);
    expect(none).toMatchObject({ code: 'SOURCE_NOT_FOUND', sourceId: `file:${empty}` });
    expect(none.message).toMatch(/neither certificate\.pem \+ private\.key nor tls\.crt \+ tls\.key/);

    const half = await freshDir();
    await put(join(half, 'tls.crt'), one.fullChainPem);
    const noKey = await fileSource(half)
      .load()
      .catch((e) => e);
    expect(noKey).toMatchObject({ code: 'SOURCE_NOT_FOUND', field: 'key' });
    expect(noKey.message).toMatch(/has tls\.crt but no tls\.key/);
  });

  it('distinguishes a missing path, a directory where a file is expected, and an empty file', async () => {
    const dir = await freshDir();
    await put(join(dir, 'key.pem'), one.keyPem);
    const missing = await fileSource(join(dir, 'gone'))
      .load()
      .catch((e) => e);
    expect(missing).toMatchObject({ code: 'SOURCE_NOT_FOUND' });
    expect(missing.message).toMatch(/gone: no such file/);

    const directory = await fileSource({ cert: dir, key: join(dir, 'key.pem') })
      .load()
      .catch((e) => e);
    expect(directory).toMatchObject({ code: 'SOURCE_NOT_FOUND', field: 'cert' });
    expect(directory.message).toMatch(/is a directory, where a file was expected/);

    const emptyCert = await put(join(dir, 'empty.pem'), '');
    const empty = await fileSource({ cert: emptyCert, key: join(dir, 'key.pem') })
      .load()
      .catch((e) => e);
    expect(empty).toMatchObject({ code: 'MISSING_FIELD', field: 'cert' });
    expect(empty.message).toMatch(/empty\.pem is empty/);
  });

  it('names a symbolic link loop, and stops reading at 16 MiB (a wrong path such as /dev/zero)', async () => {
    const dir = await freshDir();
    const key = await put(join(dir, 'key.pem'), one.keyPem);
    await symlink('loop-b', join(dir, 'loop-a'));
    await symlink('loop-a', join(dir, 'loop-b'));
    const loop = await fileSource({ cert: join(dir, 'loop-a'), key })
      .load()
      .catch((e) => e);
    expect(loop).toMatchObject({ code: 'SOURCE_NOT_FOUND', field: 'cert' });
    expect(loop.message).toMatch(/loop-a: symbolic link loop\. Fix the link/);

    const endless = await fileSource({ cert: '/dev/zero', key })
      .load()
      .catch((e) => e);
    expect(endless).toMatchObject({ code: 'DECODE_FAILED', field: 'cert' });
    expect(endless.message).toMatch(/\/dev\/zero is larger than 16 MiB, which no credential is/);
  });

  it('rejects at once when aborted while open() blocks (a FIFO, as on a hung mount), and closes the file if it opens later, through fileSource and MTLS_KEY_FILE', async (ctx) => {
    const dir = await freshDir();
    const cert = await put(join(dir, 'cert.pem'), one.fullChainPem);
    const key = join(dir, 'key.fifo');
    const why = makeFifo(key);
    if (why) ctx.skip(why);
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      for (const source of [
        fileSource({ cert, key }),
        envSource({ env: { MTLS_CERT_FILE: cert, MTLS_KEY_FILE: key }, onWarning: () => {} }),
      ]) {
        const controller = new AbortController();
        let settled = false;
        const pending = source.load({ signal: controller.signal }).then(
          () => 'resolved',
          (err: unknown) => err,
        );
        void pending.finally(() => {
          settled = true;
        });
        await fifoOpenBlocked();
        expect(settled, `${source.id}: still blocked on the FIFO before the abort`).toBe(false);
        const abortedAt = Date.now();
        controller.abort();
        const outcome = await Promise.race([
          pending,
          sleep(2000).then(() => 'still pending 2 s after the abort'),
        ]);
        expect(outcome, source.id).toBe(controller.signal.reason);
        expect(Date.now() - abortedAt, `${source.id}: rejected promptly`).toBeLessThan(1000);
        // A writer lets the abandoned open() through: its file must then be closed, not leaked.
        expect(await releaseFifo(key), `${source.id}: open() was still waiting`).toBeGreaterThan(0);
        // releaseFifo returned: no reader left, so the handle that opened late has been closed.
        expect(openedByThisProcess(key), `${source.id}: the late file handle is closed`).toBe(false);
      }
      await sleep(50);
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
      await removeFifo(key);
    }
  });

  it('holds one threadpool thread for a hung path however many loads are aborted on it, through fileSource and MTLS_KEY_FILE', async (ctx) => {
    const dir = await freshDir();
    const cert = await put(join(dir, 'cert.pem'), one.fullChainPem);
    const other = await put(join(dir, 'other.pem'), one.caPem);
    const key = join(dir, 'key.fifo');
    const why = makeFifo(key);
    if (why) ctx.skip(why);
    try {
      // Ten loads time out on the FIFO: each open() left behind would hold one of libuv's 4 threads.
      for (const source of [
        fileSource({ cert, key }),
        envSource({ env: { MTLS_CERT_FILE: cert, MTLS_KEY_FILE: key }, onWarning: () => {} }),
      ]) {
        for (let i = 0; i < 5; i++) {
          const controller = new AbortController();
          const pending = source.load({ signal: controller.signal }).then(
            () => 'resolved',
            (err: unknown) => err,
          );
          if (i === 0 && source.id.startsWith('file')) await fifoOpenBlocked();
          else await sleep(50); // time for a second open() to start, were it to
          controller.abort();
          expect(await pending, `${source.id}, load ${i + 1}`).toBe(controller.signal.reason);
        }
      }
      const blocked = fifoOpensBlocked();
      if (blocked !== undefined) expect(blocked, 'threads blocked opening the FIFO').toBe(1);
      // The rest of the process still has threads: reading another file completes at once.
      const started = Date.now();
      const read = await Promise.race([
        readFile(other, 'utf8'),
        sleep(2000).then(() => 'readFile of another file still pending after 2 s'),
      ]);
      expect(read).toBe(one.caPem);
      expect(Date.now() - started).toBeLessThan(1000);
    } finally {
      // Lets every open() through with synchronous calls, which need no threadpool thread.
      await releaseFifo(key);
      await removeFifo(key);
    }
    // Unblocked, the path serves loads again.
    await put(key, one.keyPem);
    expect((await loadCredentials(await fileSource({ cert, key }).load())).fingerprint256).toBe(
      one.fingerprint256,
    );
  });

  it('rejects an unreadable key file with ACCESS_DENIED, through fileSource and MTLS_KEY_FILE (as an unprivileged user when the tests run as root)', async (ctx) => {
    const dir = await freshDir();
    await chmod(root, 0o755); // mkdtemp makes it 0700: the key must be the only thing out of reach
    await chmod(dir, 0o755);
    const cert = await put(join(dir, 'cert.pem'), one.fullChainPem, 0o644);
    const key = await put(join(dir, 'key.pem'), one.keyPem, 0o600);
    const envMessage = new RegExp(
      `MTLS_KEY_FILE \\(${key.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\): permission denied`,
    );
    if (!isRoot) {
      await chmod(key, 0o000);
      const err = await fileSource({ cert, key })
        .load()
        .catch((e) => e);
      expect(err).toMatchObject({ code: 'ACCESS_DENIED', field: 'key' });
      expect(err.message).toMatch(/key\.pem: permission denied/);
      const viaEnv = await envSource({ env: { MTLS_CERT_FILE: cert, MTLS_KEY_FILE: key } })
        .load()
        .catch((e) => e);
      expect(viaEnv).toMatchObject({ code: 'ACCESS_DENIED', field: 'key' });
      expect(viaEnv.message).toMatch(envMessage);
      return;
    }
    // Root reads any file whatever its mode, so run the source as `nobody` in a child process.
    const blocked = nobodyCannotRun(join(await transpiledCore(), 'node_modules'));
    if (blocked)
      ctx.skip(`running as root, and user nobody cannot run this test's child process: ${blocked}`);
    const core = await transpiledCore();
    type Coded = { code: string; field: string; message: string };
    const outcome = await runAsNobody<{ file: Coded; env: Coded }>(
      `const { fileSource } = await import(${JSON.stringify(`${core}/sources/file.js`)});
       const { envSource } = await import(${JSON.stringify(`${core}/sources/env.js`)});
       const paths = { cert: ${JSON.stringify(cert)}, key: ${JSON.stringify(key)} };
       const coded = (e) => ({ code: e.code, field: e.field, message: e.message });
       const file = await fileSource(paths).load().catch(coded);
       const env = await envSource({ env: { MTLS_CERT_FILE: paths.cert, MTLS_KEY_FILE: paths.key } }).load().catch(coded);
       process.stdout.write(JSON.stringify({ file, env }));`,
    );
    expect(outcome.file).toMatchObject({ code: 'ACCESS_DENIED', field: 'key' });
    expect(outcome.file.message).toMatch(/key\.pem: permission denied/);
    expect(outcome.env).toMatchObject({ code: 'ACCESS_DENIED', field: 'key' });
    expect(outcome.env.message).toMatch(envMessage);
    leakCheck([one.keyPem]).check(outcome, 'ACCESS_DENIED errors');
  });

  it('warns once, through onWarning and warnings, when a key file is readable by group or others', async () => {
    const dir = await freshDir();
    await put(join(dir, 'tls.crt'), one.fullChainPem, 0o644);
    await put(join(dir, 'tls.key'), one.keyPem, 0o644);
    const findings: Finding[] = [];
    const source = fileSource({ path: dir, onWarning: (f) => findings.push(f) });
    await source.load();
    await source.load();
    expect(findings).toHaveLength(1);
    expect(findings[0]).toMatchObject({ code: 'KEY_FILE_PERMISSIONS', severity: 'warning', field: 'key' });
    expect(findings[0]!.message).toContain(join(dir, 'tls.key'));
    expect(findings[0]!.message).toMatch(/its group and all users \(mode 0644\)/);
    expect(source.warnings).toEqual(findings);

    await chmod(join(dir, 'tls.key'), 0o600);
    await source.load();
    expect(source.warnings).toEqual([]);
    expect(findings).toHaveLength(1);
  });

  it('reports a key file readable by others through process.emitWarning when no onWarning is given', async () => {
    const dir = await freshDir();
    await put(join(dir, 'tls.crt'), one.fullChainPem, 0o644);
    await put(join(dir, 'tls.key'), one.keyPem, 0o640);
    const emitted = vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
    try {
      await fileSource(dir).load();
      expect(emitted).toHaveBeenCalledTimes(1);
      expect(emitted.mock.calls[0]![0]).toMatch(
        /tls\.key \(the key\) is readable by its group \(mode 0640\)\. Run chmod 600/,
      );
      expect(emitted.mock.calls[0]![1]).toMatchObject({ code: 'MTLSKIT_KEY_FILE_PERMISSIONS' });
    } finally {
      emitted.mockRestore();
    }
  });

  it('rejects contradictory options when built', () => {
    expect(() => fileSource({ path: '/etc/mtls', cert: '/x.pem' })).toThrow(/conflicts/);
    expect(() => fileSource({ key: '/k.pem' })).toThrow(/key= needs cert=/);
    expect(() => fileSource({})).toThrow(MtlsError);
  });

  it('shows only its id and kind through inspect', async () => {
    const dir = await freshDir();
    await kubernetesWrite(dir, pair(one));
    const source = fileSource(dir);
    await source.load();
    expect(inspect(source)).toBe(`FileSource { id: ${JSON.stringify(`file:${dir}`)}, kind: 'static' }`);
    expect(JSON.parse(JSON.stringify(source))).toEqual({
      type: 'FileSource',
      id: `file:${dir}`,
      kind: 'static',
    });
  });
});

describe('actAsNobody (the test helper)', () => {
  let skipped: string | undefined;
  it('acts as nobody, and is left so by this test on purpose (as by a load that hung past its timeout)', (ctx) => {
    const acting = actAsNobody();
    if ('skip' in acting) {
      skipped = acting.skip;
      ctx.skip(acting.skip);
      return;
    }
    expect(process.geteuid?.()).toBe(65534);
    // No restore here: the test's end must undo it.
  });

  it('is undone once that test ended, so the rest of the file runs as root again', (ctx) => {
    if (skipped !== undefined) ctx.skip(skipped);
    expect(process.geteuid?.()).toBe(0);
    expect(process.getegid?.()).toBe(0);
  });
});

describe('fifoOpenBlocked (the test helper)', () => {
  /** A fake /proc/self/task: one directory per thread, each with its wchan. */
  async function tasks(wchans: string[]): Promise<string> {
    const dir = await freshDir();
    for (const [i, wchan] of wchans.entries()) {
      await mkdir(join(dir, `${100 + i}`));
      await writeFile(join(dir, `${100 + i}`, 'wchan'), wchan);
    }
    return dir;
  }

  it('counts the threads blocked opening a FIFO where wait channels show', async () => {
    const dir = await tasks(['0', 'do_epoll_wait', 'wait_for_partner', 'futex_do_wait', 'wait_for_partner']);
    expect(fifoOpensBlocked(dir)).toBe(2);
    await fifoOpenBlocked(1000, dir); // resolves: one is blocked
  });

  it('falls back to a short wait, not a failure, where every wchan reads 0 (restricted kernels, gVisor)', async () => {
    const dir = await tasks(['0', '0', '0']);
    expect(fifoOpensBlocked(dir)).toBeUndefined();
    const started = Date.now();
    await fifoOpenBlocked(1000, dir);
    expect(Date.now() - started).toBeLessThan(1000);
    expect(fifoOpensBlocked(join(dir, 'no-such-dir'))).toBeUndefined();
  });
});

describe('fileSource watch()', () => {
  it('picks up a Kubernetes ..data swap exactly once, and the pair then loaded matches', async () => {
    const dir = await freshDir();
    const first = await kubernetesWrite(dir, pair(one));
    const source = fileSource({ path: dir, debounceMs: 50 });
    expect((await loadCredentials(await source.load())).fingerprint256).toBe(one.fingerprint256);
    // What a resolver does: reload when told, and use what it read.
    const loaded: CredentialMaterial[] = [];
    const stop = source.watch(() => {
      void source.load().then((m) => loaded.push(m));
    });
    await sleep(100);

    const second = await kubernetesWrite(dir, pair(two));
    // The swap really happened as the kubelet does it: one generation left, `..data` pointing at it.
    expect(await readlink(join(dir, '..data'))).toBe(second);
    expect((await readdir(dir)).filter((n) => n.startsWith('..2')).sort()).toEqual([second]);
    expect(second).not.toBe(first);

    for (let waited = 0; loaded.length === 0 && waited < 5000; waited += 20) await sleep(20);
    await sleep(400); // several debounce periods: a second notification would have come by now
    expect(loaded).toHaveLength(1);
    expect(matches(loaded[0]!), 'certificate and key of one generation').toBe(true);
    expect((await loadCredentials(loaded[0]!)).fingerprint256).toBe(two.fingerprint256);
    stop();
  });

  it('reads within ten debounce periods even when events never stop', async () => {
    const dir = await freshDir();
    await kubernetesWrite(dir, pair(one));
    const source = fileSource({ path: dir, debounceMs: 40 });
    await source.load();
    let calls = 0;
    const stop = source.watch(() => calls++);
    await sleep(60);
    await kubernetesWrite(dir, pair(two));
    // A process appending to a file beside the credential every 10 ms: never 40 ms of quiet.
    const started = Date.now();
    while (calls === 0 && Date.now() - started < 3000) {
      await writeFile(join(dir, 'audit.log'), `${Date.now()}\n`, { flag: 'a' });
      await sleep(10);
    }
    stop();
    expect(calls, 'a change reported while the events went on').toBe(1);
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('notices a file replaced by rename, and ignores events that change nothing', async () => {
    const dir = await freshDir();
    const cert = await put(join(dir, 'cert.pem'), one.fullChainPem);
    const key = await put(join(dir, 'key.pem'), one.keyPem);
    const source = fileSource({ cert, key, debounceMs: 30 });
    await source.load();
    let calls = 0;
    const stop = source.watch(() => calls++);
    await sleep(50);

    await put(join(dir, 'unrelated.txt'), 'noise');
    await put(cert, one.fullChainPem); // same content rewritten
    await sleep(300);
    expect(calls).toBe(0);

    await put(join(dir, 'key.tmp'), two.keyPem);
    await put(join(dir, 'cert.tmp'), two.fullChainPem);
    await rename(join(dir, 'key.tmp'), key);
    await rename(join(dir, 'cert.tmp'), cert);
    for (let waited = 0; calls === 0 && waited < 5000; waited += 20) await sleep(20);
    await sleep(300);
    expect(calls).toBe(1);
    expect((await loadCredentials(await source.load())).fingerprint256).toBe(two.fingerprint256);
    stop();
  });

  it('closes its filesystem watchers on stop() and close(), and reports nothing afterwards', async (ctx) => {
    const dir = await freshDir();
    await kubernetesWrite(dir, pair(one));
    if (watchedByThisProcess(dir) === undefined)
      ctx.skip('needs /proc/self/fdinfo (Linux) to see inotify watches');
    const source = fileSource({ path: dir, debounceMs: 20 });
    await source.load();
    let calls = 0;
    const stop = source.watch(() => calls++);
    source.watch(() => calls++);
    await until(() => watchedByThisProcess(dir) === true, 'watched while watch() is on');
    stop();
    stop(); // idempotent
    expect(watchedByThisProcess(dir), 'still watched for the second watch()').toBe(true);
    await source.close();
    expect(watchedByThisProcess(dir), 'no watch left after close()').toBe(false);
    await kubernetesWrite(dir, pair(two));
    await sleep(300);
    expect(calls).toBe(0);
  });

  it('keeps watching a directory that is removed and created again (rm -rf, then a new pair)', async () => {
    const dir = join(await freshDir(), 'certs');
    await mkdir(dir);
    // Explicit paths: their directory is what is watched. Each pair is written as one generation
    // (the atomic writer), so no read can pair one pair's certificate with the other's key.
    await kubernetesWrite(dir, pair(one));
    const cert = join(dir, 'tls.crt');
    const key = join(dir, 'tls.key');
    // Polling every 5 s (the default) is only a backstop: the parent is watched while `certs` is gone.
    const source = fileSource({ cert, key, debounceMs: 50 });
    await source.load();
    const listener = loadingListener(source);
    const stop = source.watch(() => listener.onChange());
    try {
      await until(() => watchedByThisProcess(dir) !== false, 'the directory is watched');
      await rm(dir, { recursive: true });
      await sleep(300); // the folder stays away a while, as in a redeploy
      await mkdir(dir);
      await kubernetesWrite(dir, pair(two));
      await listener.nth(1, 3000);
      await sleep(400); // several debounce periods: a second notification would have come by now
      expect(listener.loaded).toHaveLength(1);
      expect(await pairOf(listener.loaded[0]!)).toBe(two.fingerprint256);

      // The new folder is watched: a later rewrite is reported too.
      await kubernetesWrite(dir, pair(one));
      await listener.nth(2, 3000);
      expect(await pairOf(listener.loaded[1]!)).toBe(one.fingerprint256);
    } finally {
      stop();
    }
  });

  it('reads nothing on events in the parent while the watched directory is missing, and reads once it is back', async () => {
    const parent = await freshDir();
    const dir = join(parent, 'certs');
    await mkdir(dir);
    await kubernetesWrite(dir, pair(one));
    // Polling every 30 ms: a poll while the directory is missing must not read either.
    const source = fileSource({
      cert: join(dir, 'tls.crt'),
      key: join(dir, 'tls.key'),
      debounceMs: 20,
      pollIntervalMs: 30,
    });
    await source.load();
    const listener = loadingListener(source);
    const stop = source.watch(() => listener.onChange());
    // check() calls source.version(): count the reads watch() makes.
    const reads = vi.spyOn(source, 'version');
    try {
      await until(() => watchedByThisProcess(dir) !== false, 'the directory is watched');
      await rm(dir, { recursive: true });
      await until(() => watchedByThisProcess(parent) !== false, 'the parent is watched meanwhile');
      await sleep(200); // the reads of the removal itself are done
      reads.mockClear();
      // A busy parent (think /tmp or /etc): files come and go beside the missing directory.
      for (let i = 0; i < 20; i++) {
        await put(join(parent, `noise-${i}.txt`), `${i}`);
        await sleep(10);
      }
      await sleep(300); // many debounce and polling periods
      expect(reads, 'reads while the directory is missing').not.toHaveBeenCalled();

      await mkdir(dir);
      await kubernetesWrite(dir, pair(two));
      await listener.nth(1, 3000);
      expect(await pairOf(listener.loaded[0]!)).toBe(two.fingerprint256);
      expect(reads).toHaveBeenCalled();
    } finally {
      stop();
      reads.mockRestore();
    }
  });

  it('watches a bundle path that did not exist yet as a file once it appears: replacements reported, no polling', async () => {
    const parent = await freshDir();
    const bundle = join(parent, 'client.pem');
    const source = fileSource({ path: bundle, debounceMs: 20, pollIntervalMs: 30 });
    const listener = loadingListener(source);
    const stop = source.watch(() => listener.onChange());
    const reads = vi.spyOn(source, 'version');
    try {
      await until(() => watchedByThisProcess(parent) !== false, 'the parent is watched');
      await put(bundle, `${one.keyPem}${one.fullChainPem}`);
      await listener.nth(1, 3000);
      expect((await loadCredentials(listener.loaded[0]!)).fingerprint256).toBe(one.fingerprint256);

      // A file, so its directory is watched: no polling (every 30 ms), hence no read, while nothing happens.
      await sleep(200);
      reads.mockClear();
      await sleep(300);
      expect(reads, 'reads while nothing changes').not.toHaveBeenCalled();

      // Replaced by a rename, as a deploy tool does: reported.
      await put(join(parent, 'client.pem.tmp'), `${two.keyPem}${two.fullChainPem}`);
      await rename(join(parent, 'client.pem.tmp'), bundle);
      await listener.nth(2, 3000);
      expect((await loadCredentials(listener.loaded[1]!)).fingerprint256).toBe(two.fingerprint256);
    } finally {
      stop();
      reads.mockRestore();
    }
  });

  it('follows a directory replaced by a rename, and watches the new one', async () => {
    const parent = await freshDir();
    const dir = join(parent, 'certs');
    await kubernetesWrite(await mkdir(dir).then(() => dir), pair(one));
    const source = fileSource({ path: dir, debounceMs: 50 });
    await source.load();
    const listener = loadingListener(source);
    const stop = source.watch(() => listener.onChange());
    try {
      const next = join(parent, 'certs.next');
      await mkdir(next);
      await kubernetesWrite(next, pair(two));
      await rename(dir, join(parent, 'certs.old'));
      await rename(next, dir);
      await listener.nth(1, 3000);
      expect(await pairOf(listener.loaded[0]!)).toBe(two.fingerprint256);
      if (watchedByThisProcess(dir) !== undefined) {
        expect(watchedByThisProcess(dir), 'the directory now at the path is watched').toBe(true);
      }
      await kubernetesWrite(dir, pair(one));
      await listener.nth(2, 3000);
      expect(await pairOf(listener.loaded[1]!)).toBe(one.fingerprint256);
    } finally {
      stop();
    }
  });

  it('waits for a directory that does not exist yet, and reports the credential appearing', async () => {
    const dir = join(await freshDir(), 'not-yet');
    const source = fileSource({ cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem'), pollIntervalMs: 40 });
    let calls = 0;
    const stop = source.watch(() => calls++); // fs.watch of a missing directory fails: polling instead
    await sleep(100); // watch() first notes that there is nothing yet
    await mkdir(dir);
    await put(join(dir, 'cert.pem'), one.fullChainPem);
    await put(join(dir, 'key.pem'), one.keyPem);
    for (let waited = 0; calls === 0 && waited < 3000; waited += 20) await sleep(20);
    expect(calls).toBe(1);
    stop();
    await put(join(dir, 'cert.pem'), two.fullChainPem);
    await put(join(dir, 'key.pem'), two.keyPem);
    await sleep(150);
    expect(calls, 'nothing once stopped').toBe(1);
  });

  it('refuses a debounce or polling period that is not a duration', () => {
    expect(() => fileSource({ path: '/etc/mtls', debounceMs: -1 })).toThrow(/debounceMs must be a number/);
    expect(() => fileSource({ path: '/etc/mtls', pollIntervalMs: 0 })).toThrow(/pollIntervalMs must be/);
    expect(() => fileSource({ path: '/etc/mtls', debounceMs: Number.NaN })).toThrow(MtlsError);
  });

  it('never pairs the certificate of one generation with the key of another while swaps keep coming', async () => {
    const dir = await freshDir();
    await kubernetesWrite(dir, pair(one));
    const source = fileSource(dir);
    let swapping = true;
    const swaps = (async () => {
      for (let i = 0; i < 40; i++) await kubernetesWrite(dir, pair(i % 2 === 0 ? two : one));
      swapping = false;
    })();
    const expectedKey = new Map([
      [one.fullChainPem, one.keyPem],
      [two.fullChainPem, two.keyPem],
    ]);
    let loads = 0;
    while (swapping) {
      const material = await source.load().catch((err) => {
        // Only "the writer never let up" is acceptable, and it must be the retryable code.
        expect(err).toMatchObject({ code: 'SOURCE_UNAVAILABLE', retryable: true });
        return undefined;
      });
      if (material === undefined) continue;
      loads++;
      expect(
        expectedKey.get(text(material.cert)) === text(material.key),
        'certificate and key of one generation',
      ).toBe(true);
    }
    await swaps;
    expect(loads).toBeGreaterThan(5);
  });
});

// --- The conformance suite: a Kubernetes-style directory and explicit paths --------------------

/**
 * Makes the key file the only thing that cannot be read: as another user, chmod 000; as root (who
 * reads whatever the mode), by acting as `nobody` until `restore` is called (by the suite once its
 * load has failed, and by the harness's close() in any case).
 */
async function denyKey(
  dir: string,
  readable: string[],
  key: string,
): Promise<{
  outcome: { code: 'ACCESS_DENIED'; restore?: () => void } | { skip: string };
  restore?: () => void;
}> {
  await chmod(dir, 0o755);
  for (const path of readable) await chmod(path, 0o644);
  await chmod(key, 0o600);
  if (!isRoot) {
    await chmod(key, 0o000);
    return { outcome: { code: 'ACCESS_DENIED' } };
  }
  const acting = actAsNobody();
  if ('skip' in acting) return { outcome: acting };
  return { outcome: { code: 'ACCESS_DENIED', restore: acting }, restore: acting };
}

/** Replaces the key file with a FIFO nobody writes to: reads block in open(), as on a hung mount. */
async function slowKey(key: string, rewrite: () => Promise<void>): Promise<() => Promise<void>> {
  await rm(key);
  const why = makeFifo(key);
  if (why) throw new Error(why);
  return async () => {
    await removeFifo(key);
    await rewrite();
  };
}

const fifos = fifoUnsupported(tmpdir()) === undefined;

runSourceConformance('fileSource (Kubernetes Secret volume)', async ({ material }) => {
  const dir = await mkdtemp(join(tmpdir(), 'mtlskit-file-conf-'));
  let current = material;
  const write = async (m: CredentialMaterial) => {
    current = m;
    await kubernetesWrite(dir, {
      'tls.crt': text(m.cert),
      'tls.key': text(m.key),
      'ca.crt': text(m.ca as FieldValue),
    });
  };
  await write(material);
  let restoreUser: (() => void) | undefined;
  const key = join(dir, '..data', 'tls.key');
  return {
    source: fileSource({ path: dir, debounceMs: 30 }),
    write,
    versionFollowsContent: true,
    async remove() {
      for (const name of ['tls.crt', 'tls.key', 'ca.crt', '..data'])
        await rm(join(dir, name), { force: true });
    },
    async makeUnreadable() {
      const denied = await denyKey(dir, [join(dir, 'tls.crt'), join(dir, 'ca.crt')], key);
      restoreUser = denied.restore;
      return denied.outcome;
    },
    ...(fifos && {
      makeSlow: () => slowKey(key, () => put(key, text(current.key)).then(() => {})),
    }),
    async close() {
      restoreUser?.();
      await rm(dir, { recursive: true, force: true });
    },
  };
});

runSourceConformance('fileSource (explicit paths)', async ({ material }) => {
  const dir = await mkdtemp(join(tmpdir(), 'mtlskit-file-conf-'));
  const paths = {
    cert: join(dir, 'client.crt'),
    key: join(dir, 'client.key'),
    ca: join(dir, 'server-ca.pem'),
  };
  let current = material;
  const write = async (m: CredentialMaterial) => {
    current = m;
    await put(paths.cert, text(m.cert));
    await put(paths.key, text(m.key));
    await put(paths.ca, text(m.ca as FieldValue));
  };
  await write(material);
  let restoreUser: (() => void) | undefined;
  return {
    source: fileSource({ ...paths, debounceMs: 30 }),
    write,
    versionFollowsContent: true,
    async remove() {
      await rm(paths.cert, { force: true });
    },
    async makeUnreadable() {
      const denied = await denyKey(dir, [paths.cert, paths.ca], paths.key);
      restoreUser = denied.restore;
      return denied.outcome;
    },
    ...(fifos && {
      makeSlow: () => slowKey(paths.key, () => put(paths.key, text(current.key)).then(() => {})),
    }),
    async close() {
      restoreUser?.();
      await rm(dir, { recursive: true, force: true });
    },
  };
});
