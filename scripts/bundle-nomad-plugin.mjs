// Build step (`make nomad-plugin`): the Nomad task driver plugin as ONE executable file,
// nomad-plugin/dist/deckhand, that an operator copies into a Nomad client's plugin_dir. Nothing
// beside it: every package it uses and the .proto files of its gRPC services are inside; at run
// time it needs Node 20 or later on PATH (`#!/usr/bin/env node`) and the deckhand command it
// starts for each task.
import { build } from 'esbuild';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';

const PROTOS = ['go_plugin.proto', 'health.proto', 'hclspec.proto', 'structs.proto', 'base.proto', 'driver.proto', 'status.proto'];
const protos = Object.fromEntries(PROTOS.map((name) => [name, readFileSync(`nomad-plugin/proto/${name}`, 'utf8')]));
const { version } = JSON.parse(readFileSync('package.json', 'utf8'));

// Engine transports and features the driver never uses (SSH to a remote engine, BuildKit
// sessions and their progress decoder) would bring ssh2's optional native add-on and a second
// copy of gRPC into the file: each becomes a stand-in that says so if it is ever called.
const unused = {
  name: 'unused-engine-features',
  setup(b) {
    b.onLoad({ filter: /[\\/]node_modules[\\/](docker-modem|dockerode)[\\/]lib[\\/](ssh|session|buildkit)\.js$/ }, (args) => ({
      loader: 'js',
      contents: `module.exports = function () { throw new Error(${JSON.stringify(`the deckhand plugin does not support ${args.path.split(/[\\/]/).slice(-1)[0]} of the Docker engine: use a unix:// or tcp:// docker_endpoint`)}); };`,
    }));
  },
};

mkdirSync('nomad-plugin/dist', { recursive: true });
// both builds: one minified CommonJS file for Node 20, its metafile kept to check the imports
const common = { bundle: true, format: 'cjs', platform: 'node', target: 'node20', minify: true, legalComments: 'none', logLevel: 'warning', metafile: true };
// CommonJS has no import.meta: both files define import.meta.url from their own path
const moduleUrl = "const __deckhandUrl = require('node:url').pathToFileURL(__filename).href;";
// the plugin itself, as text: the launcher compiles it through a V8 code cache
const inner = await build({
  ...common,
  entryPoints: ['nomad-plugin/src/main.ts'],
  write: false,
  plugins: [unused],
  define: {
    __DECKHAND_NOMAD_PROTOS__: JSON.stringify(protos),
    __DECKHAND_VERSION__: JSON.stringify(version),
    'import.meta.url': '__deckhandUrl',
  },
  banner: { js: moduleUrl },
});
// the file: a small launcher around it
const result = await build({
  ...common,
  entryPoints: ['nomad-plugin/src/launcher.ts'],
  outfile: 'nomad-plugin/dist/deckhand',
  define: { __DECKHAND_PLUGIN_SOURCE__: JSON.stringify(inner.outputFiles[0].text), 'import.meta.url': '__deckhandUrl' },
  banner: { js: `#!/usr/bin/env node\n${moduleUrl}` },
});
const builtins = new Set((await import('node:module')).builtinModules);
const external = [inner, result].flatMap((r) => Object.values(r.metafile.outputs)).flatMap((o) => o.imports.filter((i) => i.external && !i.path.startsWith('node:') && !builtins.has(i.path)).map((i) => i.path));
if (external.length > 0) throw new Error(`nomad-plugin/dist/deckhand still imports ${[...new Set(external)].join(', ')} from outside: it must be one self-contained file`);
chmodSync('nomad-plugin/dist/deckhand', 0o755);
writeFileSync('nomad-plugin/dist/meta.json', JSON.stringify(inner.metafile));
// A file without an extension is read as the nearest package.json says, and the repository's says
// ES modules; copied into plugin_dir the file has none and Node reads it as CommonJS, as here.
writeFileSync('nomad-plugin/dist/package.json', '{ "type": "commonjs" }\n');
