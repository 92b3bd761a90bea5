// `circleci tests glob`: each pattern form CircleCI documents, on a tree
// made inside the container.

import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { TOOL_IMAGES, lines, toolsContainer } from './tools-container.js';

const TREE = '/tmp/globtree';

/** Files of the tree; `src/dir.js/` is a directory that looks like a test. */
const FILES = [
  'src/x.js',
  'src/y.ts',
  'src/zz.js',
  'src/a/one.js',
  'src/a/one_test.go',
  'src/a/b/c/deep.js',
  'src/b/two_test.go',
  'src/dir.js/inside.txt',
  'lib/util_test.go',
  'lib/ruby/spec.rb',
  'spec.rb',
];

for (const image of TOOL_IMAGES) {
  describe(`tests glob in ${image}`, () => {
    const box = toolsContainer(image, 'tools-glob');
    before(async () => {
      const make = FILES.map((file) => `mkdir -p "$(dirname ${file})" && echo x > ${file}`).join(' && ');
      const result = await box.sh(`mkdir -p ${TREE} && cd ${TREE} && ${make}`);
      assert.equal(result.exitCode, 0, result.stderr);
    });

    async function glob(...patterns: string[]): Promise<string[]> {
      const quoted = patterns.map((p) => `'${p}'`).join(' ');
      const result = await box.sh(`circleci tests glob ${quoted}`, {}, TREE);
      assert.equal(result.exitCode, 0, result.stderr);
      assert.equal(result.stderr, '');
      return lines(result.stdout);
    }

    it('* stays within one directory and skips directories', async () => {
      assert.deepEqual(await glob('src/*.js'), ['src/x.js', 'src/zz.js']);
    });

    it('** matches any depth, including none', async () => {
      assert.deepEqual(await glob('src/**/*.js'), ['src/a/b/c/deep.js', 'src/a/one.js', 'src/x.js', 'src/zz.js']);
      assert.deepEqual(await glob('**/*.rb'), ['lib/ruby/spec.rb', 'spec.rb']);
      assert.deepEqual(await glob('lib/**'), ['lib/ruby/spec.rb', 'lib/util_test.go']);
    });

    it('? matches exactly one character', async () => {
      assert.deepEqual(await glob('src/?.js'), ['src/x.js']);
      assert.deepEqual(await glob('src/??.js'), ['src/zz.js']);
    });

    it('[abc] and [!abc] match one character of (or not of) the set', async () => {
      assert.deepEqual(await glob('src/[xy].*'), ['src/x.js', 'src/y.ts']);
      assert.deepEqual(await glob('src/[!x].*'), ['src/y.ts']);
      assert.deepEqual(await glob('src/[a-b]/*_test.go'), ['src/a/one_test.go', 'src/b/two_test.go']);
    });

    it('{a,b} matches either alternative, nested too', async () => {
      assert.deepEqual(await glob('src/*.{js,ts}'), ['src/x.js', 'src/y.ts', 'src/zz.js']);
      assert.deepEqual(await glob('{src,lib}/**/*_test.go'), ['lib/util_test.go', 'src/a/one_test.go', 'src/b/two_test.go']);
      assert.deepEqual(await glob('{src/{a,b},lib}/*_test.go'), ['lib/util_test.go', 'src/a/one_test.go', 'src/b/two_test.go']);
    });

    it('prints paths as the pattern gives them: absolute, or with ./', async () => {
      assert.deepEqual(await glob(`${TREE}/src/*.ts`), [`${TREE}/src/y.ts`]);
      assert.deepEqual(await glob('./src/*.ts'), ['./src/y.ts']);
    });

    it('takes literal paths, and matches only files', async () => {
      assert.deepEqual(await glob('spec.rb', 'src/dir.js', 'no/such/file.js'), ['spec.rb']);
    });

    it('sorts and de-duplicates across patterns', async () => {
      assert.deepEqual(await glob('src/zz.js', 'src/*.js', 'src/**/*.js'), ['src/a/b/c/deep.js', 'src/a/one.js', 'src/x.js', 'src/zz.js']);
    });

    it('prints nothing (and succeeds) when nothing matches', async () => {
      assert.deepEqual(await glob('**/*.py', 'missing/**/*.js'), []);
    });

    it('needs at least one pattern', async () => {
      const result = await box.sh('circleci tests glob', {}, TREE);
      assert.equal(result.exitCode, 2);
      assert.match(result.stderr, /^circleci: tests glob needs at least one pattern/);
    });
  });
}
