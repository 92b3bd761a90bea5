package standin

// Run mode: a dispatched job's task runs for real, as a Nomad client runs a raw_exec task
// (https://developer.hashicorp.com/nomad/docs/drivers/raw_exec): the dispatch payload written to
// the task's local/ folder (dispatch_payload), the task started with the environment Nomad gives
// it (https://developer.hashicorp.com/nomad/docs/runtime/environment) including a dynamic port
// labelled `ssh` on 127.0.0.1, its exit code the allocation's. A stop sends the kill signal
// (SIGTERM) and, after the kill timeout, SIGKILL to the task's process group.

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/nomad/api"

	"deckhand.dev/nomad-plugin/harness/internal/nomadhost"
)

// TaskRun is how tasks run in run mode.
type TaskRun struct {
	// Command and Args are the task's config; ${NOMAD_*} in Args is interpolated as Nomad does.
	Command string
	Args    []string
	// Env is added to the task's environment (besides this process's and Nomad's own).
	Env []string
	// Dir holds one folder per allocation (alloc/, TASK/local, TASK/secrets, alloc/logs).
	Dir string
	// KillTimeout is the time between the kill signal and SIGKILL (default 5 s).
	KillTimeout time.Duration
	// PayloadFile is the dispatch_payload file name in local/ (default "payload").
	PayloadFile string
}

func (r *TaskRun) killTimeout() time.Duration {
	if r.KillTimeout <= 0 {
		return 5 * time.Second
	}
	return r.KillTimeout
}

const taskName = "agent"

type runningTask struct {
	cmd     *exec.Cmd
	dir     string
	once    sync.Once
	stopped chan struct{}
}

// stop sends SIGTERM now and SIGKILL to the process group after `grace` unless it exited.
func (t *runningTask) stop(grace time.Duration) {
	t.once.Do(func() {
		_ = t.cmd.Process.Signal(syscall.SIGTERM)
		go func() {
			select {
			case <-t.stopped:
			case <-time.After(grace):
				_ = syscall.Kill(-t.cmd.Process.Pid, syscall.SIGKILL)
			}
		}()
	})
}

// TaskOutput is what the task of dispatched job `job` wrote to stdout and stderr so far.
func (n *Nomad) TaskOutput(job string) string {
	n.mu.Lock()
	t := n.tasks[job]
	n.mu.Unlock()
	if t == nil {
		return ""
	}
	var b strings.Builder
	for _, f := range []string{taskName + ".stdout.0", taskName + ".stderr.0"} {
		text, _ := os.ReadFile(filepath.Join(t.dir, "alloc", "logs", f))
		fmt.Fprintf(&b, "--- %s\n%s", f, text)
	}
	return b.String()
}

// freePort is a TCP port free on 127.0.0.1 now, as Nomad picks a dynamic port from the client's range.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// taskEnv is the environment Nomad gives the task of allocation `alloc` of the dispatched job.
func (n *Nomad) taskEnv(alloc nomadhost.Allocation, meta map[string]string, port int) map[string]string {
	env := alloc.Env()
	// host networking (raw_exec): the port listened on is the one others reach
	env["NOMAD_PORT_ssh"] = strconv.Itoa(port)
	env["NOMAD_HOST_PORT_ssh"] = strconv.Itoa(port)
	env["NOMAD_IP_ssh"] = "127.0.0.1"
	env["NOMAD_HOST_IP_ssh"] = "127.0.0.1"
	env["NOMAD_ADDR_ssh"] = fmt.Sprintf("127.0.0.1:%d", port)
	env["NOMAD_HOST_ADDR_ssh"] = fmt.Sprintf("127.0.0.1:%d", port)
	// every declared meta key is set, "" when the dispatch did not give it; twice, as given and upper-cased
	for _, k := range n.Jobs[alloc.Parent] {
		env["NOMAD_META_"+k] = meta[k]
		env["NOMAD_META_"+strings.ToUpper(k)] = meta[k]
	}
	return env
}

// runTask runs the task of dispatched job `child` and moves its allocation along with it.
func (n *Nomad) runTask(parent, child string, req api.JobDispatchRequest) {
	n.mu.Lock()
	run := *n.Run
	allocID := fmt.Sprintf("%08x-0000-4000-8000-%012x", len(n.allocs)+1, time.Now().UnixNano()&0xffffffffffff)
	a := &api.AllocationListStub{ID: allocID, JobID: child, NodeID: "node-1", NodeName: "client-1", TaskGroup: taskName, DesiredStatus: "run", ClientStatus: "pending", ModifyIndex: n.index + 1}
	n.allocs[child] = a
	n.bump()
	n.mu.Unlock()

	fail := func(why string) {
		n.mu.Lock()
		defer n.mu.Unlock()
		a.ClientStatus = "failed"
		a.ClientDescription = why
		a.TaskStates = map[string]*api.TaskState{taskName: {State: "dead", Failed: true, Events: []*api.TaskEvent{{Type: "Driver Failure", DisplayMessage: why}}}}
		a.ModifyIndex = n.index + 1
		n.bump()
	}
	alloc := nomadhost.Allocation{ID: allocID, Dir: filepath.Join(run.Dir, allocID), Task: taskName, Job: child, Parent: parent}
	allocDir, taskDir := alloc.Dir, alloc.TaskDir()
	if err := alloc.MakeDirs(); err != nil {
		fail(err.Error())
		return
	}
	payloadFile := run.PayloadFile
	if payloadFile == "" {
		payloadFile = "payload"
	}
	if err := os.WriteFile(filepath.Join(taskDir, "local", payloadFile), req.Payload, 0o644); err != nil {
		fail(err.Error())
		return
	}
	port, err := freePort()
	if err != nil {
		fail(err.Error())
		return
	}
	nomadEnv := n.taskEnv(alloc, req.Meta, port)
	args := make([]string, len(run.Args))
	for i, arg := range run.Args {
		args[i] = os.Expand(arg, func(k string) string { return nomadEnv[k] })
	}
	cmd := exec.Command(run.Command, args...)
	cmd.Dir = taskDir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Env = append(os.Environ(), run.Env...)
	for k, v := range nomadEnv {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	stdout, err1 := os.Create(filepath.Join(allocDir, "alloc", "logs", taskName+".stdout.0"))
	stderr, err2 := os.Create(filepath.Join(allocDir, "alloc", "logs", taskName+".stderr.0"))
	if err1 != nil || err2 != nil {
		fail(fmt.Sprint(err1, err2))
		return
	}
	defer stdout.Close()
	defer stderr.Close()
	cmd.Stdout, cmd.Stderr = stdout, stderr
	task := &runningTask{cmd: cmd, dir: allocDir, stopped: make(chan struct{})}

	n.mu.Lock()
	if a.DesiredStatus == "stop" {
		n.mu.Unlock()
		return
	}
	if err := cmd.Start(); err != nil {
		n.mu.Unlock()
		fail("failed to launch command with executor: " + err.Error())
		return
	}
	n.tasks[child] = task
	a.ClientStatus = "running"
	a.TaskStates = map[string]*api.TaskState{taskName: {State: "running", StartedAt: time.Now(), Events: []*api.TaskEvent{{Type: "Task Setup"}, {Type: "Started"}}}}
	a.ModifyIndex = n.index + 1
	n.bump()
	n.mu.Unlock()

	waitErr := cmd.Wait()
	close(task.stopped)
	code, signal := 0, 0
	if exit, ok := waitErr.(*exec.ExitError); ok {
		if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			signal = int(ws.Signal())
			code = 128 + signal
		} else {
			code = exit.ExitCode()
		}
	} else if waitErr != nil {
		code = 1
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	failed := code != 0
	a.ClientStatus = "complete"
	if failed && a.DesiredStatus != "stop" {
		a.ClientStatus = "failed"
		a.ClientDescription = "Failed tasks"
	}
	events := []*api.TaskEvent{{Type: "Started"}}
	if a.DesiredStatus == "stop" {
		events = append(events, &api.TaskEvent{Type: "Killing"})
	}
	events = append(events, &api.TaskEvent{Type: "Terminated", Details: map[string]string{"exit_code": strconv.Itoa(code), "signal": strconv.Itoa(signal)}, DisplayMessage: fmt.Sprintf("Exit Code: %d", code)})
	a.TaskStates = map[string]*api.TaskState{taskName: {State: "dead", Failed: failed, FinishedAt: time.Now(), Events: events}}
	a.ModifyIndex = n.index + 1
	n.bump()
}

// StopAll sends every task still running SIGKILL (a test's cleanup) and waits for them.
func (n *Nomad) StopAll() {
	n.mu.Lock()
	tasks := make([]*runningTask, 0, len(n.tasks))
	for _, t := range n.tasks {
		tasks = append(tasks, t)
	}
	n.mu.Unlock()
	for _, t := range tasks {
		t.stop(0)
		select {
		case <-t.stopped:
		case <-time.After(30 * time.Second):
		}
	}
}

// AllocID is the ID of dispatched job `job`'s allocation ("" before it has one).
func (n *Nomad) AllocID(job string) string {
	n.mu.Lock()
	defer n.mu.Unlock()
	if a := n.allocs[job]; a != nil {
		return a.ID
	}
	return ""
}
