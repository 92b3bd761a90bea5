package harness

// Rerun with SSH on `deckhand serve --backend nomad`, end to end: the stand-in Nomad runs each
// dispatched task for real (`deckhand agent nomad-task` with the payload in local/ and Nomad's
// environment, a dynamic `ssh` port on 127.0.0.1), the job runs on the Docker engine, its agent
// reports its SSH status to the service's output processor, and the service's job answer carries
// the ssh line and host key. The real OpenSSH client logs in with the key the rerun gave (the host
// key checked against the answer's), a wrong key is refused, and when the session leaves the job
// ends with its steps' result.

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"deckhand.dev/nomad-plugin/harness/internal/standin"
)

const sshConfig = `version: 2.1
jobs:
  build:
    docker: [{image: deckhand-test/busybox:latest}]
    resource_class: small
    steps: [{run: echo left-by-the-steps > /tmp/marker}]
workflows:
  w:
    jobs: [build]
`

// sshKey is a fresh ed25519 key pair of ssh-keygen's: the private key's path and the public line.
func sshKey(t *testing.T, name string) (string, string) {
	path := filepath.Join(t.TempDir(), name)
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "deckhand-harness-"+name, "-f", path).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v %s", err, out)
	}
	pub, err := os.ReadFile(path + ".pub")
	must(t, err)
	return path, strings.TrimSpace(string(pub))
}

// runTasks puts the stand-in in run mode: tasks are `deckhand agent nomad-task`, as `deckhand
// nomad job` renders them for raw_exec.
func runTasks(t *testing.T, n *standin.Nomad, home string) {
	n.Run = &standin.TaskRun{
		Command:     "node",
		Args:        []string{deckhandBin, "agent", "nomad-task", "--payload", "${NOMAD_TASK_DIR}/payload", "--kill-timeout", "10s"},
		Env:         []string{"DECKHAND_HOME=" + home},
		Dir:         t.TempDir(),
		KillTimeout: 10 * time.Second,
	}
}

func (s serveProcess) pollJob(t *testing.T, id string, what string, done func(map[string]any) bool, n *standin.Nomad) map[string]any {
	t.Helper()
	deadline := time.Now().Add(120 * time.Second)
	for {
		_, job := s.call(t, "GET", "/api/v1/jobs/"+id, nil)
		if done(job) {
			return job
		}
		if time.Now().After(deadline) {
			var tasks strings.Builder
			for _, d := range n.Dispatches() {
				fmt.Fprintf(&tasks, "task of %s:\n%s\n", d.Child, n.TaskOutput(d.Child))
			}
			t.Fatalf("job %s: %s never came: %v\nserve:\n%s\n%s", id, what, job, s.stderr.String(), tasks.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func sshOf(job map[string]any) map[string]any {
	s, _ := job["ssh"].(map[string]any)
	return s
}

// externalProcessor starts `deckhand output-processor` with read tokens on its HTTP side, and
// returns serve's flags for it.
func externalProcessor(t *testing.T) []string {
	dir := t.TempDir()
	grpcPort, httpPort := freeTCPPort(t), freeTCPPort(t)
	cmd := exec.Command("node", deckhandBin, "output-processor", "--listen", fmt.Sprintf("127.0.0.1:%d", grpcPort), "--http", fmt.Sprintf("127.0.0.1:%d", httpPort), "--http-auth", "tokens", "--data", dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	must(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	})
	url := fmt.Sprintf("http://127.0.0.1:%d", httpPort)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if res, err := http.Get(url + "/health-check"); err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("deckhand output-processor did not become healthy: %s", stderr.String())
		}
	}
	return []string{"--output-processor", fmt.Sprintf("127.0.0.1:%d", grpcPort), "--output-secret-file", filepath.Join(dir, "secret"), "--output-url", url}
}

func freeTCPPort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// With the service's own processor, and with one elsewhere that wants read tokens (the service
// mints the run's from the processor's secret).
func TestServeNomadBackendRerunWithSshRunsOnTheClientAndShowsTheLine(t *testing.T) {
	t.Run("in-process processor", func(t *testing.T) { rerunWithSsh(t, nil) })
	t.Run("external processor with read tokens", func(t *testing.T) { rerunWithSsh(t, externalProcessor(t)) })
}

// serveRunningTasks starts `deckhand serve --backend nomad` with `flags` against a stand-in
// that runs the dispatched tasks for real.
func serveRunningTasks(t *testing.T, flags ...string) (*standin.Nomad, serveProcess) {
	n, srv := standIn(t, false)
	n.Jobs["deckhand-small"] = declaredMeta
	data := t.TempDir()
	runTasks(t, n, filepath.Join(data, "home"))
	token, errText, code := deckhand(t, repoRoot, nil, "serve", "token", "--data", data, "--scope", "submit", "--name", "harness")
	if code != 0 {
		t.Fatalf("serve token: exit %d: %s", code, errText)
	}
	s := runServe(t, nomadEnv(srv), data, strings.TrimSpace(token), flags...)
	// tasks still running when the test ends are killed before the service is stopped
	t.Cleanup(n.StopAll)
	return n, s
}

func rerunWithSsh(t *testing.T, processorFlags []string) {
	n, s := serveRunningTasks(t, append([]string{"--ssh-wait", "90s", "--ssh-max-hold", "5m"}, processorFlags...)...)

	code, created := s.call(t, "POST", "/api/v1/pipelines", map[string]any{"config": sshConfig})
	if code != 201 {
		t.Fatalf("POST /api/v1/pipelines: %d %v", code, created)
	}
	first := s.firstJob(t, created["id"].(string))
	if first["status"] != "success" {
		t.Fatalf("the first run: %v\n%s", first, n.TaskOutput(n.Dispatches()[0].Child))
	}

	keyPath, pub := sshKey(t, "allowed")
	wrongPath, _ := sshKey(t, "wrong")
	code, rerun := s.call(t, "POST", "/api/v1/jobs/"+first["id"].(string)+"/rerun", map[string]any{"ssh": true, "authorized_keys": []string{pub}})
	if code != 201 {
		t.Fatalf("rerun with SSH: %d %v", code, rerun)
	}
	id := rerun["id"].(string)
	job := s.pollJob(t, id, "the hold for SSH", func(j map[string]any) bool { return sshOf(j)["status"] == "holding" }, n)
	ssh := sshOf(job)
	command, _ := ssh["command"].(string)
	m := regexp.MustCompile(`^ssh -p (\d+) ([a-z_][a-z0-9_-]*)@(127\.0\.0\.1)$`).FindStringSubmatch(command)
	if m == nil {
		t.Fatalf("ssh line %q: want ssh -p PORT USER@127.0.0.1 (NOMAD_HOST_IP_ssh)", command)
	}
	port, user, host := m[1], m[2], m[3]
	if jsonText(ssh["port"]) != port || ssh["user"] != user || ssh["host"] != host {
		t.Fatalf("ssh %v disagrees with its line %q", ssh, command)
	}
	if d := n.Dispatches(); len(d) != 2 || !strings.Contains(string(gunzip(t, d[1].Request.Payload)), `"authorizedKeyLines":["`+strings.Join(strings.Fields(pub)[:2], " ")+`"]`) {
		t.Fatalf("the rerun's dispatch does not carry the key inline")
	}

	// the host key the answer shows is the one the server offers
	knownHosts := filepath.Join(t.TempDir(), "known_hosts")
	must(t, os.WriteFile(knownHosts, []byte(fmt.Sprintf("[%s]:%s %s\n", host, port, ssh["host_key"])), 0o600))
	listed, err := exec.Command("ssh-keygen", "-l", "-E", "sha256", "-f", knownHosts).Output()
	must(t, err)
	if f := strings.Fields(string(listed)); len(f) < 2 || f[1] != ssh["host_key_fingerprint"] {
		t.Fatalf("ssh-keygen -l of the answer's host key: %q, the answer's fingerprint %v", listed, ssh["host_key_fingerprint"])
	}
	scanned, err := exec.Command("ssh-keyscan", "-p", port, "-t", "ed25519", host).Output()
	must(t, err)
	if key := strings.Fields(strings.TrimSpace(string(scanned))); len(key) < 3 || key[1]+" "+key[2] != strings.Join(strings.Fields(ssh["host_key"].(string))[:2], " ") {
		t.Fatalf("ssh-keyscan found %q, the answer says %v", scanned, ssh["host_key"])
	}

	login := func(key string, command ...string) (string, error) {
		args := append([]string{"-i", key, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile=" + knownHosts, "-o", "ConnectTimeout=20", "-p", port, user + "@" + host}, command...)
		out, err := exec.Command("ssh", args...).CombinedOutput()
		return string(out), err
	}
	if out, err := login(wrongPath, "echo", "in"); err == nil || !strings.Contains(out, "Permission denied") {
		t.Fatalf("a key the rerun did not give: %v %s", err, out)
	}
	out, err := login(keyPath, "cat /tmp/marker; echo hi from $(hostname)")
	if err != nil || !strings.Contains(out, "left-by-the-steps") || !strings.Contains(out, "hi from") {
		t.Fatalf("ssh with the rerun's key: %v %s", err, out)
	}

	// the session left: the job ends, with its steps' result
	job = s.pollJob(t, id, "the end", func(j map[string]any) bool {
		st := j["status"]
		return st != "running" && st != "queued" && st != "blocked"
	}, n)
	if job["status"] != "success" || sshOf(job)["status"] != "ended" {
		t.Fatalf("after the session: %v", job)
	}
	node := job["nodes"].([]any)[0].(map[string]any)
	// the service read the node's steps and output back from the processor, as a local node has them
	var recorded []string
	for _, st := range node["steps"].([]any) {
		m := st.(map[string]any)
		recorded = append(recorded, fmt.Sprint(m["name"], ":", m["status"]))
	}
	if strings.Join(recorded, ",") != "Spin up environment:success,echo left-by-the-steps > /tmp/marker:success,Enable SSH:success,Wait for SSH:success" || node["output_bytes"].(float64) == 0 {
		t.Fatalf("the service recorded steps %v, %v output bytes", recorded, node["output_bytes"])
	}
	outReq, err := http.NewRequest("GET", s.url+"/api/v1/jobs/"+id+"/output", nil)
	must(t, err)
	outReq.Header.Set("Authorization", "Bearer "+s.token)
	outRes, err := http.DefaultClient.Do(outReq)
	must(t, err)
	text, err := io.ReadAll(outRes.Body)
	outRes.Body.Close()
	must(t, err)
	for _, want := range []string{"====>> echo left-by-the-steps > /tmp/marker", "====>> Enable SSH", "ssh -p ", "====>> Wait for SSH"} {
		if !strings.Contains(string(text), want) {
			t.Fatalf("GET /api/v1/jobs/%s/output lacks %q:\n%s", id, want, text)
		}
	}
	req, err := http.NewRequest("GET", s.live+"/api/jobs/"+node["run_id"].(string), nil)
	must(t, err)
	if processorFlags != nil {
		read, errText, code := deckhand(t, repoRoot, nil, "output-processor", "token", "--read", "--secret-file", processorFlags[3], node["run_id"].(string))
		if code != 0 {
			t.Fatalf("output-processor token --read: %s", errText)
		}
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(read))
	}
	res, err := http.DefaultClient.Do(req)
	must(t, err)
	var stored struct {
		Status string
		Steps  []struct{ Name, Status string }
		SSH    struct{ Phase string } `json:"ssh"`
	}
	must(t, jsonDecode(res, &stored))
	var steps []string
	for _, st := range stored.Steps {
		steps = append(steps, st.Name+":"+st.Status)
	}
	if stored.Status != "complete" || stored.SSH.Phase != "ended" || strings.Join(steps, ",") != "Spin up environment:success,echo left-by-the-steps > /tmp/marker:success,Enable SSH:success,Wait for SSH:success" {
		t.Fatalf("the processor has %+v", stored)
	}
	for _, d := range n.Dispatches() {
		label := "label=com.deckhand.job=nomad-" + n.AllocID(d.Child) + "-agent"
		if out, err := exec.Command("docker", "ps", "-aq", "--filter", label).Output(); err != nil || len(bytes.TrimSpace(out)) > 0 {
			t.Fatalf("containers left by %s: %v %s", d.Child, err, out)
		}
	}
}

func gunzip(t *testing.T, payload []byte) []byte {
	zr, err := gzip.NewReader(bytes.NewReader(payload))
	must(t, err)
	text, err := io.ReadAll(zr)
	must(t, err)
	return text
}

func jsonDecode(res *http.Response, into any) error {
	defer res.Body.Close()
	if res.StatusCode != 200 {
		return fmt.Errorf("HTTP %d", res.StatusCode)
	}
	return json.NewDecoder(res.Body).Decode(into)
}

// A workflow rerun with CircleCI's "enable_ssh" takes the same path; a cancel during the hold
// stops the dispatched job, whose task gets SIGTERM (the stand-in's run mode) and ends the job
// canceled, its SSH ended, before the kill timeout.
func TestServeNomadBackendWorkflowRerunWithSshCanceledDuringTheHold(t *testing.T) {
	n, s := serveRunningTasks(t, "--ssh-wait", "5m")

	_, created := s.call(t, "POST", "/api/v1/pipelines", map[string]any{"config": sshConfig})
	first := s.firstJob(t, created["id"].(string))
	_, pub := sshKey(t, "allowed")
	code, rerun := s.call(t, "POST", "/api/v1/workflows/"+first["workflow_id"].(string)+"/rerun", map[string]any{"enable_ssh": true, "authorized_keys": []string{pub}})
	if code != 201 {
		t.Fatalf("workflow rerun with SSH: %d %v", code, rerun)
	}
	id := rerun["jobs"].([]any)[0].(map[string]any)["id"].(string)
	s.pollJob(t, id, "the hold for SSH", func(j map[string]any) bool { return sshOf(j)["status"] == "holding" }, n)
	started := time.Now()
	if code, body := s.call(t, "POST", "/api/v1/jobs/"+id+"/cancel", nil); code != 202 {
		t.Fatalf("cancel: %d %v", code, body)
	}
	job := s.pollJob(t, id, "the end", func(j map[string]any) bool {
		return j["status"] == "canceled" || j["status"] == "failed" || j["status"] == "success"
	}, n)
	if job["status"] != "canceled" || sshOf(job)["status"] != "ended" || time.Since(started) > 10*time.Second {
		t.Fatalf("after the cancel (%s): %v", time.Since(started), job)
	}
	if stopped := n.Stopped(); len(stopped) != 1 {
		t.Fatalf("stopped %v", stopped)
	}
}
