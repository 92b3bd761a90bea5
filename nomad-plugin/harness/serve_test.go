package harness

// `deckhand serve --backend nomad` against the stand-in Nomad: pipelines submitted over the
// control API's HTTP become dispatches of the parameterized job of each job's resource class,
// decoded with Nomad's own types; the allocation's end becomes the job's status.

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

type serveProcess struct {
	url, token string
	// the in-process output processor's HTTP address
	live   string
	cmd    *exec.Cmd
	stderr *bytes.Buffer
}

func startServe(t *testing.T, env []string) serveProcess {
	data := t.TempDir()
	token, errText, code := deckhand(t, repoRoot, nil, "serve", "token", "--data", data, "--scope", "submit", "--name", "harness")
	if code != 0 {
		t.Fatalf("serve token: exit %d: %s", code, errText)
	}
	return runServe(t, env, data, strings.TrimSpace(token))
}

// runServe starts `deckhand serve --backend nomad` on the data folder (again, after a kill),
// with `extra` flags.
func runServe(t *testing.T, env []string, data, token string, extra ...string) serveProcess {
	cmd := exec.Command("node", append([]string{deckhandBin, "serve", "--backend", "nomad", "--listen", "127.0.0.1:0", "--data", data}, extra...)...)
	cmd.Env = append(append(os.Environ(), "DECKHAND_HOME="+filepath.Join(data, "home")), env...)
	stdout, err := cmd.StdoutPipe()
	must(t, err)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	must(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
		}
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("deckhand serve printed no address: %v; stderr:\n%s", err, stderr.String())
	}
	var started struct{ Listening, Live string }
	must(t, json.Unmarshal([]byte(line), &started))
	return serveProcess{url: started.Listening, live: started.Live, token: token, cmd: cmd, stderr: &stderr}
}

func (s serveProcess) call(t *testing.T, method, path string, body any) (int, map[string]any) {
	t.Helper()
	var reader io.Reader
	if body != nil {
		text, err := json.Marshal(body)
		must(t, err)
		reader = bytes.NewReader(text)
	}
	req, err := http.NewRequest(method, s.url+path, reader)
	must(t, err)
	req.Header.Set("Authorization", "Bearer "+s.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	must(t, err)
	defer res.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(res.Body).Decode(&out)
	return res.StatusCode, out
}

// firstJob follows a one-job pipeline until its workflow has ended and returns the job.
func (s serveProcess) firstJob(t *testing.T, pipelineID string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		_, p := s.call(t, "GET", "/api/v1/pipelines/"+pipelineID, nil)
		wf := p["workflows"].([]any)[0].(map[string]any)
		if wf["status"] != "running" {
			job := wf["jobs"].([]any)[0].(map[string]any)
			_, full := s.call(t, "GET", "/api/v1/jobs/"+job["id"].(string), nil)
			return full
		}
		if time.Now().After(deadline) {
			t.Fatalf("pipeline %s still running: %v", pipelineID, p)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

const serveConfig = `version: 2.1
jobs:
  build:
    docker: [{image: deckhand-test/busybox:latest}]
    resource_class: small
    parallelism: 2
    steps: [{run: echo on nomad}]
workflows:
  w:
    jobs: [build]
`

func TestServeNomadBackendDispatchesEachNodeToItsClassJob(t *testing.T) {
	n, srv := standIn(t, false)
	n.Jobs["deckhand-small"] = declaredMeta
	s := startServe(t, nomadEnv(srv))

	code, created := s.call(t, "POST", "/api/v1/pipelines", map[string]any{"config": serveConfig})
	if code != 201 {
		t.Fatalf("POST /api/v1/pipelines: %d %v", code, created)
	}
	job := s.firstJob(t, created["id"].(string))
	if job["status"] != "success" {
		t.Fatalf("job %v", job)
	}
	nodes := job["nodes"].([]any)
	ds := n.Dispatches()
	if len(ds) != 2 || len(nodes) != 2 {
		t.Fatalf("%d dispatches for %d nodes: %+v", len(ds), len(nodes), ds)
	}
	for i, d := range ds {
		node := nodes[i].(map[string]any)
		if d.Parent != "deckhand-small" || d.Request.Meta["run_id"] != node["run_id"] || d.Request.Meta["node_index"] != jsonText(node["index"]) {
			t.Fatalf("dispatch %d: %s meta %v for node %v", i, d.Parent, d.Request.Meta, node)
		}
		if node["ran_on"] != "nomad:"+d.Child || node["status"] != "success" {
			t.Fatalf("node %v", node)
		}
		zr, err := gzip.NewReader(bytes.NewReader(d.Request.Payload))
		must(t, err)
		text, err := io.ReadAll(zr)
		must(t, err)
		var a struct {
			Run struct {
				ID         string `json:"id"`
				NodeIndex  int    `json:"nodeIndex"`
				NodeTotal  int    `json:"nodeTotal"`
				WorkflowID string `json:"workflowId"`
				Username   string `json:"username"`
			} `json:"run"`
			Spec struct {
				Job struct{ Name string } `json:"job"`
			} `json:"spec"`
		}
		must(t, json.Unmarshal(text, &a))
		if a.Run.ID != node["run_id"] || a.Run.NodeTotal != 2 || a.Spec.Job.Name != "build" || a.Run.Username != "harness" || a.Run.WorkflowID != job["workflow_id"] {
			t.Fatalf("payload %s", text)
		}
	}

	// a task that exits 1 is a failed job
	n.ExitCode = "1"
	_, created = s.call(t, "POST", "/api/v1/pipelines", map[string]any{"config": serveConfig})
	job = s.firstJob(t, created["id"].(string))
	if job["status"] != "failed" {
		t.Fatalf("job after exit 1: %v", job)
	}
}

func jsonText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestServeNomadBackendFollowsItsJobsAgainAfterARestart(t *testing.T) {
	n, srv := standIn(t, false)
	n.Jobs["deckhand-small"] = declaredMeta
	n.RunFor = 4 * time.Second
	data := t.TempDir()
	token, _, _ := deckhand(t, repoRoot, nil, "serve", "token", "--data", data, "--scope", "submit")
	s := runServe(t, nomadEnv(srv), data, strings.TrimSpace(token))
	config := strings.Replace(serveConfig, "parallelism: 2", "parallelism: 1", 1)
	_, created := s.call(t, "POST", "/api/v1/pipelines", map[string]any{"config": config})
	id := created["id"].(string)
	// wait until Nomad has the dispatch and the service has recorded it
	deadline := time.Now().Add(20 * time.Second)
	var jobID string
	for {
		_, p := s.call(t, "GET", "/api/v1/pipelines/"+id, nil)
		jobID = p["workflows"].([]any)[0].(map[string]any)["jobs"].([]any)[0].(map[string]any)["id"].(string)
		_, job := s.call(t, "GET", "/api/v1/jobs/"+jobID, nil)
		if ranOn, _ := job["nodes"].([]any)[0].(map[string]any)["ran_on"].(string); strings.Contains(ranOn, "/dispatch-") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("never dispatched: %v", job)
		}
		time.Sleep(50 * time.Millisecond)
	}
	must(t, s.cmd.Process.Kill())
	_, _ = s.cmd.Process.Wait()

	again := runServe(t, nomadEnv(srv), data, strings.TrimSpace(token))
	job := again.firstJob(t, id)
	if job["status"] != "success" {
		t.Fatalf("after the restart the job is %v", job)
	}
	if len(n.Dispatches()) != 1 {
		t.Fatalf("dispatched %d times", len(n.Dispatches()))
	}
}

func TestServeNomadBackendCancelStopsTheDispatchedJob(t *testing.T) {
	n, srv := standIn(t, false)
	n.Jobs["deckhand-small"] = declaredMeta
	n.RunFor = 30 * time.Second
	s := startServe(t, nomadEnv(srv))
	config := strings.Replace(serveConfig, "parallelism: 2", "parallelism: 1", 1)
	_, created := s.call(t, "POST", "/api/v1/pipelines", map[string]any{"config": config})
	id := created["id"].(string)
	deadline := time.Now().Add(20 * time.Second)
	var jobID, ranOn string
	for {
		_, p := s.call(t, "GET", "/api/v1/pipelines/"+id, nil)
		jobID = p["workflows"].([]any)[0].(map[string]any)["jobs"].([]any)[0].(map[string]any)["id"].(string)
		_, job := s.call(t, "GET", "/api/v1/jobs/"+jobID, nil)
		ranOn, _ = job["nodes"].([]any)[0].(map[string]any)["ran_on"].(string)
		if strings.Contains(ranOn, "/dispatch-") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("never dispatched: %v", job)
		}
		time.Sleep(50 * time.Millisecond)
	}
	started := time.Now()
	if code, body := s.call(t, "POST", "/api/v1/jobs/"+jobID+"/cancel", nil); code != 202 {
		t.Fatalf("cancel: %d %v", code, body)
	}
	job := s.firstJob(t, id)
	if job["status"] != "canceled" || time.Since(started) > 10*time.Second {
		t.Fatalf("after the cancel (%s): %v", time.Since(started), job)
	}
	if stopped := n.Stopped(); len(stopped) != 1 || "nomad:"+stopped[0] != ranOn {
		t.Fatalf("stopped %v, the job ran on %s", stopped, ranOn)
	}
}
