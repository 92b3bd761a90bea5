// Build step (`make build`): bundles the compiled CLI (dist/agent/cli/main.js) and the packages it
// uses into one CommonJS file, dist/bundle/deckhand.cjs, that bin/deckhand.js runs.
// Why: resolving and reading ~400 module files cost Node ~500 ms at every `deckhand execute`;
// one bundle starts in a fraction of that, and as CommonJS it can be compiled through a V8 code
// cache (agent/cli/code-cache.ts; Node 20 has none for ES modules). Subcommands stay lazy: what
// they import with import() is evaluated only when they run (docs/benchmarks.md).
import { build } from 'esbuild';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';

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

// The validators `make build` generates (the config schema's, 240 KB, and the assignment
// schema's) go into the bundle, where the code cache covers them too (the config one cost ~4 ms
// to compile at every start). Each module loads its generated file by a path known only at run
// time, which esbuild cannot follow, so here that one call becomes a require of the file; the
// build fails if it moved.
const GENERATED_VALIDATORS = [
  { module: /[\\/]dist[\\/]agent[\\/]config[\\/]schema[\\/]validate\.js$/, call: 'createRequire(import.meta.url)(GENERATED_VALIDATOR)', file: './config-validator.generated.cjs' },
  { module: /[\\/]dist[\\/]agent[\\/]assignment[\\/]validate\.js$/, call: 'createRequire(import.meta.url)(GENERATED_ASSIGNMENT_VALIDATOR)', file: './assignment-validator.generated.cjs' },
];
const bundleGeneratedValidators = {
  name: 'bundle-generated-validators',
  setup(b) {
    for (const { module, call, file } of GENERATED_VALIDATORS) {
      b.onLoad({ filter: module }, (args) => {
        const text = readFileSync(args.path, 'utf8');
        if (!text.includes(call)) throw new Error(`${args.path} no longer loads its generated validator with ${call}: update scripts/bundle.mjs`);
        return { loader: 'js', contents: text.replace(call, `require(${JSON.stringify(file)})`) };
      });
    }
  },
};

rmSync('dist/bundle', { recursive: true, force: true });
const result = await build({
  // which sources went into the bundle and what it imports, for the check below
  metafile: true,
  entryPoints: { deckhand: 'dist/agent/cli/main.js' },
  outdir: 'dist/bundle',
  outExtension: { '.js': '.cjs' },
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  sourcemap: true,
  minify: true,
  logLevel: 'warning',
  plugins: [deferOnFirstCall, bundleGeneratedValidators],
  // native add-ons cannot be bundled; ssh2 loads its optional native crypto relative to itself.
  // The AWS SDK, gRPC and undici load only for the commands that use them, and keep their own module
  // layout (their CommonJS/ESM interop does not survive bundling), so they stay in node_modules.
  external: ['ssh2', 'cpu-features', 'better-sqlite3', '*.node', '@aws-sdk/*', '@smithy/*', '@grpc/*', 'undici'],
  // our ES modules locate files (package.json, the generated validator) from import.meta.url
  define: { 'import.meta.url': '__deckhandUrl' },
  banner: { js: "const __deckhandUrl = require('node:url').pathToFileURL(__filename).href;" },
});
writeFileSync('dist/bundle/meta.json', JSON.stringify(result.metafile));
// vm.Script, which runs the bundle with its code cache, has no loader for import(): a package
// left external must be loaded with require (createRequire in an ES module)
for (const [file, output] of Object.entries(result.metafile.outputs)) {
  const dynamic = output.imports.filter((i) => i.external && i.kind === 'dynamic-import').map((i) => i.path);
  if (dynamic.length > 0) throw new Error(`${file} keeps import() of ${dynamic.join(', ')}: load external packages with createRequire`);
}
