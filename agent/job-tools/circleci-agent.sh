#!/bin/sh
# Deckhand's `circleci-agent` (also installed as `circleci`): the commands a
# job's steps call from inside the container. Job images need not have Node,
# bash or GNU tools, so this is POSIX sh plus awk, find, sort, stat, xargs,
# and it runs unchanged under busybox and under Debian's dash + mawk.
# Behaviour and differences from CircleCI: docs/job-tools.md.

PROG=${0##*/}
# One collation everywhere, so every parallel node sorts file names alike.
LC_ALL=C
export LC_ALL

usage() {
  cat <<EOF
Usage: $PROG <command> [flags]

Commands:
  step halt                 end the job after this step without failing it
  tests glob PATTERN...     print the files matching the patterns (*, **, ?, [abc], {a,b})
  tests split [FILE]        print this node's share of the file names in FILE (or stdin)
  tests run --command=CMD   pipe this node's share of stdin's file names to CMD

Flags of tests split and tests run:
  --split-by=name|filesize|timings   how to balance the nodes (default name)
  --timings-type=TYPE                autodetect|filename|classname|testname
  --time-default=DURATION            weight of a name with no timing data (e.g. 10s, 1m30s, 500ms)
  --index=N                          this node (default \$CIRCLE_NODE_INDEX, else 0)
  --total=N                          number of nodes (default \$CIRCLE_NODE_TOTAL, else 1)
  --show-counts                      print every node's file count to stderr
  -v, --verbose                      explain the split on stderr
EOF
}

# A mistake in how the command was called: one line, exit 2.
usage_error() {
  printf '%s: %s (see "%s --help")\n' "$PROG" "$1" "$PROG" >&2
  exit 2
}

# A failure while doing the work: one line, exit 1.
fail() {
  printf '%s: %s\n' "$PROG" "$1" >&2
  exit 1
}

is_count() {
  case $1 in
    '' | *[!0-9]*) return 1 ;;
  esac
  return 0
}

# ---------------------------------------------------------------- step halt

# The runner creates $CIRCLE_INTERNAL_TASK_DATA in the container and, after
# each step, looks for the marker file: present means "stop here, job not
# failed by this".
step_halt() {
  dir=${CIRCLE_INTERNAL_TASK_DATA:-}
  if [ -z "$dir" ]; then
    # CircleCI's wording, so scripts that grep for it keep working.
    printf 'Error: expected this to be called inside a job\n' >&2
    exit 1
  fi
  [ -d "$dir" ] || fail "cannot halt: task data directory $dir does not exist; the job runner must create it before the step"
  : >"$dir/halt" 2>/dev/null || fail "cannot halt: cannot write $dir/halt; check that the step's user may write there"
  exit 0
}

# --------------------------------------------------------------- tests glob

# Brace alternatives are expanded first ({a,b} nests; a brace group with no
# top-level comma stays literal, as in bash), then each pattern becomes a
# starting directory, a depth limit and an anchored ERE for `find`'s output.
# Output lines: BASE <tab> MAXDEPTH (-1 = unlimited) <tab> STRIP <tab> REGEX,
# STRIP=1 when BASE is an implicit "." whose "./" prefix must not be printed.
GLOB_PLAN_AWK='
function expand(p,    i, n, c, depth, j, close_at, commas, k, alts, pre, post, start) {
  n = length(p)
  for (i = 1; i <= n; i++) {
    c = substr(p, i, 1)
    if (c == "\\") { i++; continue }
    if (c != "{") continue
    depth = 0; close_at = 0; commas = 0
    for (j = i + 1; j <= n; j++) {
      c = substr(p, j, 1)
      if (c == "\\") { j++; continue }
      if (c == "{") depth++
      else if (c == "}") { if (depth == 0) { close_at = j; break } depth-- }
      else if (c == "," && depth == 0) commas++
    }
    if (close_at == 0 || commas == 0) continue
    pre = substr(p, 1, i - 1); post = substr(p, close_at + 1)
    depth = 0; start = i + 1
    for (j = i + 1; j <= close_at; j++) {
      c = substr(p, j, 1)
      if (c == "\\") { j++; continue }
      if (c == "{") depth++
      else if (c == "}" && depth > 0) depth--
      else if ((c == "," && depth == 0) || j == close_at) {
        expand(pre substr(p, start, j - start) post)
        start = j + 1
      }
    }
    return
  }
  plan(p)
}
function has_magic(s) { return s ~ /[*?[\\]/ }
# One path segment (no "/") as ERE text.
function segment_re(s,    out, i, n, c, j, cls) {
  out = ""; n = length(s)
  for (i = 1; i <= n; i++) {
    c = substr(s, i, 1)
    if (c == "*") {
      if (substr(s, i + 1, 1) == "*") { out = out ".*"; i++ } else out = out "[^/]*"
    } else if (c == "?") out = out "[^/]"
    else if (c == "[") {
      # A class runs to the next "]" (a "]" right after "[" or "[!" is a member).
      j = i + 1
      if (substr(s, j, 1) == "!" || substr(s, j, 1) == "^") j++
      if (substr(s, j, 1) == "]") j++
      while (j <= n && substr(s, j, 1) != "]") j++
      if (j > n) { out = out "\\["; continue }
      cls = substr(s, i + 1, j - i - 1)
      if (substr(cls, 1, 1) == "!") cls = "^" substr(cls, 2)
      out = out "[" cls "]"
      i = j
    } else if (c == "\\" && i < n) { i++; out = out literal(substr(s, i, 1)) }
    else out = out literal(c)
  }
  return out
}
function literal(c) {
  if (c == "\\" || c == "^") return "\\" c
  if (index(".+()|$*?[]{}", c)) return "[" c "]"
  return c
}
function plan(p,    segs, n, i, k, base, re, depth, strip, deep) {
  n = split(p, segs, "/")
  # Leading segments without wildcards form the directory find starts in.
  k = 0
  while (k < n && !has_magic(segs[k + 1])) k++
  if (k == n) {
    # No wildcard at all: the path itself, if it is a file.
    print p "\t0\t0\t^" segment_re(p) "$"
    return
  }
  base = ""
  for (i = 1; i <= k; i++) base = base (i > 1 ? "/" : "") segs[i]
  strip = 0
  if (k == 0) { base = "."; strip = 1 }
  else if (base == "") base = "/"
  re = "^"; deep = 0
  for (i = 1; i <= n; i++) {
    if (segs[i] == "**") {
      deep = 1
      # A whole "**" segment also matches no directory at all.
      if (i < n) re = re "(.*/)?"; else re = re ".*"
      continue
    }
    if (segs[i] ~ /\*\*/) deep = 1
    re = re segment_re(segs[i]) (i < n ? "/" : "")
  }
  depth = deep ? -1 : n - k
  print base "\t" depth "\t" strip "\t" re "$"
}
{ expand($0) }
'

tests_glob() {
  [ $# -gt 0 ] || usage_error 'tests glob needs at least one pattern, e.g. tests glob "test/**/*_test.go"'
  for pattern in "$@"; do
    printf '%s\n' "$pattern"
  done | awk "$GLOB_PLAN_AWK" | while IFS='	' read -r base depth strip regex; do
    if [ "$depth" = -1 ]; then
      find -H "$base" -type f 2>/dev/null
    else
      find -H "$base" -maxdepth "$depth" -type f 2>/dev/null
    fi | GLOB_RE=$regex GLOB_STRIP=$strip awk '
      ENVIRON["GLOB_STRIP"] == "1" { if (substr($0, 1, 2) != "./") next; $0 = substr($0, 3) }
      $0 ~ ENVIRON["GLOB_RE"]'
  done | sort -u
}

# -------------------------------------------------------------- tests split

SPLIT_BY=name
TIMINGS_TYPE=autodetect
TIME_DEFAULT_MS=
SHOW_COUNTS=0
VERBOSE=0
NODE_INDEX=${CIRCLE_NODE_INDEX:-0}
NODE_TOTAL=${CIRCLE_NODE_TOTAL:-1}
RUN_COMMAND=
HAVE_COMMAND=0
INPUT_FILE=

# Parses the flags shared by split and run; $1 names the subcommand.
parse_split_flags() {
  sub=$1
  shift
  while [ $# -gt 0 ]; do
    flag=$1
    value=
    case $flag in
      --*=*) value=${flag#*=}; flag=${flag%%=*}; has_value=1 ;;
      *) has_value=0 ;;
    esac
    case $flag in
      --split-by | --timings-type | --time-default | --index | --total | --command)
        if [ "$has_value" = 0 ]; then
          [ $# -ge 2 ] || usage_error "flag $flag of tests $sub needs a value"
          value=$2
          shift
        fi
        ;;
    esac
    case $flag in
      --split-by)
        case $value in
          name | filesize | timings) SPLIT_BY=$value ;;
          *) usage_error "--split-by must be name, filesize or timings, not \"$value\"" ;;
        esac
        ;;
      --timings-type)
        # The first four are CircleCI's flag table; name/file/class appear
        # in older CircleCI docs, so they are accepted too.
        case $value in
          autodetect | filename | classname | testname | name | file | class) TIMINGS_TYPE=$value ;;
          *) usage_error "--timings-type must be autodetect, filename, classname or testname, not \"$value\"" ;;
        esac
        ;;
      --time-default)
        TIME_DEFAULT_MS=$(duration_ms "$value")
        [ -n "$TIME_DEFAULT_MS" ] || usage_error "--time-default must be a duration such as 10s, 1m30s or 500ms, not \"$value\""
        ;;
      --index) NODE_INDEX=$value ;;
      --total) NODE_TOTAL=$value ;;
      --command)
        [ "$sub" = run ] || usage_error "--command belongs to tests run, not tests $sub"
        RUN_COMMAND=$value
        HAVE_COMMAND=1
        ;;
      --show-counts) SHOW_COUNTS=1 ;;
      -v | --verbose) VERBOSE=1 ;;
      -h | --help) usage; exit 0 ;;
      -) [ -z "$INPUT_FILE" ] || usage_error "tests $sub reads one file, got \"$INPUT_FILE\" and \"-\""; INPUT_FILE=- ;;
      -*) usage_error "unknown flag $flag for tests $sub" ;;
      *)
        [ "$sub" = split ] || usage_error "tests run reads file names from stdin, not from \"$flag\""
        [ -z "$INPUT_FILE" ] || usage_error "tests split reads one file, got \"$INPUT_FILE\" and \"$flag\""
        INPUT_FILE=$flag
        ;;
    esac
    shift
  done
  is_count "$NODE_TOTAL" && [ "$NODE_TOTAL" -ge 1 ] ||
    usage_error "node total \"$NODE_TOTAL\" (--total or CIRCLE_NODE_TOTAL) must be a whole number of at least 1"
  is_count "$NODE_INDEX" && [ "$NODE_INDEX" -lt "$NODE_TOTAL" ] ||
    usage_error "node index \"$NODE_INDEX\" (--index or CIRCLE_NODE_INDEX) must be a whole number below the total, $NODE_TOTAL"
}

# A Go duration (10s, 1m30s, 1.5h, 500ms, 0) in whole milliseconds; empty
# when it is not one.
duration_ms() {
  printf '%s\n' "$1" | awk '
    {
      s = $0; total = 0
      if (s == "0") { print 0; exit }
      if (s == "") exit
      while (s != "") {
        if (!match(s, /^([0-9]+[.]?[0-9]*|[.][0-9]+)/)) exit
        num = substr(s, 1, RLENGTH) + 0; s = substr(s, RLENGTH + 1)
        if (!match(s, /^(ns|us|ms|s|m|h)/)) exit
        unit = substr(s, 1, RLENGTH); s = substr(s, RLENGTH + 1)
        total += num * (unit == "ns" ? 1e-6 : unit == "us" ? 1e-3 : unit == "ms" ? 1 : unit == "s" ? 1000 : unit == "m" ? 60000 : 3600000)
      }
      printf "%d\n", int(total + 0.5)
    }'
}

# Prints this node's share of the names in the file $1 (one per line,
# already de-duplicated and sorted), one per line in name order.
split_names() {
  list=$1
  case $SPLIT_BY in
    timings) by_timings "$list" ;;
    name) by_name "$list" ;;
    filesize) by_filesize "$list" ;;
  esac
}

# Sorted names dealt round-robin: file i goes to node i mod total. This is
# what weighting every name equally and always filling the lightest node
# (lowest index on ties) yields, and keeps node sizes within one file.
by_name() {
  awk -v index_="$NODE_INDEX" -v total="$NODE_TOTAL" -v counts="$SHOW_COUNTS" '
    { node = (NR - 1) % total; n[node]++; if (node == index_) print }
    END { if (counts) for (i = 0; i < total; i++) printf "node %d: %d files\n", i, n[i] + 0 > "/dev/stderr" }
  ' "$1"
}

# Reads "WEIGHT NAME" lines and deals them heaviest first (ties by name),
# each onto the node with the least weight so far, lowest index on ties:
# greedy longest-processing-time. Prints this node's names sorted. $1 says
# what a weight is for --show-counts: bytes, or ms (printed as seconds).
balance() {
  sort -k1,1nr -k2 | awk -v index_="$NODE_INDEX" -v total="$NODE_TOTAL" -v counts="$SHOW_COUNTS" -v unit="$1" '
    BEGIN { for (i = 0; i < total; i++) { load[i] = 0; n[i] = 0 } }
    {
      sp = index($0, " "); weight = substr($0, 1, sp - 1) + 0
      best = 0
      for (i = 1; i < total; i++) if (load[i] < load[best]) best = i
      load[best] += weight; n[best]++
      if (best == index_) print substr($0, sp + 1)
    }
    END {
      if (counts) for (i = 0; i < total; i++) {
        if (unit == "bytes") printf "node %d: %d files, %d bytes\n", i, n[i], load[i] > "/dev/stderr"
        else printf "node %d: %d files, %.3fs\n", i, n[i], load[i] / 1000 > "/dev/stderr"
      }
    }
  ' | sort
}

# Largest file first, each onto the node with the fewest bytes so far
# (lowest index on ties); a file that cannot be read weighs 0 but still
# lands on exactly one node.
by_filesize() {
  list=$1
  sizes=$WORK/sizes
  : >"$sizes"
  if [ -s "$list" ]; then
    tr '\n' '\0' <"$list" | xargs -0 stat -L -c '%s %n' -- >"$sizes" 2>/dev/null
  fi
  awk '
    FILENAME == ARGV[1] { sp = index($0, " "); size[substr($0, sp + 1)] = substr($0, 1, sp - 1); next }
    { print ($0 in size ? size[$0] : 0) " " $0 }
  ' "$sizes" "$list" | balance bytes
}

# Weight of a name with no timing data. CircleCI gives such names "a
# random small value"; every node must weigh names alike, so here it is a
# fixed small one.
DEFAULT_TIMING_MS=10

# By the timings of earlier runs, which the runner writes at spin-up to
# $CIRCLE_INTERNAL_TASK_DATA/test-timings.tsv (type, name, seconds; see
# TIMINGS_FILE in install.ts). The type is --timings-type, or with
# autodetect the first of file, classname, testname that knows any of the
# names. Names are matched without a leading "./". No data, or no name
# known: CircleCI's message, and the split by name.
by_timings() {
  list=$1
  data=
  [ -z "${CIRCLE_INTERNAL_TASK_DATA:-}" ] || data=$CIRCLE_INTERNAL_TASK_DATA/test-timings.tsv
  if [ -n "$data" ] && [ -s "$data" ] && [ -s "$list" ] &&
    awk -v want="$TIMINGS_TYPE" -v default_ms="${TIME_DEFAULT_MS:-$DEFAULT_TIMING_MS}" -v out="$WORK/weights" '
      BEGIN { FS = "\t" }
      FILENAME == ARGV[1] { if (NF == 3) t[$1 SUBSEP $2] = $3; next }
      { n++; item[n] = $0; name = $0; while (substr(name, 1, 2) == "./") name = substr(name, 3); key[n] = name }
      END {
        if (want == "autodetect") ntypes = split("file classname testname", types, " ")
        else { ntypes = 1; types[1] = (want == "filename" || want == "file") ? "file" : (want == "class") ? "classname" : (want == "name") ? "testname" : want }
        chosen = ""
        for (c = 1; c <= ntypes && chosen == ""; c++)
          for (i = 1; i <= n; i++) if ((types[c] SUBSEP key[i]) in t) { chosen = types[c]; break }
        if (chosen == "") exit 3
        for (i = 1; i <= n; i++) {
          k = chosen SUBSEP key[i]
          if (k in t) ms = int(t[k] * 1000 + 0.5)
          else { ms = default_ms; printf "No timing found for \"%s\"\n", item[i] > "/dev/stderr" }
          print ms " " item[i] > out
        }
      }
    ' "$data" "$list"; then
    balance ms <"$WORK/weights"
  else
    # CircleCI's own words when it finds no timing data.
    printf 'Error auto-detecting timing type, falling back to weighting by name.\n' >&2
    by_name "$list"
  fi
}

# Reads whitespace-separated names from $INPUT_FILE (or stdin) into a
# de-duplicated, sorted list file and prints its path.
collect_names() {
  names=$WORK/names
  if [ -n "$INPUT_FILE" ] && [ "$INPUT_FILE" != - ]; then
    awk '{ for (i = 1; i <= NF; i++) print $i }' "$INPUT_FILE"
  else
    awk '{ for (i = 1; i <= NF; i++) print $i }'
  fi | sort -u >"$names"
}

make_workdir() {
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/circleci-tests.XXXXXX") || fail "cannot create a scratch directory in ${TMPDIR:-/tmp}; set TMPDIR to a writable directory"
  trap 'rm -rf "$WORK"' EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}

tests_split() {
  parse_split_flags split "$@"
  # Checked here: collect_names reads inside a pipeline, where exit would not end the script.
  if [ -n "$INPUT_FILE" ] && [ "$INPUT_FILE" != - ] && { [ ! -f "$INPUT_FILE" ] || [ ! -r "$INPUT_FILE" ]; }; then
    fail "cannot read test list $INPUT_FILE: no such readable file; pass a file of test names or pipe them on stdin"
  fi
  make_workdir
  collect_names
  split_names "$WORK/names"
}

tests_run() {
  parse_split_flags run "$@"
  [ "$HAVE_COMMAND" = 1 ] && [ -n "$RUN_COMMAND" ] ||
    usage_error 'tests run needs --command, e.g. --command="xargs go test"'
  make_workdir
  collect_names
  split_names "$WORK/names" >"$WORK/share"
  count=$(awk 'END { print NR }' "$WORK/share")
  if [ "$count" -eq 0 ]; then
    [ "$VERBOSE" = 0 ] || printf '%s: no tests for node %s of %s; not running the command\n' "$PROG" "$NODE_INDEX" "$NODE_TOTAL" >&2
    exit 0
  fi
  [ "$VERBOSE" = 0 ] || printf '%s: node %s of %s runs %s test files with: %s\n' "$PROG" "$NODE_INDEX" "$NODE_TOTAL" "$count" "$RUN_COMMAND" >&2
  /bin/sh -c "$RUN_COMMAND" <"$WORK/share"
  exit $?
}

# ------------------------------------------------------------------ dispatch

case ${1:-} in
  '') usage >&2; exit 2 ;;
  -h | --help | help) usage; exit 0 ;;
  step)
    case ${2:-} in
      halt) [ $# -eq 2 ] || usage_error "step halt takes no arguments"; step_halt ;;
      -h | --help) usage; exit 0 ;;
      '') usage_error "step needs a subcommand: step halt" ;;
      *) usage_error "unknown command \"step $2\"; the only step command is step halt" ;;
    esac
    ;;
  tests)
    sub=${2:-}
    [ $# -lt 2 ] || shift 2
    case $sub in
      glob) tests_glob "$@" ;;
      split) tests_split "$@" ;;
      run) tests_run "$@" ;;
      -h | --help) usage; exit 0 ;;
      '') usage_error "tests needs a subcommand: glob, split or run" ;;
      *) usage_error "unknown command \"tests $sub\"; use tests glob, tests split or tests run" ;;
    esac
    ;;
  *) usage_error "unknown command \"$1\"; use step halt, tests glob, tests split or tests run" ;;
esac
