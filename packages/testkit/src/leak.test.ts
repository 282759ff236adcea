import { AssertionError } from 'node:assert';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { type IssuedCert, TestCA } from './ca.js';
import { ChildTimeoutError, leakCheck } from './leak.js';

const PASSPHRASE = 'hunter2-correct-horse';
const TOKEN = 'hvs.CAESIJ7x9token0secret';

/** The error a leak check threw, asserting it never carries the secret it found. */
function leakError(run: () => unknown, ...secrets: string[]): AssertionError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(AssertionError);
    const text = `${(error as Error).message}\n${inspect(error)}`;
    for (const secret of secrets) expect(text).not.toContain(secret);
    return error as AssertionError;
  }
  throw new Error('expected the leak check to throw');
}

describe('leakCheck', () => {
  const leaks = leakCheck([PASSPHRASE, TOKEN]);

  it('finds a secret in a string and names the secret, the form and the place, masking it', () => {
    const error = leakError(() =>
      leaks.check(`could not decrypt with ${PASSPHRASE} (bad decrypt)`, 'error message'),
    );

    expect(error.message).toContain('secret #0 leaked in error message');
    expect(error.message).toContain('found as exact text');
    expect(error.message).toContain('could not decrypt with ***');
  });

  it('finds a secret deep in a nested object and a Map, through util.inspect', () => {
    const hidden = {};
    Object.defineProperty(hidden, 'auth', {
      value: { headers: new Map([['X-Vault-Token', TOKEN]]) },
      enumerable: false,
    });
    const value = { request: { config: hidden } };
    expect(JSON.stringify(value)).not.toContain(TOKEN);

    expect(leakError(() => leaks.check(value, 'vault error'), TOKEN).message).toMatch(
      /secret #1 leaked in vault error/,
    );
  });

  it('finds a secret only a custom inspect shows', () => {
    const value = { [inspect.custom]: () => `Credentials { passphrase: '${PASSPHRASE}' }` };
    expect(leakError(() => leaks.check(value, 'credentials'), PASSPHRASE).message).toContain(
      '(util.inspect output)',
    );
  });

  it('finds a secret only toJSON shows', () => {
    const value = { toJSON: () => ({ material: { passphrase: PASSPHRASE } }) };
    expect(leakError(() => leaks.check(value, 'event payload'), PASSPHRASE).message).toContain(
      '(JSON.stringify output)',
    );
  });

  it('finds a secret held in a Buffer, and a byte secret written as text', () => {
    expect(
      leakError(() => leaks.check({ body: Buffer.from(`pass=${PASSPHRASE}`) }, 'response')).message,
    ).toContain('bytes at $.body');

    const keyBytes = Buffer.from('0123456789abcdef0123456789abcdef', 'hex');
    const bytes = leakCheck([keyBytes]);
    expect(leakError(() => bytes.checkText(`key=${keyBytes.toString('hex')}`, 'log')).message).toContain(
      'found as hex of the secret',
    );
    expect(leakError(() => bytes.check(inspect(keyBytes), 'log')).message).toContain(
      'as util.inspect prints a Buffer',
    );
    expect(leakError(() => bytes.check({ raw: new Uint8Array(keyBytes) }, 'state')).message).toContain(
      'bytes as latin1 text',
    );
  });

  it('finds Base64, Base64url, hex, JSON-escaped and URL-encoded forms of a secret', () => {
    const forms: Array<[string, string]> = [
      [Buffer.from(PASSPHRASE).toString('base64'), 'Base64 of the secret'],
      // 7 bytes before the secret: it starts mid-character in the Base64 of the whole bundle.
      [Buffer.from(`{"pw":"${PASSPHRASE}"}`).toString('base64'), 'inside a longer Base64 text'],
      [Buffer.from(TOKEN).toString('hex').toUpperCase(), 'upper-case hex'],
    ];
    for (const [text, form] of forms) {
      expect(leakError(() => leaks.checkText(`value: ${text}`, 'log')).message).toContain(form);
    }
    // Bytes whose Base64 has + and /, so the url-safe alphabet differs.
    const binary = Buffer.from('fbffbf' + '0123456789abcdef'.repeat(2) + 'fbffbf', 'hex');
    const binaryLeaks = leakCheck([binary]);
    const inUrl = Buffer.concat([Buffer.from('x'), binary]).toString('base64url');
    expect(leakError(() => binaryLeaks.checkText(`jwt=${inUrl}`, 'url')).message).toContain(
      'inside a longer Base64url text',
    );
    const spaced = leakCheck(['pass phrase/with+symbols']);
    expect(leakError(() => spaced.checkText('?p=pass%20phrase%2Fwith%2Bsymbols', 'url')).message).toContain(
      'URL-encoded',
    );
    const multiline = leakCheck(['line one\nline two']);
    expect(leakError(() => multiline.checkText('{"p":"line one\\nline two"}', 'json')).message).toContain(
      'JSON-escaped',
    );
  });

  it('passes clean input, cycles and values whose serializers throw', () => {
    const cyclic: Record<string, unknown> = { name: 'resolver', fingerprint: 'AB:CD' };
    cyclic.self = cyclic;
    const hostile = {
      toJSON() {
        throw new Error('no JSON for you');
      },
      [inspect.custom]() {
        throw new Error('no inspect either');
      },
      get trap() {
        throw new Error('getters are not called');
      },
    };

    expect(() => leaks.check(cyclic, 'cyclic')).not.toThrow();
    expect(() => leaks.check(hostile, 'hostile')).not.toThrow();
    expect(() =>
      leaks.check(new Error('bad decrypt', { cause: new Map([['a', 1n]]) }), 'error'),
    ).not.toThrow();
    expect(() => leaks.checkText('hunter2 is a different, shorter word', 'log')).not.toThrow();
  });

  it('refuses secrets too short to be recognised, and an empty list', () => {
    expect(() => leakCheck(['abc12'])).toThrow(/secret #0 is 5 characters long; use secrets of at least 6/);
    expect(() => leakCheck([PASSPHRASE, new Uint8Array(3)])).toThrow(/secret #1 is 3 bytes long/);
    expect(() => leakCheck([])).toThrow(/at least one secret/);
  });

  describe('PEM keys', () => {
    let client: IssuedCert;
    let pemLeaks: ReturnType<typeof leakCheck>;
    beforeAll(async () => {
      client = await (await TestCA.create()).issueClient({ keyType: 'rsa2048' });
      pemLeaks = leakCheck([client.keyPem]);
    });

    it('finds one Base64 line of a PEM key in a log, and never prints the key material around it', () => {
      const lines = client.keyPem.trim().split('\n');
      const line = lines[5]!;
      const error = leakError(
        () => pemLeaks.checkText(`parse error near ${lines[4]}\n${line}\n${lines[6]}`, 'stderr'),
        line,
        lines[4]!,
        lines[6]!,
      );
      expect(error.message).toMatch(/found as PEM PRIVATE KEY body line \d+/);
    });

    it('finds the key as Base64 of the whole PEM (how secrets managers store it), as DER, and as JSON', () => {
      const base64 = Buffer.from(client.keyPem).toString('base64');
      expect(
        leakError(() => pemLeaks.checkText(`MTLS_KEY=${base64}`, 'env dump'), base64.slice(0, 40)).message,
      ).toContain('Base64 of the secret');
      expect(leakError(() => pemLeaks.check({ der: client.keyDer }, 'state')).message).toContain('DER bytes');
      expect(
        leakError(() => pemLeaks.check(JSON.stringify({ key: client.keyPem }), 'bundle')).message,
      ).toMatch(/secret #0 leaked in bundle/);
    });

    it('does not mistake the certificate or another key for the secret key', async () => {
      const other = await (await TestCA.create()).issueClient();
      expect(() =>
        pemLeaks.check({ cert: client.certPem, chain: client.fullChainPem, otherKey: other.keyPem }, 'ok'),
      ).not.toThrow();
    });
  });

  describe('runNode', () => {
    it('returns the output of a child process that keeps the secret to itself', async () => {
      const result = await leaks.runNode(['-e', 'console.log("loaded", process.env.P.length, "chars")'], {
        env: { P: PASSPHRASE },
      });
      expect(result).toEqual({ stdout: `loaded ${PASSPHRASE.length} chars\n`, stderr: '', code: 0 });
    });

    it('fails when a child process prints a secret to stderr', async () => {
      const run = leaks.runNode(['-e', 'process.stdin.pipe(process.stderr)'], { input: `token ${TOKEN}\n` });
      await expect(run).rejects.toThrow(/secret #1 leaked in the child process stderr/);
      await expect(run).rejects.not.toThrow(TOKEN);
    });

    it('fails when a child process prints a secret to stdout, in any encoding', async () => {
      const run = leaks.runNode(['-e', 'console.log("passphrase is", process.env.P)'], {
        env: { P: PASSPHRASE },
      });
      await expect(run).rejects.toThrow(
        /secret #0 leaked in the child process stdout \(text\): found as exact text/,
      );
      await expect(run).rejects.not.toThrow(PASSPHRASE);
      const encoded = leaks.runNode(['-e', 'console.log(Buffer.from(process.env.P).toString("base64"))'], {
        env: { P: PASSPHRASE },
      });
      await expect(encoded).rejects.toThrow(
        /secret #0 leaked in the child process stdout \(text\): found as Base64/,
      );
    });

    it('kills a child that outlives its timeout and rejects with what it had written', async () => {
      const run = leaks.runNode(
        ['-e', 'console.log("started"); console.error("waiting"); setInterval(() => {}, 60_000)'],
        // Long enough for a loaded machine to start Node and write both lines.
        { timeoutMs: 3_000 },
      );
      await expect(run).rejects.toBeInstanceOf(ChildTimeoutError);
      await expect(run).rejects.toMatchObject({
        name: 'ChildTimeoutError',
        timedOut: true,
        timeoutMs: 3_000,
        stdout: 'started\n',
        stderr: 'waiting\n',
        message: expect.stringMatching(/had not exited after 3000 ms and was killed \(SIGKILL\)/),
      });
    });

    it('checks the output of a timed-out child for leaks before reporting the timeout', async () => {
      const run = leaks.runNode(['-e', 'console.error(process.env.P); setInterval(() => {}, 60_000)'], {
        env: { P: PASSPHRASE },
        timeoutMs: 3_000,
      });
      await expect(run).rejects.toThrow(/secret #0 leaked in the child process stderr/);
      await expect(run).rejects.toBeInstanceOf(AssertionError);
    });

    /** A child script that starts a grandchild inheriting stdout/stderr, which prints its pid and lives 60 s. */
    const withGrandchild = (then: string) =>
      [
        'const { spawn } = require("node:child_process");',
        'const grandchild = spawn(process.execPath, ["-e", "console.log(\'grandchild\', process.pid); process.send(\'up\'); setTimeout(() => {}, 60_000)"], { stdio: ["ignore", "inherit", "inherit", "ipc"] });',
        `grandchild.on("message", () => { grandchild.disconnect(); grandchild.unref(); ${then} });`,
      ].join('\n');
    /** Ends the grandchild a test left running, by the pid it printed. */
    const killGrandchild = (stdout: string | undefined) => {
      const pid = Number(/grandchild (\d+)/.exec(stdout ?? '')?.[1]);
      if (!Number.isInteger(pid) || pid <= 0) return;
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    };

    it('gives up on a killed child whose grandchild holds its output open', async () => {
      // After killing the child, runNode stops waiting for the pipes to close instead of waiting for
      // the grandchild.
      const started = performance.now();
      const run = leaks.runNode(['-e', withGrandchild('setInterval(() => {}, 60_000);')], {
        timeoutMs: 4_000,
      });
      const err = await run.catch((e: unknown) => e);
      killGrandchild((err as ChildTimeoutError).stdout);
      expect(err).toBeInstanceOf(ChildTimeoutError);
      expect(err).toMatchObject({ timedOut: true, stdout: expect.stringMatching(/^grandchild \d+\n$/) });
      expect(performance.now() - started).toBeLessThan(15_000);
    });

    it('resolves with the exit code of a child that exited while its grandchild holds its output open', async () => {
      // Not a timeout: the child ended on its own; only its pipes live on in the grandchild.
      const started = performance.now();
      const run = leaks.runNode(['-e', withGrandchild('console.log("child done"); process.exitCode = 3;')], {
        timeoutMs: 12_000,
      });
      const result = await run.catch((e: unknown) => e);
      killGrandchild((result as { stdout?: string }).stdout);
      expect(result).toEqual({
        stdout: expect.stringMatching(/^grandchild \d+\nchild done\n$/),
        stderr: '',
        code: 3,
      });
      // About a second after the exit, well before the timeout.
      expect(performance.now() - started).toBeLessThan(10_000);
    });

    it('keeps the output a grandchild wrote after the exit, even when this process was too busy to read it in time', async () => {
      // The child exits at once; its grandchild, holding stdout, writes a line only when told to,
      // then exits. This process is told the child exited, then blocks its event loop past the
      // grace period while the line sits unread in the pipe.
      const dir = mkdtempSync(join(tmpdir(), 'mtlskit-leak-'));
      const file = (name: string) => join(dir, name).replaceAll('\\', '/');
      try {
        const grandchild = [
          'const fs = require("node:fs");',
          'setTimeout(() => process.exit(1), 30_000); // never outlives a failed test for long',
          `const poll = setInterval(() => { if (!fs.existsSync(${JSON.stringify(file('go'))})) return;`,
          '  clearInterval(poll);',
          `  process.stdout.write("late output\\n", () => fs.writeFileSync(${JSON.stringify(file('written'))}, ""));`,
          '}, 10);',
        ].join('\n');
        const child = [
          'const { spawn } = require("node:child_process");',
          `spawn(process.execPath, ["-e", ${JSON.stringify(grandchild)}], { stdio: ["ignore", "inherit", "inherit"] }).unref();`,
          `require("node:fs").writeFileSync(${JSON.stringify(file('pid'))}, String(process.pid));`,
        ].join('\n');
        const run = leaks.runNode(['-e', child], { timeoutMs: 20_000 });

        // Reaped (kill(pid, 0) fails) only once this process handled the child's exit.
        const reaped = () => {
          const pid = existsSync(file('pid')) ? Number(readFileSync(file('pid'), 'utf8')) : 0;
          if (!(Number.isInteger(pid) && pid > 0)) return false;
          try {
            process.kill(pid, 0);
            return false;
          } catch {
            return true;
          }
        };
        const started = performance.now();
        while (!reaped()) {
          if (performance.now() - started > 15_000) throw new Error('the child never exited');
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
        const exitSeen = performance.now();
        writeFileSync(file('go'), '');
        // The blocked loop: until the line is in the pipe and the grace period (1 s) is long over.
        // Blocked in the check phase (setImmediate), so the next turn runs expired timers before it
        // reads the pipes — the order in which a late line was lost.
        const block = () => {
          const pause = new Int32Array(new SharedArrayBuffer(4));
          while (!existsSync(file('written')) || performance.now() - exitSeen < 2_000) {
            if (performance.now() - exitSeen > 15_000) throw new Error('the grandchild never wrote its line');
            Atomics.wait(pause, 0, 0, 10);
          }
        };
        await new Promise<void>((resolve, reject) =>
          setImmediate(() => {
            try {
              block();
              resolve();
            } catch (error) {
              reject(error);
            }
          }),
        );

        expect(await run).toEqual({ stdout: 'late output\n', stderr: '', code: 0 });
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
});
