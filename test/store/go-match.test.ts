/**
 * goMatch and goGlob against Go itself: Go's own table (path/filepath match_test.go), then
 * many patterns and names, and globs over a real folder tree, each answered by a small Go
 * program built with the installed Go toolchain (which CI has: the Nomad plugin is Go).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { goGlob, type GlobTree } from '../../agent/store/go-glob.js';
import { BadPatternError, goMatch } from '../../agent/store/go-match.js';

const work = mkdtempSync(join(tmpdir(), 'deckhand-go-match-'));
after(() => rmSync(work, { recursive: true, force: true }));

/** true / false, or 'bad' for ErrBadPattern */
type Outcome = boolean | 'bad';

function ours(pattern: string, name: string): Outcome {
  try {
    return goMatch(pattern, name);
  } catch (e) {
    if (e instanceof BadPatternError) return 'bad';
    throw e;
  }
}

const GO_PROGRAM = `package main

import (
	"encoding/json"
	"os"
	"path/filepath"
)

func main() {
	var in struct {
		Match [][2]string
		Glob  []string
	}
	if err := json.NewDecoder(os.Stdin).Decode(&in); err != nil {
		panic(err)
	}
	var out struct {
		Match []interface{}
		Glob  []interface{}
	}
	for _, c := range in.Match {
		ok, err := filepath.Match(c[0], c[1])
		if err != nil {
			out.Match = append(out.Match, "bad")
		} else {
			out.Match = append(out.Match, ok)
		}
	}
	for _, p := range in.Glob {
		m, err := filepath.Glob(p)
		if err != nil {
			out.Glob = append(out.Glob, "bad")
		} else if m == nil {
			out.Glob = append(out.Glob, []string{})
		} else {
			out.Glob = append(out.Glob, m)
		}
	}
	json.NewEncoder(os.Stdout).Encode(out)
}
`;

/** Asks real Go for filepath.Match and filepath.Glob answers. */
function askGo(match: [string, string][], glob: string[]): { Match: Outcome[]; Glob: (string[] | 'bad')[] } {
  const src = join(work, 'match.go');
  writeFileSync(src, GO_PROGRAM);
  const out = execFileSync('go', ['run', src], {
    input: JSON.stringify({ Match: match, Glob: glob }),
    encoding: 'utf8',
    env: { ...process.env, GO111MODULE: 'off', GOCACHE: process.env.GOCACHE ?? join(tmpdir(), 'deckhand-go-cache') },
    timeout: 120_000,
  });
  return JSON.parse(out) as { Match: Outcome[]; Glob: (string[] | 'bad')[] };
}

// Go's own table (src/path/filepath/match_test.go), pattern, name, expected
const GO_TABLE: [string, string, Outcome][] = [
  ['abc', 'abc', true], ['*', 'abc', true], ['*c', 'abc', true], ['a*', 'a', true], ['a*', 'abc', true], ['a*', 'ab/c', false],
  ['a*/b', 'abc/b', true], ['a*/b', 'a/c/b', false], ['a*b*c*d*e*/f', 'axbxcxdxe/f', true], ['a*b*c*d*e*/f', 'axbxcxdxexxx/f', true],
  ['a*b*c*d*e*/f', 'axbxcxdxe/xxx/f', false], ['a*b*c*d*e*/f', 'axbxcxdxexxx/fff', false], ['a*b?c*x', 'abxbbxdbxebxczzx', true],
  ['a*b?c*x', 'abxbbxdbxebxczzy', false], ['ab[c]', 'abc', true], ['ab[b-d]', 'abc', true], ['ab[e-g]', 'abc', false], ['ab[^c]', 'abc', false],
  ['ab[^b-d]', 'abc', false], ['ab[^e-g]', 'abc', true], ['a\\*b', 'a*b', true], ['a\\*b', 'ab', false], ['a?b', 'a☺b', true],
  ['a[^a]b', 'a☺b', true], ['a???b', 'a☺b', false], ['a[^a][^a][^a]b', 'a☺b', false], ['[a-ζ]*', 'α', true], ['*[a-ζ]', 'A', false],
  ['a?b', 'a/b', false], ['a*b', 'a/b', false], ['[\\]a]', ']', true], ['[\\-]', '-', true], ['[x\\-]', 'x', true], ['[x\\-]', '-', true],
  ['[x\\-]', 'z', false], ['[\\-x]', 'x', true], ['[\\-x]', '-', true], ['[\\-x]', 'a', false], ['[]a]', ']', 'bad'], ['[-]', '-', 'bad'],
  ['[x-]', 'x', 'bad'], ['[x-]', '-', 'bad'], ['[x-]', 'z', 'bad'], ['[-x]', 'x', 'bad'], ['[-x]', '-', 'bad'], ['[-x]', 'a', 'bad'],
  ['\\', 'a', 'bad'], ['[a-b-c]', 'a', 'bad'], ['[', 'a', 'bad'], ['[^', 'a', 'bad'], ['[^bc', 'a', 'bad'], ['a[', 'a', 'bad'],
  ['a[', 'ab', 'bad'], ['a[', 'x', 'bad'], ['a/b[', 'x', 'bad'], ['*x', 'xxx', true],
];

describe('goMatch', () => {
  test("Go's own match table", () => {
    for (const [p, s, want] of GO_TABLE) assert.equal(ours(p, s), want, `Match(${JSON.stringify(p)}, ${JSON.stringify(s)})`);
  });

  test('agrees with real Go on every pattern × name of a mixed set', () => {
    const patterns = ['*', '*.js', 'dist/*', 'dist/**', '?', '??', 'a?c', '[abc]*', '[^.]*', '.*', '*/*', 'src/*/index.[jt]s', '\\[x]', '[\\*]', 'x*y*z', '*.', '[a-c][!x]', '[]]', 'a\\', '', 'node_modules', 'node_modules/*/package.json', '*/', '[^/]*', '[0-9]*.log'];
    const names = ['', 'a', 'abc', 'a.js', '.env', 'dist', 'dist/a.js', 'dist/sub/b.js', 'src/app/index.ts', 'src/app/index.js', '[x]', 'x', '*', 'xyz', 'xaybz', 'a.', 'b!', ']', 'node_modules', 'node_modules/left-pad/package.json', 'dir/', '1.log', 'é.js'];
    const cases: [string, string][] = patterns.flatMap((p) => names.map((n): [string, string] => [p, n]));
    const go = askGo(cases, []).Match;
    const diffs = cases.filter((c, i) => ours(c[0], c[1]) !== go[i]).map((c, i) => `${JSON.stringify(c)}: ours ${ours(c[0], c[1])} go ${go[i]}`);
    assert.deepEqual(diffs, []);
  });
});

describe('goGlob', () => {
  test('agrees with real Go over a real folder tree', async () => {
    const root = join(work, 'tree');
    for (const d of ['dist/js', 'dist/css', 'src/app', 'src/lib', '.hidden', 'empty', 'we[ird]']) mkdirSync(join(root, d), { recursive: true });
    for (const f of ['dist/js/a.js', 'dist/js/b.js', 'dist/css/site.css', 'dist/index.html', 'src/app/index.ts', 'src/lib/util.ts', '.hidden/x', 'README.md', 'we[ird]/f']) writeFileSync(join(root, f), f);
    symlinkSync('dist', join(root, 'link'));
    const tree: GlobTree = {
      exists: async (p) => {
        try {
          statSync(p, { throwIfNoEntry: true });
          return true;
        } catch {
          return false;
        }
      },
      list: async (d) => {
        try {
          return statSync(d).isDirectory() ? readdirSync(d) : undefined;
        } catch {
          return undefined;
        }
      },
    };
    const patterns = ['dist', 'dist/*', 'dist/*/*.js', '*/*', '*', '.*', 'src/*/index.ts', 'nothing', 'nothing/*', '*/nothing', 'link/*', 'README.md/*', 'we[ird]', 'we\\[ird]/*', 'dist/[', '[]/x', 'empty/*'].map((p) => join(root, p));
    const go = askGo([], patterns).Glob;
    for (const [i, p] of patterns.entries()) {
      let mine: string[] | 'bad';
      try {
        mine = await goGlob(p, tree);
      } catch (e) {
        if (!(e instanceof BadPatternError)) throw e;
        mine = 'bad';
      }
      assert.deepEqual(mine, go[i], `Glob(${p})`);
    }
  });
});
