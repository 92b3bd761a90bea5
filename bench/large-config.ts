/**
 * A large config for the compiler benchmark, generated so that the repository holds no copy of
 * anyone's config: over 200 KB, several hundred jobs once matrices are expanded, with commands
 * calling commands, parameterised executors, when/unless steps, steps parameters, YAML anchors
 * and merge keys, pipeline values and an inline orb. Deterministic: every run measures the same text.
 */
const COMMANDS = 60;
const EXECUTORS = 8;
const JOBS = 100;

export function largeConfig(): string {
  const out: string[] = ['version: 2.1', ''];
  out.push('parameters:', '  deploy: {type: boolean, default: false}', '  channel: {type: string, default: stable}', '');
  out.push('defaults: &retry', '  max_auto_reruns: 2', '  auto_rerun_delay: 30s', '');
  out.push('orbs:', '  tools:', '    commands:', '      banner:', '        parameters: {text: {type: string}}', '        steps:', '          - run: echo "== << parameters.text >> =="', '');
  out.push('executors:');
  for (let e = 0; e < EXECUTORS; e++) {
    out.push(
      `  exec-${e}:`,
      '    parameters:',
      `      tag: {type: string, default: "${20 + e}.1"}`,
      '      size: {type: enum, enum: [small, medium, large], default: medium}',
      `    docker:`,
      `      - image: cimg/lang-${e}:<< parameters.tag >>`,
      '        environment: {LANG: C.UTF-8, TZ: UTC}',
      `      - image: cimg/postgres:1${e}.2`,
      '    resource_class: << parameters.size >>',
      '    working_directory: ~/project',
    );
  }
  out.push('', 'commands:');
  for (let c = 0; c < COMMANDS; c++) {
    const next = c + 1 < COMMANDS && c % 3 !== 2 ? [`      - cmd-${c + 1}: {label: "from-${c}"}`] : [];
    out.push(
      `  cmd-${c}:`,
      `    description: step group ${c}, which prepares, runs and reports part ${c} of the build`,
      '    parameters:',
      `      label: {type: string, default: "part-${c}"}`,
      '      verbose: {type: boolean, default: false}',
      '      retries: {type: integer, default: 2}',
      '      after: {type: steps, default: []}',
      '    steps:',
      '      - tools/banner: {text: << parameters.label >>}',
      '      - run:',
      `          name: prepare << parameters.label >>`,
      '          command: |',
      `            set -eu`,
      `            mkdir -p build/part-${c} reports/part-${c}`,
      `            for i in $(seq 1 << parameters.retries >>); do`,
      `              ./scripts/prepare.sh --part ${c} --attempt "$i" && break`,
      '            done',
      `            echo "prepared part ${c} for << pipeline.git.branch >>"`,
      '          environment: {PART: "' + c + '", CHANNEL: << pipeline.parameters.channel >>}',
      '          <<: *retry',
      '      - when:',
      '          condition: << parameters.verbose >>',
      '          steps:',
      `            - run: ls -la build/part-${c}`,
      '      - restore_cache:',
      `          keys: ["v1-part-${c}-{{ checksum \\"lock-${c}\\" }}", "v1-part-${c}-"]`,
      ...next,
      '      - steps: << parameters.after >>',
      '      - save_cache:',
      `          key: v1-part-${c}-{{ checksum "lock-${c}" }}`,
      `          paths: [build/part-${c}, ~/.cache/part-${c}]`,
    );
  }
  out.push('', 'jobs:');
  for (let j = 0; j < JOBS; j++) {
    out.push(
      `  job-${j}:`,
      '    parameters:',
      `      exec: {type: executor, default: exec-${j % EXECUTORS}}`,
      '      shard: {type: integer, default: 1}',
      '      os: {type: string, default: linux}',
      '      flavour: {type: enum, enum: [debug, release, asan], default: debug}',
      '    executor: << parameters.exec >>',
      '    parallelism: 2',
      '    environment: {SHARD: << parameters.shard >>, FLAVOUR: << parameters.flavour >>}',
      '    steps:',
      '      - checkout',
      `      - cmd-${(j * 7) % COMMANDS}:`,
      `          label: job-${j}-<< parameters.os >>`,
      '          verbose: << pipeline.parameters.deploy >>',
      '          after:',
      `            - run: echo after job ${j}`,
      `      - cmd-${(j * 11 + 3) % COMMANDS}`,
      '      - run:',
      '          name: test shard << parameters.shard >> (<< parameters.flavour >>)',
      '          command: |',
      `            ./scripts/test.sh --job ${j} --shard << parameters.shard >> --flavour << parameters.flavour >>`,
      `            circleci tests glob "tests/${j}/**/*.py" | circleci tests split > selected`,
      '          no_output_timeout: 20m',
      '      - unless:',
      '          condition: {equal: [release, << parameters.flavour >>]}',
      '          steps: [{store_artifacts: {path: reports, destination: "job-' + j + '"}}]',
      '      - store_test_results: {path: reports}',
      '      - persist_to_workspace: {root: ., paths: [build]}',
    );
  }
  out.push('', 'workflows:');
  for (const [w, from, to] of [['build', 0, 40], ['test', 40, 80], ['nightly', 80, 100]] as const) {
    out.push(`  ${w}:`, '    jobs:');
    for (let j = from; j < to; j++) {
      out.push(
        `      - job-${j}:`,
        '          matrix:',
        '            parameters:',
        '              shard: [1, 2, 3]',
        '              flavour: [debug, release]',
        '            exclude:',
        '              - {shard: 3, flavour: release}',
        ...(j > from ? [`          requires: [job-${j - 1}]`] : []),
        '          context: [org-global]',
        '          filters: {branches: {ignore: /^dependabot\\/.*/}}',
      );
    }
  }
  return `${out.join('\n')}\n`;
}

