// Builds policy.js into policy.wasm, a WebAssembly component of the
// {{world}} world of wit/policy.wit, with componentize-js; first writes
// the contract's TypeScript declarations (jco guest-types) into types/,
// which the editor and `npm run check` read.
import { componentize } from '@bytecodealliance/componentize-js';
import { execFileSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const wit = join(here, 'wit');
const world = '{{world}}';

rmSync(join(here, 'types'), { recursive: true, force: true });
const jco = join(here, 'node_modules', '@bytecodealliance', 'jco', 'src', 'jco.js');
execFileSync(process.execPath, [jco, 'guest-types', wit, '--world-name', world, '--out-dir', join(here, 'types'), '--quiet'], {
  stdio: 'inherit',
});
const { component } = await componentize({
  sourcePath: join(here, 'policy.js'),
  witPath: wit,
  worldName: world,
  // A policy gets no files, network, clock or randomness. stdio stays:
  // an uncaught exception is printed to stderr, which the host keeps
  // as the error's message (console.log output is discarded).
  disableFeatures: ['random', 'clocks', 'http', 'fetch-event'],
});
writeFileSync(join(here, 'policy.wasm'), component);
console.log('built policy.wasm');
