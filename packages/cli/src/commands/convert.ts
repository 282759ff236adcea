import type { CommandSpec, Parsed } from '../args.js';
import type { CliIo } from '../io.js';
export const spec: CommandSpec = { name: 'convert', summary: 'todo', usage: [], options: {}, positionals: [0, 9], examples: [] };
export async function run(_parsed: Parsed, _io: CliIo): Promise<number> { return 1; }
