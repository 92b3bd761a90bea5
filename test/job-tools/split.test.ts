// `circleci tests split` and `circleci tests run`: every file lands on exactly
// one node whatever the node, sizes balance for filesize, timings falls back
// to names with CircleCI's message, and run hands the share to the command.

import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { SKEWED_SECONDS, skewedLoad } from '../test-results/skewed-suite.js';
import { TOOL_IMAGES, lines, toolsContainer, type ToolsContainer } from './tools-container.js';

const TREE = '/tmp/splittree';

/** Test files and their sizes in bytes: uneven on purpose. */
const SIZES: Record<string, number> = {
  'spec/a_spec.rb': 9000,
  'spec/b_spec.rb': 200,
  'spec/c_spec.rb': 4100,
  'spec/d_spec.rb': 3900,
  'spec/e_spec.rb': 50,
  'spec/f_spec.rb': 7000,
  'spec/g_spec.rb': 1200,
  'spec/h_spec.rb': 2500,
  'spec/i_spec.rb': 600,
  'spec/j_spec.rb': 3300,
};
const NAMES = Object.keys(SIZES).sort();
const TIMINGS_FALLBACK = 'Error auto-detecting timing type, falling back to weighting by name.';

async function splitOn(box: ToolsContainer, flags: string, index: number, total: number): Promise<{ files: string[]; stderr: string }> {
  const result = await box.sh(`circleci tests glob 'spec/*_spec.rb' | circleci tests split ${flags}`, {
    CIRCLE_NODE_INDEX: String(index),
    CIRCLE_NODE_TOTAL: String(total),
  }, TREE);
  assert.equal(result.exitCode, 0, result.stderr);
  return { files: lines(result.stdout), stderr: result.stderr };
}

async function allShares(box: ToolsContainer, flags: string, total: number): Promise<string[][]> {
  const shares: string[][] = [];
  for (let index = 0; index < total; index++) shares.push((await splitOn(box, flags, index, total)).files);
  return shares;
}

function assertPartition(shares: string[][]): void {
  const all = shares.flat();
  assert.equal(new Set(all).size, all.length, `a file landed on two nodes: ${JSON.stringify(shares)}`);
  assert.deepEqual([...all].sort(), NAMES);
}

const weight = (share: string[]): number => share.reduce((sum, file) => sum + SIZES[file], 0);

for (const image of TOOL_IMAGES) {
  describe(`tests split and run in ${image}`, () => {
    const box = toolsContainer(image, 'tools-split');
    before(async () => {
      const make = Object.entries(SIZES).map(([file, size]) => `head -c ${size} /dev/zero > ${file}`).join(' && ');
      const result = await box.sh(`mkdir -p ${TREE}/spec && cd ${TREE} && ${make}`);
      assert.equal(result.exitCode, 0, result.stderr);
    });

    it('by name: sorted names dealt round-robin, every file on exactly one node', async () => {
      for (const total of [1, 2, 3, 4, 12]) {
        const shares = await allShares(box, '', total);
        assertPartition(shares);
        const expected = Array.from({ length: total }, (_, node) => NAMES.filter((_, i) => i % total === node));
        assert.deepEqual(shares, expected, `total ${total}`);
      }
    });

    it('--index/--total override the environment, and a FILE argument replaces stdin', async () => {
      await box.sh(`printf '%s\\n' ${NAMES.join(' ')} > list.txt`, {}, TREE);
      const result = await box.sh('circleci tests split --index=1 --total 3 list.txt < /dev/null', { CIRCLE_NODE_INDEX: '0', CIRCLE_NODE_TOTAL: '2' }, TREE);
      assert.equal(result.exitCode, 0, result.stderr);
      assert.deepEqual(lines(result.stdout), ['spec/b_spec.rb', 'spec/e_spec.rb', 'spec/h_spec.rb']);
    });

    it('reads whitespace-separated names and drops duplicates', async () => {
      const result = await box.sh("printf 'b a\\n\\tc  a\\n' | circleci tests split --total=1");
      assert.deepEqual(lines(result.stdout), ['a', 'b', 'c']);
    });

    it('without CircleCI variables is node 0 of 1', async () => {
      const result = await box.sh('unset CIRCLE_NODE_INDEX CIRCLE_NODE_TOTAL; printf "z y x" | circleci tests split');
      assert.deepEqual(lines(result.stdout), ['x', 'y', 'z']);
    });

    it('by filesize: largest first onto the lightest node, balanced', async () => {
      for (const total of [2, 3, 4]) {
        const shares = await allShares(box, '--split-by=filesize', total);
        assertPartition(shares);
        const weights = shares.map(weight);
        const spread = Math.max(...weights) - Math.min(...weights);
        // Greedy largest-first never leaves two nodes further apart than the largest file.
        assert.ok(spread <= 9000, `total ${total}: weights ${weights.join(',')}`);
      }
      // The greedy result worked by hand for 3 nodes (ties go to the lower node):
      // a 9000 → 0, f 7000 → 1, c 4100 → 2, d 3900 → 2, j 3300 → 1, h 2500 → 2,
      // g 1200 → 0, i 600 → 0, b 200 → 1, e 50 → 1 (10500 = 10500).
      const three = await allShares(box, '--split-by=filesize', 3);
      assert.deepEqual(three, [
        ['spec/a_spec.rb', 'spec/g_spec.rb', 'spec/i_spec.rb'],
        ['spec/b_spec.rb', 'spec/e_spec.rb', 'spec/f_spec.rb', 'spec/j_spec.rb'],
        ['spec/c_spec.rb', 'spec/d_spec.rb', 'spec/h_spec.rb'],
      ]);
      assert.deepEqual(three.map(weight), [10800, 10550, 10500]);
    });

    it('by filesize: a missing file weighs nothing but still lands on one node', async () => {
      const shares: string[][] = [];
      for (const index of [0, 1]) {
        const result = await box.sh(`echo spec/a_spec.rb spec/gone_spec.rb spec/b_spec.rb | circleci tests split --split-by=filesize --index=${index} --total=2`, {}, TREE);
        assert.equal(result.exitCode, 0, result.stderr);
        shares.push(lines(result.stdout));
      }
      assert.deepEqual(shares, [['spec/a_spec.rb'], ['spec/b_spec.rb', 'spec/gone_spec.rb']]);
    });

    it('--show-counts reports every node on stderr', async () => {
      const { files, stderr } = await splitOn(box, '--split-by=filesize --show-counts', 0, 3);
      assert.deepEqual(files, ['spec/a_spec.rb', 'spec/g_spec.rb', 'spec/i_spec.rb']);
      assert.deepEqual(lines(stderr), ['node 0: 3 files, 10800 bytes', 'node 1: 4 files, 10550 bytes', 'node 2: 3 files, 10500 bytes']);
    });

    it('by timings: without timing data, says so and splits by name', async () => {
      for (const flags of ['--split-by=timings', '--split-by timings --timings-type=filename', '--split-by=timings --timings-type classname --time-default=10s']) {
        const shares: string[][] = [];
        for (let index = 0; index < 3; index++) {
          const { files, stderr } = await splitOn(box, flags, index, 3);
          assert.equal(stderr, `${TIMINGS_FALLBACK}\n`);
          shares.push(files);
        }
        assert.deepEqual(shares, await allShares(box, '--split-by=name', 3));
      }
    });

    // Timings as the runner delivers them at spin-up (agent/test-results/deliver-timings.ts).
    const TASK_DATA = '/tmp/timings-task-data';
    const withTimings = { CIRCLE_INTERNAL_TASK_DATA: TASK_DATA };
    const writeTimings = async (records: Array<[string, string, number]>): Promise<void> => {
      const text = records.map(([type, name, seconds]) => `${type}\t${name}\t${seconds}\n`).join('');
      const result = await box.sh(`mkdir -p ${TASK_DATA} && printf '%s' "$T" > ${TASK_DATA}/test-timings.tsv`, { T: text });
      assert.equal(result.exitCode, 0, result.stderr);
    };
    const timingShares = async (flags: string, total: number, input = NAMES.join('\n')): Promise<{ shares: string[][]; stderr: string[] }> => {
      const shares: string[][] = [];
      const stderr: string[] = [];
      for (let index = 0; index < total; index++) {
        const result = await box.sh(`printf '%s\\n' "$NAMES" | circleci tests split --split-by=timings ${flags} --index=${index} --total=${total}`, { ...withTimings, NAMES: input }, TREE);
        assert.equal(result.exitCode, 0, result.stderr);
        shares.push(lines(result.stdout));
        stderr.push(result.stderr);
      }
      return { shares, stderr };
    };

    it('by timings: balances a skewed suite far better than by name', async () => {
      await writeTimings(Object.entries(SKEWED_SECONDS).map(([file, s]) => ['file', file, s]));
      const byName = await allShares(box, '--split-by=name', 3);
      const { shares, stderr } = await timingShares('', 3);
      assertPartition(shares);
      assert.deepEqual(stderr, ['', '', ''], 'every file has a timing: nothing to say');
      // greedy longest first onto the least-loaded node: 50 → 0, 40 → 1, 30 → 2, 20 → 2, then the six 1s → 1
      assert.deepEqual(shares, [
        ['spec/a_spec.rb'],
        ['spec/b_spec.rb', 'spec/c_spec.rb', 'spec/d_spec.rb', 'spec/e_spec.rb', 'spec/f_spec.rb', 'spec/h_spec.rb', 'spec/i_spec.rb'],
        ['spec/g_spec.rb', 'spec/j_spec.rb'],
      ]);
      const timed = Math.max(...shares.map(skewedLoad));
      const named = Math.max(...byName.map(skewedLoad));
      assert.equal(timed, 50);
      assert.equal(named, 140);
      assert.ok(timed < named);
      const counts = await box.sh("printf '%s\\n' $NAMES | circleci tests split --split-by=timings --show-counts --total=3", { ...withTimings, NAMES: NAMES.join(' ') }, TREE);
      assert.deepEqual(lines(counts.stderr), ['node 0: 1 files, 50.000s', 'node 1: 7 files, 46.000s', 'node 2: 2 files, 50.000s']);
    });

    it('by timings: "./" prefixes match, unknown files weigh --time-default and are named on stderr', async () => {
      const input = ['./spec/a_spec.rb', 'spec/new_spec.rb', './spec/d_spec.rb', 'spec/b_spec.rb'].join('\n');
      const { shares, stderr } = await timingShares('--time-default=45s', 2, input);
      // a 50 → node 0, new 45 → node 1, d 40 → node 1 (45 < 50), b 1 → node 0
      assert.deepEqual(shares, [['./spec/a_spec.rb', 'spec/b_spec.rb'], ['./spec/d_spec.rb', 'spec/new_spec.rb']]);
      assert.deepEqual(stderr, ['No timing found for "spec/new_spec.rb"\n', 'No timing found for "spec/new_spec.rb"\n']);
      // the default default is small: a new file goes wherever the load is least
      const small = await timingShares('', 2, input);
      assert.deepEqual(small.shares, [['./spec/a_spec.rb'], ['./spec/d_spec.rb', 'spec/b_spec.rb', 'spec/new_spec.rb']]);
    });

    it('by timings: classname and testname data, by flag or autodetected', async () => {
      await writeTimings([
        ['classname', 'com.acme.CartTest', 300],
        ['classname', 'com.acme.PriceTest', 100],
        ['classname', 'com.acme.TaxTest', 150],
        ['classname', 'com.acme.UserTest', 120],
        ['testname', 'TestSlow', 9],
        ['testname', 'TestFast', 1],
        ['testname', 'TestMid', 5],
      ]);
      const classes = ['com.acme.CartTest', 'com.acme.PriceTest', 'com.acme.TaxTest', 'com.acme.UserTest'].join('\n');
      const expected = [['com.acme.CartTest'], ['com.acme.PriceTest', 'com.acme.TaxTest', 'com.acme.UserTest']];
      for (const flags of ['--timings-type=classname', '', '--timings-type=autodetect']) {
        const { shares, stderr } = await timingShares(flags, 2, classes);
        assert.deepEqual(shares, expected, flags);
        assert.deepEqual(stderr, ['', ''], flags);
      }
      const tests = await timingShares('--timings-type=testname', 2, 'TestFast\nTestMid\nTestSlow');
      assert.deepEqual(tests.shares, [['TestSlow'], ['TestFast', 'TestMid']]);
    });

    it('by timings: data that knows none of the names falls back to names with CircleCI\'s message', async () => {
      await writeTimings([['file', 'lib/other_spec.rb', 3]]);
      for (const flags of ['', '--timings-type=filename', '--timings-type=classname']) {
        const { shares, stderr } = await timingShares(flags, 3);
        assert.deepEqual(shares, await allShares(box, '--split-by=name', 3), flags);
        assert.deepEqual(stderr, [`${TIMINGS_FALLBACK}\n`, `${TIMINGS_FALLBACK}\n`, `${TIMINGS_FALLBACK}\n`], flags);
      }
      const bad = await box.sh('echo a | circleci tests split --split-by=timings --time-default=ten', withTimings);
      assert.equal(bad.exitCode, 2);
      assert.match(bad.stderr, /--time-default must be a duration such as 10s, 1m30s or 500ms, not "ten"/);
      for (const [value, ok] of [['1m30s', true], ['500ms', true], ['1.5h', true], ['0', true], ['10', false], ['s', false]] as const) {
        const r = await box.sh(`echo a | circleci tests split --split-by=timings --time-default=${value}`, withTimings);
        assert.equal(r.exitCode, ok ? 0 : 2, value);
      }
    });

    it('rejects bad node numbers and flags with one line and exit 2', async () => {
      const cases: Array<[string, Record<string, string>, RegExp]> = [
        ['circleci tests split --index=3 --total=3', {}, /node index "3" \(--index or CIRCLE_NODE_INDEX\) must be a whole number below the total, 3/],
        ['circleci tests split', { CIRCLE_NODE_TOTAL: '0' }, /node total "0"/],
        ['circleci tests split', { CIRCLE_NODE_INDEX: 'one' }, /node index "one"/],
        ['circleci tests split --split-by=size', {}, /--split-by must be name, filesize or timings, not "size"/],
        ['circleci tests split --timings-type=suite', {}, /--timings-type must be/],
        ['circleci tests split --bogus', {}, /unknown flag --bogus for tests split/],
        ['circleci tests split --command=true', {}, /--command belongs to tests run/],
      ];
      for (const [script, env, message] of cases) {
        const result = await box.sh(`${script} < /dev/null`, env);
        assert.equal(result.exitCode, 2, script);
        assert.equal(lines(result.stderr).length, 1, script);
        assert.match(result.stderr, message);
      }
      const missing = await box.sh('circleci tests split /no/such/list.txt');
      assert.equal(missing.exitCode, 1);
      assert.match(missing.stderr, /cannot read test list \/no\/such\/list.txt/);
    });

    it('tests run pipes this node\'s share to the command and exits with its code', async () => {
      const ran: string[][] = [];
      for (let index = 0; index < 3; index++) {
        const result = await box.sh(
          `circleci tests glob 'spec/*.rb' | circleci tests run --command="xargs echo running" --split-by=filesize --index=${index} --total=3`,
          {},
          TREE,
        );
        assert.equal(result.exitCode, 0, result.stderr);
        const [line, ...rest] = lines(result.stdout);
        assert.deepEqual(rest, []);
        assert.match(line, /^running /);
        ran.push(line.slice('running '.length).split(' '));
      }
      assertPartition(ran);

      const failing = await box.sh("echo spec/a_spec.rb | circleci tests run --command='cat > /tmp/got; exit 7'", {}, TREE);
      assert.equal(failing.exitCode, 7);
      assert.equal((await box.sh('cat /tmp/got')).stdout, 'spec/a_spec.rb\n');
    });

    it('tests run does not start the command on a node with no tests', async () => {
      const result = await box.sh("rm -f /tmp/files.txt; echo only_spec.rb | circleci tests run --command='>/tmp/files.txt xargs echo' --index=1 --total=2 --verbose; test -e /tmp/files.txt || echo not-created");
      assert.equal(result.exitCode, 0);
      assert.equal(result.stdout, 'not-created\n');
      assert.match(result.stderr, /no tests for node 1 of 2; not running the command/);
    });

    it('tests run needs --command', async () => {
      const result = await box.sh('echo a | circleci tests run');
      assert.equal(result.exitCode, 2);
      assert.match(result.stderr, /tests run needs --command/);
    });
  });
}
