// What the fault matrix (faults.test.ts) stands on: a loopback TCP gate in front of an emulator (a
// store that stops answering: connections refused, then accepted again on the same port), the
// matrix's cells and how they print, and the generated section of docs/reliability.md (written
// with MTLSKIT_WRITE_DOCS=1, compared otherwise).
import { readFileSync, writeFileSync } from 'node:fs';
import {
  createServer as createHttpServer,
  type Server as HttpServer,
  request as httpRequest,
} from 'node:http';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';

/**
 * A TCP forwarder on 127.0.0.1 to `target`. `down()` stops listening and cuts every connection, so
 * clients get ECONNREFUSED (the store unreachable); `up()` listens on the same port again.
 */
export class TcpGate {
  #server: Server | undefined;
  readonly #sockets = new Set<Socket>();
  #port = 0;

  private constructor(private readonly target: { host: string; port: number }) {}

  static async open(target: { host: string; port: number }): Promise<TcpGate> {
    const gate = new TcpGate(target);
    await gate.up();
    return gate;
  }

  get port(): number {
    return this.#port;
  }

  async up(): Promise<void> {
    if (this.#server) return;
    const server = createServer((client) => {
      const upstream = connect(this.target.port, this.target.host);
      for (const s of [client, upstream]) {
        this.#sockets.add(s);
        s.on('close', () => this.#sockets.delete(s));
        s.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.#port, '127.0.0.1', () => resolve());
    });
    this.#port = (server.address() as { port: number }).port;
    this.#server = server;
  }

  async down(): Promise<void> {
    const server = this.#server;
    if (!server) return;
    this.#server = undefined;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const s of this.#sockets) s.destroy();
    await closed;
  }

  close(): Promise<void> {
    return this.down();
  }
}

/** The faults of the matrix, in column order. */
export const FAULTS = [
  'unreachable',
  'slow',
  '403',
  '404',
  '429',
  '5xx',
  'corrupt',
  'mismatched',
  'expired',
  'half-rotated',
] as const;
export type Fault = (typeof FAULTS)[number];

export const FAULT_TITLES: Record<Fault, string> = {
  unreachable: 'unreachable',
  slow: 'slow beyond timeout',
  '403': '403 denied',
  '404': '404 not found',
  '429': '429 throttled',
  '5xx': '5xx',
  corrupt: 'corrupt payload',
  mismatched: 'mismatched pair',
  expired: 'expired certificate',
  'half-rotated': 'half-rotated secret',
};

/** What one cell observed. */
export interface Observed {
  /** The MtlsError code of the first load, or `none` when it did not fail. */
  first: string;
  /** health() after it: not ready, not stale, the same code as `lastError`. */
  firstReported: boolean;
  /** The code of the refresh that met the fault. */
  refresh: string;
  /** The last good credential kept serving, `health()` stale with the code, `refreshFailed` with it. */
  kept: boolean;
  /** After the fault cleared, the resolver's own retry served the good credential again. */
  recovered: boolean;
}

export type Cell = { observed: Observed } | { na: string };

/** One cell as the table prints it. */
export function renderCell(cell: Cell | undefined): string {
  if (cell === undefined) return '…';
  if ('na' in cell) return `n/a¹`.replace('¹', footnoteMark(cell.na));
  const o = cell.observed;
  const code = o.first === o.refresh ? `\`${o.first}\`` : `\`${o.first}\` / refresh \`${o.refresh}\``;
  return `${code} ${o.kept ? 'K' : '✗K'} ${o.recovered ? 'R' : '✗R'}`;
}

// Reasons of n/a cells, numbered in order of first use while a table renders.
let notes: string[] = [];
function footnoteMark(reason: string): string {
  let at = notes.indexOf(reason);
  if (at < 0) at = notes.push(reason) - 1;
  return `<sup>${at + 1}</sup>`;
}

/** The matrix as Markdown: one row per source, one column per fault, then the n/a reasons. */
export function renderMatrix(
  rows: ReadonlyArray<{ name: string; cells: Partial<Record<Fault, Cell>> }>,
): string {
  notes = [];
  const lines = [
    `| source | ${FAULTS.map((f) => FAULT_TITLES[f]).join(' | ')} |`,
    `|---|${FAULTS.map(() => '---').join('|')}|`,
    ...rows.map((r) => `| ${r.name} | ${FAULTS.map((f) => renderCell(r.cells[f])).join(' | ')} |`),
  ];
  const reasons = notes.map((n, i) => `${i + 1}. n/a: ${n}`);
  return [...lines, '', ...reasons].join('\n');
}

const DOC = fileURLToPath(new URL('../../docs/reliability.md', import.meta.url));
const OPEN = '<!-- faults:matrix -->';
const CLOSE = '<!-- /faults:matrix -->';

/** The generated part of docs/reliability.md, as committed (undefined when the markers are missing). */
export function committedMatrix(): string | undefined {
  const doc = readFileSync(DOC, 'utf8');
  const at = doc.indexOf(OPEN);
  const to = doc.indexOf(CLOSE);
  if (at < 0 || to < at) return undefined;
  return doc.slice(at + OPEN.length, to).trim();
}

/** Replaces the generated part of docs/reliability.md (the markers must be there). */
export function writeMatrix(markdown: string): void {
  const doc = readFileSync(DOC, 'utf8');
  const at = doc.indexOf(OPEN);
  const to = doc.indexOf(CLOSE);
  if (at < 0 || to < at) throw new Error(`docs/reliability.md lacks the ${OPEN} … ${CLOSE} markers`);
  writeFileSync(DOC, `${doc.slice(0, at + OPEN.length)}\n${markdown.trim()}\n${doc.slice(to)}`);
}

/**
 * An HTTP/1.1 forwarder on 127.0.0.1 to `target` that can rewrite JSON answers on their way back —
 * a middlebox that replays another request's answer, or a server whose clock is wrong. `rewrite`
 * gets the request's path and JSON body and the answer's JSON, and returns the answer to send.
 */
export class JsonRewriter {
  rewrite: ((path: string, request: unknown, answer: unknown) => unknown) | undefined;
  readonly #server: HttpServer;

  private constructor(private readonly target: { port: number }) {
    this.#server = createHttpServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        const upstream = httpRequest(
          {
            host: '127.0.0.1',
            port: this.target.port,
            method: req.method,
            path: req.url,
            headers: req.headers,
          },
          (answer) => {
            const parts: Buffer[] = [];
            answer.on('data', (c: Buffer) => parts.push(c));
            answer.on('end', async () => {
              let out = Buffer.concat(parts);
              const rewrite = this.rewrite;
              if (rewrite !== undefined && answer.statusCode === 200) {
                try {
                  const changed = await rewrite(req.url ?? '', parseJson(body), JSON.parse(out.toString()));
                  out = Buffer.from(JSON.stringify(changed));
                } catch {
                  // Not JSON: passed on as it came.
                }
              }
              const headers = { ...answer.headers, 'content-length': String(out.length) };
              delete headers['transfer-encoding'];
              res.writeHead(answer.statusCode ?? 502, headers);
              res.end(out);
            });
          },
        );
        upstream.on('error', () => res.destroy());
        upstream.end(body);
      });
    });
  }

  static async open(target: { port: number }): Promise<JsonRewriter> {
    const rewriter = new JsonRewriter(target);
    await new Promise<void>((resolve) => rewriter.#server.listen(0, '127.0.0.1', () => resolve()));
    return rewriter;
  }

  get port(): number {
    return (this.#server.address() as { port: number }).port;
  }

  close(): Promise<void> {
    this.#server.closeAllConnections();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}

function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString());
  } catch {
    return undefined;
  }
}
