// The secret-leak checker behind mtlskit's "no secret in any error, log, inspect or JSON output"
// invariant: given the secrets of a test, it looks for each of them in every encoding a leak takes
// in practice (raw, PEM lines, Base64 at any alignment, hex, Buffer dumps, JSON escapes) and fails
// naming the secret, the encoding and the place, without ever printing the secret itself.
import { AssertionError } from 'node:assert';
import { spawn } from 'node:child_process';
import { inspect } from 'node:util';

export interface LeakCheck {
  /**
   * Throws an AssertionError naming where a secret was found (never printing it). Scans strings and
   * bytes reachable from `value`, `util.inspect(value, {depth: 10, showHidden: true})`,
   * `JSON.stringify(value)` and `String(value)`; throwing getters, toJSON and cycles are tolerated.
   */
  check(value: unknown, where: string): void;
  /** The same for one text (a log, a process output, a message). */
  checkText(text: string, where: string): void;
  /**
   * Runs `node ARGS` (process.execPath) with `input` on its stdin, checks its stdout and stderr, and
   * returns them with the exit code (`null` when a signal ended it). Rejects with the AssertionError
   * of a leak, or — when the child has not exited after `timeoutMs` (default 30 s) — kills it and
   * rejects with a {@link ChildTimeoutError} carrying the output it had written (leak-checked first).
   * A child that exited while a process it started still holds its stdout or stderr open resolves
   * once no output came for about a second since its exit (at the latest `timeoutMs` after the start),
   * with the output written until then.
   */
  runNode(
    args: string[],
    opts?: { env?: Record<string, string>; cwd?: string; input?: string; timeoutMs?: number },
  ): Promise<{ stdout: string; stderr: string; code: number | null }>;
}

/** What {@link LeakCheck.runNode} rejects with when the child outlived its timeout (it was killed). */
export class ChildTimeoutError extends Error {
  readonly timedOut = true;
  constructor(
    readonly timeoutMs: number,
    /** What the child wrote before it was killed; already checked for leaks. */
    readonly stdout: string,
    readonly stderr: string,
  ) {
    const tail = (text: string) => (text.length > 500 ? `…${text.slice(-500)}` : text);
    super(
      `the child process had not exited after ${timeoutMs} ms and was killed (SIGKILL); ` +
        `raise timeoutMs if it needs longer. Its stderr: ${JSON.stringify(tail(stderr))}; ` +
        `its stdout: ${JSON.stringify(tail(stdout))}`,
    );
    this.name = 'ChildTimeoutError';
  }
}

// After the child exited (on its own or killed), how long its stdout/stderr may stay quiet before
// they are closed from this side: a grandchild that inherited them can hold them open.
const EXIT_GRACE_MS = 1_000;

const MIN_SECRET_LENGTH = 6;
const MIN_PEM_LINE = 24;
// Alignment-shifted Base64 and whitespace-free matching only for needles this long: shorter ones
// would match by chance in unrelated Base64.
const MIN_LOOSE_NEEDLE = 16;
// util.inspect shows at most 50 bytes of a Buffer.
const MAX_DUMPED_BYTES = 50;
const CONTEXT = 32;

interface Needle {
  secret: number;
  form: string;
  text: string;
  /** Also searched in the haystack with whitespace and `\n` escapes removed (re-wrapped Base64, hex). */
  loose: boolean;
}

function base64Forms(bytes: Buffer, label: string): Array<{ form: string; text: string; loose: boolean }> {
  const forms: Array<{ form: string; text: string; loose: boolean }> = [];
  const plain = bytes.toString('base64').replace(/=+$/, '');
  forms.push({ form: `Base64 of ${label}`, text: plain, loose: plain.length >= MIN_LOOSE_NEEDLE });
  const url = bytes.toString('base64url');
  if (url !== plain)
    forms.push({ form: `Base64url of ${label}`, text: url, loose: url.length >= MIN_LOOSE_NEEDLE });
  // Inside a longer Base64 text (a JSON bundle or a PEM, encoded whole) the secret starts at any of
  // three alignments; only the characters fully determined by the secret's own bits are compared.
  for (const shift of [0, 1, 2]) {
    const shifted = Buffer.concat([Buffer.alloc(shift), bytes]).toString('base64');
    const core = shifted.slice(Math.ceil((8 * shift) / 6), Math.floor((8 * (shift + bytes.length)) / 6));
    if (core.length < MIN_LOOSE_NEEDLE || core === plain) continue;
    forms.push({ form: `Base64 of ${label} (inside a longer Base64 text)`, text: core, loose: true });
    const coreUrl = core.replace(/\+/g, '-').replace(/\//g, '_');
    if (coreUrl !== core) {
      forms.push({
        form: `Base64url of ${label} (inside a longer Base64url text)`,
        text: coreUrl,
        loose: true,
      });
    }
  }
  return forms;
}

function hexForms(bytes: Buffer, label: string): Array<{ form: string; text: string; loose: boolean }> {
  const hex = bytes.toString('hex');
  const forms = [
    { form: `hex of ${label}`, text: hex, loose: true },
    { form: `upper-case hex of ${label}`, text: hex.toUpperCase(), loose: true },
  ];
  if (bytes.length <= MAX_DUMPED_BYTES) {
    forms.push({
      form: `${label} as util.inspect prints a Buffer`,
      text: hex.replace(/(..)(?!$)/g, '$1 '),
      loose: false,
    });
    forms.push({ form: `${label} as JSON prints a Buffer`, text: [...bytes].join(','), loose: false });
  }
  return forms;
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([\s\S]*?)-----END \1-----/g;

function pemForms(text: string): Array<{ form: string; text: string; loose: boolean }> {
  const forms: Array<{ form: string; text: string; loose: boolean }> = [];
  for (const block of text.matchAll(PEM_BLOCK)) {
    const label = `PEM ${block[1]}`;
    // Header lines (Proc-Type, DEK-Info) are not secret and are the same in every encrypted key.
    const lines = (block[2] ?? '')
      .split(/\r?\n/)
      .map((line) => line.trim())
      .filter((line) => line !== '' && !line.includes(':'));
    lines.forEach((line, index) => {
      if (line.length >= MIN_PEM_LINE)
        forms.push({ form: `${label} body line ${index + 1}`, text: line, loose: false });
    });
    const body = lines.join('');
    forms.push({ form: `${label} body (joined)`, text: body, loose: true });
    const der = Buffer.from(body, 'base64');
    forms.push({ form: `${label} DER bytes (latin1)`, text: der.toString('latin1'), loose: false });
    forms.push(...hexForms(der, `${label} DER`).filter((f) => !f.form.includes('prints a Buffer')));
    forms.push(...base64Forms(der, `${label} DER`).filter((f) => f.form.includes('inside')));
  }
  return forms;
}

function needlesFor(secret: string | Uint8Array, index: number): Needle[] {
  const forms: Array<{ form: string; text: string; loose: boolean }> = [];
  const bytes = typeof secret === 'string' ? Buffer.from(secret, 'utf8') : Buffer.from(secret);
  if (typeof secret === 'string') {
    forms.push({ form: 'exact text', text: secret, loose: false });
    const trimmed = secret.trim();
    if (trimmed !== secret) forms.push({ form: 'exact text (trimmed)', text: trimmed, loose: false });
    const utf8AsLatin1 = bytes.toString('latin1');
    if (utf8AsLatin1 !== secret)
      forms.push({ form: 'UTF-8 bytes read as latin1', text: utf8AsLatin1, loose: false });
    forms.push(...pemForms(secret));
  } else {
    forms.push({ form: 'bytes as latin1 text', text: bytes.toString('latin1'), loose: false });
    const utf8 = bytes.toString('utf8');
    if (Buffer.from(utf8, 'utf8').equals(bytes) && utf8 !== bytes.toString('latin1')) {
      forms.push({ form: 'bytes as UTF-8 text', text: utf8, loose: false });
    }
    forms.push(...pemForms(bytes.toString('latin1')));
  }
  const text = typeof secret === 'string' ? secret : bytes.toString('latin1');
  const json = JSON.stringify(text).slice(1, -1);
  if (json !== text) forms.push({ form: 'JSON-escaped text', text: json, loose: false });
  const uri = encodeURIComponent(text);
  if (uri !== text) forms.push({ form: 'URL-encoded text', text: uri, loose: false });
  forms.push(...base64Forms(bytes, 'the secret'), ...hexForms(bytes, 'the secret'));

  const seen = new Set<string>();
  const needles: Needle[] = [];
  for (const form of forms) {
    if (form.text.length < MIN_SECRET_LENGTH || seen.has(form.text)) continue;
    seen.add(form.text);
    needles.push({ secret: index, form: form.form, text: form.text, loose: form.loose });
  }
  return needles;
}

function compact(text: string): string {
  return text.replace(/\\r\\n|\\n|\\r|\s+/g, '');
}

// Context printed around a finding: the match itself becomes ***, and long Base64/hex-like runs next
// to it (likely the rest of a PEM or a token) are elided, so the message never carries key material.
function redactedContext(haystack: string, start: number, length: number): string {
  const elide = (s: string) =>
    s.replace(/[A-Za-z0-9+/=_-]{16,}/g, (run) => (run.length >= 24 || /\d/.test(run) ? '…' : run));
  const before = elide(haystack.slice(Math.max(0, start - CONTEXT), start));
  const after = elide(haystack.slice(start + length, start + length + CONTEXT));
  const head = start > CONTEXT ? '…' : '';
  const tail = start + length + CONTEXT < haystack.length ? '…' : '';
  return JSON.stringify(`${head}${before}***${after}${tail}`);
}

interface View {
  /** Which rendering of the value: a path inside it, util.inspect, JSON.stringify... */
  label: string;
  text: string;
}

function bytesOf(value: unknown): Buffer | undefined {
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  if (ArrayBuffer.isView(value)) return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  if (value instanceof ArrayBuffer || value instanceof SharedArrayBuffer) return Buffer.from(value);
  return undefined;
}

const MAX_WALK_DEPTH = 20;
const MAX_WALK_NODES = 20_000;

// Everything a value holds as data (own properties, including non-enumerable and symbol-keyed ones,
// Map and Set entries, array items, Error causes), without calling getters: what any serializer or
// logger could reach.
function reachableViews(root: unknown): View[] {
  const views: View[] = [];
  const seen = new WeakSet<object>();
  let nodes = 0;
  const visit = (value: unknown, path: string, depth: number): void => {
    if (++nodes > MAX_WALK_NODES) return;
    if (typeof value === 'string') {
      views.push({ label: `string at ${path}`, text: value });
      return;
    }
    if (typeof value === 'bigint' || typeof value === 'number') return;
    if (typeof value !== 'object' || value === null || depth > MAX_WALK_DEPTH) return;
    if (seen.has(value)) return;
    seen.add(value);
    const bytes = bytesOf(value);
    if (bytes !== undefined) {
      views.push({ label: `bytes at ${path}`, text: bytes.toString('latin1') });
      const utf8 = bytes.toString('utf8');
      if (utf8 !== bytes.toString('latin1')) views.push({ label: `bytes at ${path} (UTF-8)`, text: utf8 });
      return;
    }
    try {
      if (value instanceof Map) {
        let i = 0;
        for (const [key, entry] of value) {
          visit(key, `${path}<map key #${i}>`, depth + 1);
          visit(entry, `${path}<map value #${i}>`, depth + 1);
          i++;
        }
      } else if (value instanceof Set) {
        let i = 0;
        for (const entry of value) visit(entry, `${path}<set item #${i++}>`, depth + 1);
      }
      for (const key of Reflect.ownKeys(value)) {
        const name = typeof key === 'symbol' ? `[${key.toString()}]` : key;
        if (typeof key === 'string') visit(key, `${path} (a property name)`, depth + 1);
        const descriptor = Reflect.getOwnPropertyDescriptor(value, key);
        if (descriptor && 'value' in descriptor) visit(descriptor.value, `${path}.${name}`, depth + 1);
      }
    } catch {
      // Proxies and exotic objects may throw on reflection; what could be read was read.
    }
  };
  visit(root, '$', 0);
  return views;
}

function renderedViews(value: unknown): View[] {
  const views: View[] = [];
  try {
    views.push({
      label: 'util.inspect output',
      text: inspect(value, {
        depth: 10,
        showHidden: true,
        maxArrayLength: Infinity,
        maxStringLength: Infinity,
      }),
    });
  } catch {
    // An inspect that throws shows nothing to a logger either.
  }
  try {
    const json = JSON.stringify(value);
    if (typeof json === 'string') views.push({ label: 'JSON.stringify output', text: json });
  } catch {
    // Cycles and BigInt: nothing reaches a JSON log.
  }
  if (typeof value === 'object' && value !== null) {
    try {
      views.push({ label: 'String() output', text: String(value) });
    } catch {
      // Objects without a usable toString.
    }
  }
  return views;
}

/**
 * A checker for the given secrets (keys, passphrases, tokens: strings or bytes, each at least six
 * characters so that a match means a leak). See {@link LeakCheck}.
 */
export function leakCheck(secrets: Array<string | Uint8Array>): LeakCheck {
  if (secrets.length === 0) throw new TypeError('leakCheck needs at least one secret to look for');
  secrets.forEach((secret, index) => {
    const length = typeof secret === 'string' ? secret.length : secret.byteLength;
    if (length < MIN_SECRET_LENGTH) {
      throw new TypeError(
        `leakCheck: secret #${index} is ${length} ${typeof secret === 'string' ? 'characters' : 'bytes'} long; ` +
          `use secrets of at least ${MIN_SECRET_LENGTH} so that finding one means it leaked`,
      );
    }
  });
  const needles = secrets.flatMap((secret, index) => needlesFor(secret, index));

  const report = (needle: Needle, view: View, where: string, haystack: string, at: number, how: string) =>
    new AssertionError({
      message:
        `secret #${needle.secret} leaked in ${where} (${view.label}): found as ${needle.form}${how}; ` +
        `context: ${redactedContext(haystack, at, needle.text.length)}`,
    });

  const scan = (views: View[], where: string): void => {
    for (const view of views) {
      // Exact forms first, so a finding is named by its most specific form.
      for (const needle of needles) {
        const at = view.text.indexOf(needle.text);
        if (at >= 0) throw report(needle, view, where, view.text, at, '');
      }
      const loose = compact(view.text);
      if (loose === view.text) continue;
      for (const needle of needles) {
        if (!needle.loose) continue;
        const at = loose.indexOf(needle.text);
        if (at >= 0) throw report(needle, view, where, loose, at, ', ignoring line breaks');
      }
    }
  };

  const checkText = (text: string, where: string): void => scan([{ label: 'text', text }], where);

  return {
    check(value, where) {
      scan([...reachableViews(value), ...renderedViews(value)], where);
    },
    checkText,
    runNode(args, opts = {}) {
      return new Promise((resolve, reject) => {
        const child = spawn(process.execPath, args, {
          cwd: opts.cwd,
          env: { ...process.env, ...opts.env },
          stdio: ['pipe', 'pipe', 'pipe'],
        });
        const out: Buffer[] = [];
        const err: Buffer[] = [];
        const timeoutMs = opts.timeoutMs ?? 30_000;
        let timedOut = false;
        let exited = false;
        let draining = false;
        let grace: NodeJS.Timeout | undefined;
        let closing: NodeJS.Immediate | undefined;
        const closePipes = () => {
          child.stdout.destroy();
          child.stderr.destroy();
        };
        // Once the child is gone, its output pipes are closed from here after a grace period without
        // output. Each chunk restarts the period. When it ends, the pipes are closed on the next
        // turn, not at once: a loop blocked past the deadline has not read what is already in them
        // yet, and the I/O phase before that turn reads it (restarting the period).
        const armGrace = () => {
          clearTimeout(grace);
          if (closing !== undefined) clearImmediate(closing);
          closing = undefined;
          grace = setTimeout(() => {
            closing = setImmediate(closePipes);
          }, EXIT_GRACE_MS);
        };
        const stopWaitingSoon = () => {
          if (draining) return;
          draining = true;
          armGrace();
        };
        const timer = setTimeout(() => {
          // After the child's own exit, the deadline still bounds a grandchild that keeps writing.
          if (exited) return closePipes();
          timedOut = true;
          child.kill('SIGKILL');
          // Also when no 'exit' follows (the kill failed): the pipes are not waited for forever.
          stopWaitingSoon();
        }, timeoutMs);
        child.on('exit', () => {
          // What remains is only the child's pipes, held by a grandchild.
          exited = true;
          stopWaitingSoon();
        });
        const collect = (into: Buffer[]) => (chunk: Buffer) => {
          into.push(chunk);
          // After a timeout the period is not restarted: a grandchild that keeps writing is not waited for.
          if (draining && !timedOut) armGrace();
        };
        child.stdout.on('data', collect(out));
        child.stderr.on('data', collect(err));
        child.stdin.on('error', () => {});
        const settle = () => {
          clearTimeout(timer);
          clearTimeout(grace);
          if (closing !== undefined) clearImmediate(closing);
        };
        child.on('error', (error) => {
          settle();
          reject(error);
        });
        child.on('close', (code) => {
          settle();
          const stdout = Buffer.concat(out).toString('utf8');
          const stderr = Buffer.concat(err).toString('utf8');
          try {
            checkText(stdout, 'the child process stdout');
            checkText(stderr, 'the child process stderr');
          } catch (error) {
            reject(error);
            return;
          }
          if (timedOut) reject(new ChildTimeoutError(timeoutMs, stdout, stderr));
          else resolve({ stdout, stderr, code });
        });
        child.stdin.end(opts.input);
      });
    },
  };
}
