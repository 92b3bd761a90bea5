// The Nomad plugin's test harness: the real plugin executable (nomad-plugin/dist/deckhand, from
// `make nomad-plugin`) launched, handshaken and driven exactly as a Nomad client does, with real
// jobs on the machine's Docker engine; and the job files, client configs and HTTP calls of
// `deckhand nomad` checked with Nomad's own API types and HashiCorp's HCL parser. Nomad itself
// cannot be installed where this runs; everything it would do is done here with its libraries.
package harness

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

var (
	repoRoot    string
	pluginPath  string
	deckhandBin string
)

func TestMain(m *testing.M) {
	_, file, _, _ := runtime.Caller(0)
	repoRoot = filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
	pluginPath = filepath.Join(repoRoot, "nomad-plugin", "dist", "deckhand")
	deckhandBin = filepath.Join(repoRoot, "bin", "deckhand.js")
	for _, f := range []string{pluginPath, deckhandBin} {
		if _, err := os.Stat(f); err != nil {
			fmt.Fprintf(os.Stderr, "harness: %s is missing: run make build first\n", f)
			os.Exit(2)
		}
	}
	os.Exit(m.Run())
}

// deckhand runs the deckhand command line and returns stdout, stderr and the exit code.
func deckhand(t *testing.T, dir string, env []string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command("node", append([]string{deckhandBin}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &errb
	err := cmd.Run()
	code := 0
	if exit, ok := err.(*exec.ExitError); ok {
		code = exit.ExitCode()
	} else if err != nil {
		t.Fatalf("deckhand %s: %v", strings.Join(args, " "), err)
	}
	return out.String(), errb.String(), code
}

// assignmentOf is the assignment `deckhand execute --print-assignment` writes for a throwaway git
// repository holding a one-job config with these steps (YAML list items).
func assignmentOf(t *testing.T, steps string) []byte {
	t.Helper()
	dir := t.TempDir()
	must(t, os.MkdirAll(filepath.Join(dir, ".circleci"), 0o755))
	config := "version: 2.1\njobs:\n  build:\n    docker:\n      - image: deckhand-test/busybox:latest\n    steps:\n" + steps
	must(t, os.WriteFile(filepath.Join(dir, ".circleci", "config.yml"), []byte(config), 0o644))
	for _, args := range [][]string{{"init", "-q", "-b", "main"}, {"add", "-A"}, {"-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "init"}} {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v %s", args, err, out)
		}
	}
	out, errText, code := deckhand(t, dir, []string{"DECKHAND_HOME=" + filepath.Join(dir, ".home")}, "execute", "--print-assignment")
	if code != 0 {
		t.Fatalf("deckhand execute --print-assignment: exit %d: %s", code, errText)
	}
	var check map[string]any
	must(t, json.Unmarshal([]byte(out), &check))
	return []byte(out)
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
