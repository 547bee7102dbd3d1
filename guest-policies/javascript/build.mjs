// Builds the three JavaScript default policies into components:
//   npm run build [-- OUT_DIR]      (default: build/)
// writes OUT_DIR/{match,routing,preflight}.wasm with componentize-js, and
// each slot's TypeScript declarations (jco guest-types) into <slot>/types/
// first, so an editor and `npm run check` see the contract's types.
//
//   node build.mjs OUT_DIR --one NAME SOURCE WIT_DIR WORLD
// builds one module (the test suite's hostile guest) as OUT_DIR/NAME.wasm.
import { componentize } from '@bytecodealliance/componentize-js';
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const wit = join(here, '..', '..', 'wit');
const [outArg, mode, ...rest] = process.argv.slice(2);
const out = resolve(outArg ?? join(here, 'build'));
mkdirSync(out, { recursive: true });

/**
 * @param {string} sourcePath
 * @param {string} witPath
 * @param {string} worldName
 * @param {string} file
 */
async function build(sourcePath, witPath, worldName, file) {
  const { component } = await componentize({
    sourcePath,
    witPath,
    worldName,
    // A policy gets no files, network, clock or randomness. stdio stays:
    // an uncaught exception is printed to stderr, which the host keeps
    // as the error's message (console.log output is discarded).
    disableFeatures: ['random', 'clocks', 'http', 'fetch-event'],
  });
  writeFileSync(file, component);
}

if (mode === '--one') {
  const [name, source, witDir, world] = rest;
  await build(resolve(source), resolve(witDir), world, join(out, `${name}.wasm`));
} else {
  for (const slot of ['match', 'routing', 'preflight']) {
    const world = `${slot}-policy`;
    const types = join(here, slot, 'types');
    rmSync(types, { recursive: true, force: true });
    const jco = join(here, 'node_modules', '@bytecodealliance', 'jco', 'src', 'jco.js');
    execFileSync(process.execPath, [jco, 'guest-types', wit, '--world-name', world, '--out-dir', types, '--quiet'], {
      stdio: 'inherit',
    });
    await build(join(here, slot, 'policy.js'), wit, world, join(out, `${slot}.wasm`));
  }
}
