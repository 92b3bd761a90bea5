package harness

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"deckhand.dev/nomad-plugin/harness/internal/nomadhost"
	"deckhand.dev/nomad-plugin/harness/internal/pb/drivers"
)

// allocation is what a Nomad client prepares before it starts a task: the allocation's folders,
// the task's local/ and secrets/, the log FIFOs its log collector reads, and the task's
// environment.
type allocation struct {
	id, dir, taskDir string
	stdout, stderr   *fifoReader
	env              map[string]string
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func uuid() string {
	h := randomHex(16)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

func newAllocation(t *testing.T, payload []byte) *allocation {
	t.Helper()
	id := uuid()
	jobID := fmt.Sprintf("deckhand-medium/dispatch-%d-%s", time.Now().Unix(), randomHex(4))
	layout := nomadhost.Allocation{ID: id, Dir: filepath.Join(t.TempDir(), id), Task: "agent", Job: jobID, Parent: "deckhand-medium"}
	must(t, layout.MakeDirs())
	dir, taskDir := layout.Dir, layout.TaskDir()
	if payload != nil {
		must(t, os.WriteFile(filepath.Join(taskDir, "local", "payload"), payload, 0o644))
	}
	a := &allocation{id: id, dir: dir, taskDir: taskDir, env: layout.Env()}
	a.env["DECKHAND_HOME"] = filepath.Join(taskDir, "tmp", "home")
	a.stdout = openFifo(t, filepath.Join(dir, "alloc", "logs", ".agent.stdout.fifo"))
	a.stderr = openFifo(t, filepath.Join(dir, "alloc", "logs", ".agent.stderr.fifo"))
	t.Cleanup(func() { removeContainers(t, a.containersLabel()) })
	return a
}

func (a *allocation) containersLabel() string {
	return "com.deckhand.job=nomad-" + a.id + "-agent"
}

// taskConfig is the TaskConfig a client sends for one start of the task (a new id each time).
func (a *allocation) taskConfig(t *testing.T, p *nomadhost.Plugin, configBody string) *drivers.TaskConfig {
	t.Helper()
	schema, err := p.Driver.TaskConfigSchema(ctx(t), &drivers.TaskConfigSchemaRequest{})
	must(t, err)
	encoded, _, err := nomadhost.EncodeConfig(schema.GetSpec(), configBody, a.env)
	if err != nil {
		t.Fatalf("encoding the task config: %v", err)
	}
	return &drivers.TaskConfig{
		Id:                  a.id + "/agent/" + randomHex(4),
		Name:                "agent",
		MsgpackDriverConfig: encoded,
		Env:                 a.env,
		AllocDir:            a.dir,
		StdoutPath:          a.stdout.path,
		StderrPath:          a.stderr.path,
		TaskGroupName:       "agent",
		JobName:             a.env["NOMAD_JOB_ID"],
		JobId:               a.env["NOMAD_JOB_ID"],
		ParentJobId:         "deckhand-medium",
		AllocId:             a.id,
		Namespace:           "default",
		NodeName:            "harness",
		NodeId:              uuid(),
		Resources: &drivers.Resources{
			AllocatedResources: &drivers.AllocatedTaskResources{Cpu: &drivers.AllocatedCpuResources{CpuShares: 2000}, Memory: &drivers.AllocatedMemoryResources{MemoryMb: 2048}},
			LinuxResources:     &drivers.LinuxResources{CpuShares: 2000, MemoryLimitBytes: 2048 << 20},
		},
	}
}

// fifoReader plays Nomad's log collector: it creates the FIFO and reads it for as long as
// writers keep it open, again after each writer is gone (a recovered task keeps writing).
type fifoReader struct {
	path string
	mu   sync.Mutex
	buf  bytes.Buffer
	stop chan struct{}
}

func openFifo(t *testing.T, path string) *fifoReader {
	must(t, syscall.Mkfifo(path, 0o600))
	r := &fifoReader{path: path, stop: make(chan struct{})}
	go func() {
		for {
			f, err := os.OpenFile(path, os.O_RDONLY, 0)
			if err != nil {
				return
			}
			chunk := make([]byte, 32*1024)
			for {
				n, err := f.Read(chunk)
				r.mu.Lock()
				r.buf.Write(chunk[:n])
				r.mu.Unlock()
				if err != nil {
					break
				}
			}
			f.Close()
			select {
			case <-r.stop:
				return
			default:
			}
		}
	}()
	t.Cleanup(func() {
		close(r.stop)
		// a reader blocked in open() returns once a writer comes and goes
		if w, err := os.OpenFile(path, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			w.Close()
		}
	})
	return r
}

func (r *fifoReader) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.buf.String()
}

// waitFor waits until the FIFO's text contains s.
func (r *fifoReader) waitFor(t *testing.T, s string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if strings.Contains(r.String(), s) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%q did not appear in %s within %v; it holds:\n%s", s, filepath.Base(r.path), within, r.String())
}

func containersWith(t *testing.T, label string) []string {
	out, err := exec.Command("docker", "ps", "-aq", "--filter", "label="+label).Output()
	must(t, err)
	nets, err := exec.Command("docker", "network", "ls", "-q", "--filter", "label="+label).Output()
	must(t, err)
	return strings.Fields(string(out) + " " + string(nets))
}

func removeContainers(t *testing.T, label string) {
	out, _ := exec.Command("docker", "ps", "-aq", "--filter", "label="+label).Output()
	if ids := strings.Fields(string(out)); len(ids) > 0 {
		_ = exec.Command("docker", append([]string{"rm", "-f", "-v"}, ids...)...).Run()
	}
}

// processGone waits for a pid to be gone (or a zombie).
func processGone(pid int, within time.Duration) bool {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return true
		}
		s := string(stat)
		if f := strings.Fields(s[strings.LastIndex(s, ")")+1:]); len(f) > 0 && f[0] == "Z" {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}
