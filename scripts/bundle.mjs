// Build step (`make build`): bundles the compiled CLI (dist/agent/cli/main.js) and the packages it
// uses into dist/bundle/, keeping each subcommand a separate chunk that loads only when it runs.
// Why: resolving and reading ~400 module files cost Node ~500 ms at every `deckhand execute`;
// one bundle starts in a fraction of that (docs/benchmarks.md). bin/deckhand.js runs the bundle.
import { build } from 'esbuild';
import { rmSync, writeFileSync } from 'node:fs';

// Modules that packages load at start-up but deckhand calls rarely or never: each becomes a stub
// that loads the real module (from node_modules) on its first call. docker-modem's SSH transport
// pulls in ssh2 (~60 ms) and dockerode's build sessions pull in gRPC and protobufjs (~50 ms);
// both export one function, so a forwarding function is a faithful stand-in. dockerode's BuildKit
// progress decoder (image builds only) brings protobufjs and long, ~330 KB that every start would
// parse; it exports an object of functions, so a stand-in object forwards each property.
const DEFERRED = ['docker-modem/lib/ssh.js', 'dockerode/lib/session.js'];
const DEFERRED_OBJECTS = ['dockerode/lib/buildkit.js'];
const deferOnFirstCall = {
  name: 'defer-on-first-call',
  setup(b) {
    b.onLoad({ filter: /[\\/]node_modules[\\/](docker-modem|dockerode)[\\/]lib[\\/](ssh|session|buildkit)\.js$/ }, (args) => {
      const path = args.path.replaceAll('\\', '/');
      const object = DEFERRED_OBJECTS.find((d) => path.endsWith(`node_modules/${d}`));
      if (object) {
        return {
          loader: 'js',
          contents: `const id = ${JSON.stringify(object)}; let real; module.exports = new Proxy({}, { get(_, key) { real ??= require(id); return real[key]; } });`,
        };
      }
      const id = DEFERRED.find((d) => path.endsWith(`node_modules/${d}`));
      if (!id) return undefined;
      return {
        loader: 'js',
        // a variable, not a literal, so that esbuild leaves the require to run time
        contents: `const id = ${JSON.stringify(id)}; let real; module.exports = function (...args) { real ??= require(id); return real.apply(this, args); };`,
      };
    });
  },
};

rmSync('dist/bundle', { recursive: true, force: true });
const result = await build({
  // which sources went into which chunk, for the test that keeps heavy code out of start-up
  metafile: true,
  entryPoints: { main: 'dist/agent/cli/main.js' },
  outdir: 'dist/bundle',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  sourcemap: true,
  minify: true,
  logLevel: 'warning',
  plugins: [deferOnFirstCall],
  // native add-ons cannot be bundled; ssh2 loads its optional native crypto relative to itself.
  // The AWS SDK and gRPC load only for the commands that use them, and keep their own module
  // layout (their CommonJS/ESM interop does not survive bundling), so they stay in node_modules.
  external: ['ssh2', 'cpu-features', '*.node', '@aws-sdk/*', '@smithy/*', '@grpc/*'],
  // CommonJS packages inside an ESM bundle still call require() and read __dirname
  banner: {
    js: [
      "import { createRequire as __deckhandRequire } from 'node:module';",
      "import { fileURLToPath as __deckhandPath } from 'node:url';",
      'const require = __deckhandRequire(import.meta.url);',
      'const __filename = __deckhandPath(import.meta.url);',
      "const __dirname = __deckhandPath(new URL('.', import.meta.url));",
    ].join(' '),
  },
});
writeFileSync('dist/bundle/meta.json', JSON.stringify(result.metafile));
