package harness

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"deckhand.dev/nomad-plugin/harness/internal/standin"
)

var declaredMeta = []string{"run_id", "node_index", "node_total", "workflow_id", "job_name"}

func standIn(t *testing.T, tls bool) (*standin.Nomad, *httptest.Server) {
	n := standin.New()
	n.Token = "s3cret-token"
	n.Jobs["deckhand-medium"] = declaredMeta
	n.NodeID = uuid()
	var srv *httptest.Server
	if tls {
		srv = httptest.NewTLSServer(n)
	} else {
		srv = httptest.NewServer(n)
	}
	t.Cleanup(srv.Close)
	return n, srv
}

func writeAssignment(t *testing.T, steps string) (string, map[string]any) {
	text := assignmentOf(t, steps)
	path := filepath.Join(t.TempDir(), "assignment.json")
	must(t, os.WriteFile(path, text, 0o644))
	var a map[string]any
	must(t, json.Unmarshal(text, &a))
	return path, a
}

func nomadEnv(srv *httptest.Server) []string {
	return []string{"NOMAD_ADDR=" + srv.URL, "NOMAD_TOKEN=s3cret-token", "NOMAD_NAMESPACE=ci"}
}

func TestDispatchWaitFollowsTheAllocationToItsExitCode(t *testing.T) {
	path, assignment := writeAssignment(t, "      - run: echo hi\n")
	run := assignment["run"].(map[string]any)
	for _, exit := range []struct {
		code string
		want int
	}{{"0", 0}, {"1", 1}, {"143", 143}, {"", 2}} {
		n, srv := standIn(t, false)
		n.ExitCode = exit.code
		out, errText, code := deckhand(t, repoRoot, nomadEnv(srv), "nomad", "dispatch", "--assignment", path, "--wait")
		if code != exit.want {
			t.Fatalf("task exit %q: deckhand exited %d, want %d; stderr:\n%s", exit.code, code, exit.want, errText)
		}
		ds := n.Dispatches()
		if len(ds) != 1 || strings.TrimSpace(out) != ds[0].Child {
			t.Fatalf("stdout %q, dispatches %+v", out, ds)
		}
		d := ds[0]
		if d.Parent != "deckhand-medium" || d.Token != run["id"] {
			t.Fatalf("dispatched to %s with idempotency token %q", d.Parent, d.Token)
		}
		if d.Request.Meta["run_id"] != run["id"] || d.Request.Meta["node_index"] != "0" || d.Request.Meta["node_total"] != "1" {
			t.Fatalf("meta %v", d.Request.Meta)
		}
		// the payload: gzip of the assignment, as the task reads it
		zr, err := gzip.NewReader(bytes.NewReader(d.Request.Payload))
		must(t, err)
		plain, err := io.ReadAll(zr)
		must(t, err)
		var sent map[string]any
		must(t, json.Unmarshal(plain, &sent))
		if sent["run"].(map[string]any)["id"] != run["id"] {
			t.Fatal("the payload is not the assignment")
		}
		var blocking, gets int
		for _, r := range n.Requests() {
			if r.Token != "s3cret-token" || r.Query["namespace"] != "ci" {
				t.Fatalf("request without the token or namespace: %+v", r)
			}
			if strings.HasSuffix(r.Path, "/allocations") {
				gets++
				if r.Query["index"] != "" && r.Query["wait"] != "" {
					blocking++
				}
			}
		}
		// pending, running, ended: a blocking query per change, not a poll loop
		if blocking == 0 || gets > 6 {
			t.Fatalf("%d allocation reads, %d of them blocking", gets, blocking)
		}
		if !strings.Contains(errText, "allocation") {
			t.Fatalf("no progress on stderr:\n%s", errText)
		}
	}
}

func TestDispatchIsIdempotentPerRun(t *testing.T) {
	path, _ := writeAssignment(t, "      - run: echo hi\n")
	n, srv := standIn(t, false)
	first, _, code1 := deckhand(t, repoRoot, nomadEnv(srv), "nomad", "dispatch", "--assignment", path)
	second, _, code2 := deckhand(t, repoRoot, nomadEnv(srv), "nomad", "dispatch", "--assignment", path)
	if code1 != 0 || code2 != 0 || first != second || len(n.Dispatches()) != 1 {
		t.Fatalf("two dispatches of one run: %q %q (%d jobs)", first, second, len(n.Dispatches()))
	}
}

func TestDispatchErrorsAreOneClearLine(t *testing.T) {
	path, _ := writeAssignment(t, "      - run: echo hi\n")
	_, srv := standIn(t, false)
	oneLine := func(t *testing.T, errText string, want ...string) {
		t.Helper()
		lines := strings.Split(strings.TrimSpace(errText), "\n")
		if len(lines) != 1 {
			t.Fatalf("want one line, got:\n%s", errText)
		}
		for _, w := range want {
			if !strings.Contains(lines[0], w) {
				t.Fatalf("%q does not say %q", lines[0], w)
			}
		}
	}
	_, errText, code := deckhand(t, repoRoot, []string{"NOMAD_ADDR=" + srv.URL, "NOMAD_TOKEN=wrong"}, "nomad", "dispatch", "--assignment", path)
	if code != 2 {
		t.Fatalf("exit %d", code)
	}
	oneLine(t, errText, "403 Permission denied", "NOMAD_TOKEN")
	_, errText, code = deckhand(t, repoRoot, nomadEnv(srv), "nomad", "dispatch", "--assignment", path, "--job", "deckhand-huge")
	if code != 2 {
		t.Fatalf("exit %d", code)
	}
	oneLine(t, errText, "404 parameterized job not found", "namespace")
	_, errText, code = deckhand(t, repoRoot, []string{"NOMAD_ADDR=http://127.0.0.1:1"}, "nomad", "dispatch", "--assignment", path)
	if code != 2 {
		t.Fatalf("exit %d", code)
	}
	oneLine(t, errText, "connection refused", "NOMAD_ADDR")
	big, _ := writeAssignment(t, "      - run: echo hi\n")
	// too big even gzipped: random text does not compress below 16 KiB
	raw, _ := os.ReadFile(big)
	var doc map[string]any
	must(t, json.Unmarshal(raw, &doc))
	doc["spec"].(map[string]any)["environment"] = map[string]any{"NOISE": randomHex(24000)}
	raw, _ = json.Marshal(doc)
	must(t, os.WriteFile(big, raw, 0o644))
	_, errText, code = deckhand(t, repoRoot, nomadEnv(srv), "nomad", "dispatch", "--assignment", big)
	if code != 2 {
		t.Fatalf("exit %d", code)
	}
	oneLine(t, errText, "16384", "assignmentUrl")
}

func TestDispatchOverTLS(t *testing.T) {
	path, _ := writeAssignment(t, "      - run: echo hi\n")
	n, srv := standIn(t, true)
	_, errText, code := deckhand(t, repoRoot, nomadEnv(srv), "nomad", "dispatch", "--assignment", path)
	if code != 2 || !strings.Contains(errText, "not trusted") || !strings.Contains(errText, "NOMAD_CACERT") {
		t.Fatalf("an untrusted certificate: exit %d %s", code, errText)
	}
	ca := filepath.Join(t.TempDir(), "ca.pem")
	must(t, os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644))
	out, errText, code := deckhand(t, repoRoot, append(nomadEnv(srv), "NOMAD_CACERT="+ca), "nomad", "dispatch", "--assignment", path, "--wait")
	if code != 0 || strings.TrimSpace(out) != n.Dispatches()[0].Child {
		t.Fatalf("over TLS: exit %d %s", code, errText)
	}
}

func TestDrainSelfStopsNewJobsAndWaitsForTheRunningOnes(t *testing.T) {
	n, srv := standIn(t, false)
	began := time.Now()
	out, errText, code := deckhand(t, repoRoot, nomadEnv(srv), "nomad", "drain", "--self", "--deadline", "10m")
	if code != 0 || strings.TrimSpace(out) != n.NodeID {
		t.Fatalf("exit %d, stdout %q; stderr:\n%s", code, out, errText)
	}
	if time.Since(began) < 300*time.Millisecond || !strings.Contains(errText, "drain complete") {
		t.Fatalf("it did not wait for the drain: %s", errText)
	}
	req := n.LastDrain()
	if req == nil || req.DrainSpec == nil || req.DrainSpec.Deadline != 10*time.Minute || req.DrainSpec.IgnoreSystemJobs || req.MarkEligible || req.NodeID != n.NodeID {
		t.Fatalf("drain request %+v", req)
	}
	// --detach: the drain started, nothing waited for
	out, errText, code = deckhand(t, repoRoot, nomadEnv(srv), "nomad", "drain", "--node", n.NodeID, "--deadline", "none", "--detach")
	if code != 0 || strings.Contains(errText, "drain complete") || n.LastDrain().DrainSpec.Deadline != 0 {
		t.Fatalf("--detach: exit %d %s", code, errText)
	}
	// a server agent has no node to drain
	server, srv2 := standIn(t, false)
	server.NodeID = ""
	_, errText, code = deckhand(t, repoRoot, nomadEnv(srv2), "nomad", "drain", "--self")
	if code != 2 || !strings.Contains(errText, "not a client") || strings.Count(strings.TrimSpace(errText), "\n") != 0 {
		t.Fatalf("drain --self on a server: exit %d %s", code, errText)
	}
}
