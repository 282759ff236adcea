// Argument parsing on node:util parseArgs, with the help text and the parser built from one table per
// command, so an option cannot be parsed without being documented. A usage problem is a UsageError
// (exit code 2) whose message says what was wrong and how to ask for help.
import { parseArgs } from 'node:util';

export interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  multiple?: boolean;
  /** Shown in the help after the option, e.g. `DIR`. */
  value?: string;
  description: string;
}

export interface CommandSpec {
  name: string;
  /** One line for the command list. */
  summary: string;
  /** Usage line(s) after `mtlskit NAME`. */
  usage: string[];
  /** Paragraphs after the usage. */
  details?: string[];
  options: Record<string, OptionSpec>;
  /** Positional arguments allowed: [min, max]. */
  positionals: [number, number];
  examples: string[];
  /** Exit codes, when the command has more than 0/1/2. */
  exitCodes?: [number, string][];
}

/** A mistake in how the command was called: exit code 2. */
export class UsageError extends Error {
  constructor(
    message: string,
    readonly command?: string,
  ) {
    super(message);
    this.name = 'UsageError';
  }
}

export const HELP_OPTION: OptionSpec = { type: 'boolean', short: 'h', description: 'Show this help.' };

export interface Parsed {
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
}

/** Parses `argv` for `spec`; throws UsageError for unknown options, missing values or extra arguments. */
export function parseCommand(spec: CommandSpec, argv: string[]): Parsed {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }> = {
    help: { type: 'boolean', short: 'h' },
  };
  for (const [name, o] of Object.entries(spec.options)) {
    options[name] = {
      type: o.type,
      ...(o.short && { short: o.short }),
      ...(o.multiple && { multiple: true }),
    };
  }
  let parsed: Parsed;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true }) as Parsed;
  } catch (err) {
    // parseArgs' messages name the option and the fix ("Unknown option '--x'. To specify a positional…").
    throw new UsageError(String((err as Error).message).split('\n')[0]!, spec.name);
  }
  if (parsed.values.help) return parsed;
  const [min, max] = spec.positionals;
  if (parsed.positionals.length < min) throw new UsageError('A required argument is missing.', spec.name);
  if (parsed.positionals.length > max) {
    throw new UsageError(`Unexpected argument "${parsed.positionals[max]}".`, spec.name);
  }
  return parsed;
}

/** The `--help` text of a command. */
export function helpText(spec: CommandSpec): string {
  const lines = [
    spec.summary,
    '',
    'Usage:',
    ...spec.usage.map((u) => `  mtlskit ${spec.name} ${u}`.trimEnd()),
  ];
  for (const p of spec.details ?? []) lines.push('', ...wrap(p, 100));
  const rows = Object.entries({ ...spec.options, help: HELP_OPTION }).map(([name, o]) => [
    `${o.short ? `-${o.short}, ` : '    '}--${name}${o.value ? ` ${o.value}` : ''}`,
    o.description,
  ]);
  const width = Math.max(...rows.map(([l]) => l!.length)) + 2;
  lines.push('', 'Options:');
  for (const [left, right] of rows) {
    const text = wrap(right!, 100 - width - 2);
    lines.push(
      `  ${left!.padEnd(width)}${text[0] ?? ''}`,
      ...text.slice(1).map((t) => `  ${' '.repeat(width)}${t}`),
    );
  }
  if (spec.exitCodes) {
    lines.push('', 'Exit codes:', ...spec.exitCodes.map(([code, what]) => `  ${code}  ${what}`));
  }
  lines.push('', 'Examples:', ...spec.examples.map((e) => `  ${e}`));
  return `${lines.join('\n')}\n`;
}

function wrap(text: string, width: number): string[] {
  const out: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/)) {
    if (line && line.length + word.length + 1 > width) {
      out.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) out.push(line);
  return out;
}

/** A string option, or undefined. */
export function str(parsed: Parsed, name: string): string | undefined {
  const v = parsed.values[name];
  return typeof v === 'string' ? v : undefined;
}

/** A list option (given several times), possibly empty. */
export function list(parsed: Parsed, name: string): string[] {
  const v = parsed.values[name];
  return Array.isArray(v) ? v : typeof v === 'string' ? [v] : [];
}

export function flag(parsed: Parsed, name: string): boolean {
  return parsed.values[name] === true;
}

/** A whole number option within [min, max], or the default. */
export function integer(parsed: Parsed, name: string, fallback: number, min = 0, max = 100_000): number {
  const v = str(parsed, name);
  if (v === undefined) return fallback;
  if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) {
    throw new UsageError(`--${name} must be a whole number from ${min} to ${max}, not "${v}".`);
  }
  return Number(v);
}

/** The value of the environment variable named by `--NAME VAR` (a secret never goes on the command line). */
export function secretFromEnv(
  parsed: Parsed,
  name: string,
  env: Readonly<Record<string, string | undefined>>,
): string | undefined {
  const variable = str(parsed, name);
  if (variable === undefined) return undefined;
  const value = env[variable];
  if (value === undefined || value === '') {
    throw new UsageError(
      `--${name} names the environment variable ${variable}, which is not set (or empty). Export it first, e.g. read -rs ${variable} && export ${variable}.`,
    );
  }
  return value;
}
