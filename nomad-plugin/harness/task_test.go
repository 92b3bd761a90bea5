package harness

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"deckhand.dev/nomad-plugin/harness/internal/nomadhost"
	"deckhand.dev/nomad-plugin/harness/internal/pb/drivers"
	"deckhand.dev/nomad-plugin/harness/internal/pb/structs"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
)

const taskConfigBody = `payload = "payload"
kill_timeout = "10s"
`

func startTask(t *testing.T, d drivers.DriverClient, cfg *drivers.TaskConfig) *drivers.TaskHandle {
	t.Helper()
	resp, err := d.StartTask(ctx(t), &drivers.StartTaskRequest{Task: cfg})
	if err != nil {
		t.Fatalf("StartTask: %v", err)
	}
	h := resp.GetHandle()
	if h.GetVersion() < 1 || h.GetState() != drivers.TaskState_RUNNING || len(h.GetDriverState()) == 0 {
		t.Fatalf("handle: %v", h)
	}
	if h.GetConfig().GetId() != cfg.GetId() || h.GetConfig().GetAllocDir() != cfg.GetAllocDir() {
		t.Fatalf("the handle does not echo the task config: %v", h.GetConfig())
	}
	return h
}

// runningJob starts a task whose job echoes started-marker and then runs `rest`, and returns once
// the marker is in the task's stdout: the job is running, its container up.
func runningJob(t *testing.T, p *nomadhost.Plugin, rest string) (*allocation, *drivers.TaskConfig, *drivers.TaskHandle) {
	t.Helper()
	a := newAllocation(t, assignmentOf(t, "      - run: echo started-marker; "+rest+"\n"))
	cfg := a.taskConfig(t, p, taskConfigBody)
	h := startTask(t, p.Driver, cfg)
	a.stdout.waitFor(t, "started-marker", 60*time.Second)
	return a, cfg, h
}

func waitTask(t *testing.T, d drivers.DriverClient, id string) *drivers.WaitTaskResponse {
	t.Helper()
	c, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	resp, err := d.WaitTask(c, &drivers.WaitTaskRequest{TaskId: id})
	if err != nil {
		t.Fatalf("WaitTask: %v", err)
	}
	return resp
}

func agentPid(t *testing.T, d drivers.DriverClient, id string) int {
	t.Helper()
	resp, err := d.InspectTask(ctx(t), &drivers.InspectTaskRequest{TaskId: id})
	must(t, err)
	pid, err := strconv.Atoi(resp.GetDriver().GetAttributes()["pid"])
	must(t, err)
	return pid
}

func TestStartTaskRunsTheJobIntoTheLogFifos(t *testing.T) {
	p := configuredPlugin(t)
	a := newAllocation(t, assignmentOf(t, "      - run: echo first-step-output\n      - run: echo \"node $CIRCLE_NODE_INDEX of $CIRCLE_NODE_TOTAL\"\n"))
	a.env["NOMAD_META_node_index"], a.env["NOMAD_META_node_total"] = "1", "3"
	cfg := a.taskConfig(t, p, taskConfigBody)
	startTask(t, p.Driver, cfg)

	wait := waitTask(t, p.Driver, cfg.Id)
	if wait.GetResult().GetExitCode() != 0 || wait.GetErr() != "" {
		t.Fatalf("exit %v %q; stderr:\n%s", wait.GetResult(), wait.GetErr(), a.stderr.String())
	}
	a.stdout.waitFor(t, "first-step-output", 10*time.Second)
	a.stdout.waitFor(t, "node 1 of 3", 10*time.Second)
	a.stdout.waitFor(t, "Nomad: allocation "+a.id, time.Second)
	// the agent's log: JSON lines, the task described, the end
	var sawTask, sawEnd bool
	for _, line := range strings.Split(strings.TrimSpace(a.stderr.String()), "\n") {
		var entry map[string]any
		if err := json.Unmarshal([]byte(line), &entry); err != nil {
			t.Fatalf("stderr line is not JSON: %q", line)
		}
		sawTask = sawTask || entry["msg"] == "nomad task" && entry["nomad.allocId"] == a.id
		sawEnd = sawEnd || entry["msg"] == "job finished"
	}
	if !sawTask || !sawEnd {
		t.Fatalf("the agent's log lacks the task or the end:\n%s", a.stderr.String())
	}
	inspect, err := p.Driver.InspectTask(ctx(t), &drivers.InspectTaskRequest{TaskId: cfg.Id})
	must(t, err)
	if inspect.GetTask().GetState() != drivers.TaskState_EXITED || inspect.GetTask().GetCompletedAt() == nil || inspect.GetTask().GetResult().GetExitCode() != 0 {
		t.Fatalf("inspect: %v", inspect.GetTask())
	}
	// WaitTask on an ended task answers at once
	if again := waitTask(t, p.Driver, cfg.Id); again.GetResult().GetExitCode() != 0 {
		t.Fatalf("second WaitTask: %v", again)
	}
	_, err = p.Driver.DestroyTask(ctx(t), &drivers.DestroyTaskRequest{TaskId: cfg.Id, Force: true})
	must(t, err)
	if _, err := p.Driver.InspectTask(ctx(t), &drivers.InspectTaskRequest{TaskId: cfg.Id}); status.Code(err) != codes.NotFound {
		t.Fatalf("inspect after destroy: %v", err)
	}
	if left := containersWith(t, a.containersLabel()); len(left) > 0 {
		t.Fatalf("left behind: %v", left)
	}
}

func TestFailedJobAndAssignmentPath(t *testing.T) {
	p := configuredPlugin(t)
	a := newAllocation(t, nil)
	path := filepath.Join(a.dir, "assignment.json")
	must(t, os.WriteFile(path, assignmentOf(t, "      - run: echo failing-step; exit 3\n"), 0o644))
	cfg := a.taskConfig(t, p, `assignment_path = "${NOMAD_ALLOC_DIR}/../assignment.json"`)
	startTask(t, p.Driver, cfg)
	wait := waitTask(t, p.Driver, cfg.Id)
	if wait.GetResult().GetExitCode() != 1 {
		t.Fatalf("a failed job exits 1, got %v; stderr:\n%s", wait.GetResult(), a.stderr.String())
	}
	a.stdout.waitFor(t, "failing-step", 5*time.Second)
}

func TestStartTaskRefusesABadConfig(t *testing.T) {
	p := configuredPlugin(t)
	a := newAllocation(t, []byte("{}"))
	cfg := a.taskConfig(t, p, "payload = \"payload\"\nassignment_path = \"/x.json\"\n")
	_, err := p.Driver.StartTask(ctx(t), &drivers.StartTaskRequest{Task: cfg})
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "keep one") {
		t.Fatalf("want InvalidArgument saying to keep one, got %v", err)
	}
}

func TestStopTaskMidJobCancelsItAndLeavesNothing(t *testing.T) {
	p := configuredPlugin(t)
	a, cfg, _ := runningJob(t, p, "sleep 300")
	if len(containersWith(t, a.containersLabel())) == 0 {
		t.Fatal("the job's container does not carry the allocation's label")
	}
	began := time.Now()
	_, err := p.Driver.StopTask(ctx(t), &drivers.StopTaskRequest{TaskId: cfg.Id, Timeout: durationpb.New(10 * time.Second), Signal: "SIGTERM"})
	must(t, err)
	took := time.Since(began)
	wait := waitTask(t, p.Driver, cfg.Id)
	if wait.GetResult().GetExitCode() != 143 {
		t.Fatalf("a job canceled by SIGTERM exits 143, got %v; stderr:\n%s", wait.GetResult(), a.stderr.String())
	}
	if took > 10*time.Second {
		t.Fatalf("StopTask took %v, over the 10 s timeout", took)
	}
	if left := containersWith(t, a.containersLabel()); len(left) > 0 {
		t.Fatalf("left behind: %v", left)
	}
	if !strings.Contains(a.stderr.String(), "canceled") {
		t.Fatalf("the agent's log does not say the job was canceled:\n%s", a.stderr.String())
	}
}

func TestStopTaskKillsAnAgentThatOverrunsTheTimeout(t *testing.T) {
	p := configuredPlugin(t)
	a, cfg, _ := runningJob(t, p, "sleep 300")
	pid := agentPid(t, p.Driver, cfg.Id)
	// SIGSTOP: an agent that cannot react at all; only SIGKILL ends it
	must(t, syscall.Kill(pid, syscall.SIGSTOP))
	_, err := p.Driver.StopTask(ctx(t), &drivers.StopTaskRequest{TaskId: cfg.Id, Timeout: durationpb.New(time.Second), Signal: "SIGTERM"})
	must(t, err)
	wait := waitTask(t, p.Driver, cfg.Id)
	if wait.GetResult().GetSignal() != int32(syscall.SIGKILL) {
		t.Fatalf("want killed by SIGKILL, got %v", wait.GetResult())
	}
	if left := containersWith(t, a.containersLabel()); len(left) > 0 {
		t.Fatalf("the driver did not remove what the killed agent left: %v", left)
	}
}

func TestSignalTask(t *testing.T) {
	p := configuredPlugin(t)
	_, cfg, _ := runningJob(t, p, "sleep 300")
	if _, err := p.Driver.SignalTask(ctx(t), &drivers.SignalTaskRequest{TaskId: cfg.Id, Signal: "SIGNOPE"}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("an unknown signal: %v", err)
	}
	_, err := p.Driver.SignalTask(ctx(t), &drivers.SignalTaskRequest{TaskId: cfg.Id, Signal: "SIGINT"})
	must(t, err)
	if wait := waitTask(t, p.Driver, cfg.Id); wait.GetResult().GetExitCode() != 130 {
		t.Fatalf("a job canceled by SIGINT exits 130, got %v", wait.GetResult())
	}
}

func TestTaskStatsCountTheAgentAndItsContainers(t *testing.T) {
	p := configuredPlugin(t)
	_, cfg, _ := runningJob(t, p, "i=0; while [ $i -lt 3000000 ]; do i=$((i+1)); done; sleep 300")
	stream, err := p.Driver.TaskStats(ctx(t), &drivers.TaskStatsRequest{TaskId: cfg.Id, CollectionInterval: durationpb.New(300 * time.Millisecond)})
	must(t, err)
	pid := strconv.Itoa(agentPid(t, p.Driver, cfg.Id))
	var sawAgent, sawContainer, sawCpu bool
	for i := 0; i < 12 && !(sawAgent && sawContainer && sawCpu); i++ {
		resp, err := stream.Recv()
		must(t, err)
		s := resp.GetStats()
		if s.GetId() != cfg.Id || s.GetTimestamp() == nil {
			t.Fatalf("stats: %v", s)
		}
		if s.GetAggResourceUsage().GetMemory().GetRss() == 0 {
			t.Fatalf("no memory counted: %v", s.GetAggResourceUsage())
		}
		for key, u := range s.GetResourceUsageByPid() {
			if key == pid && u.GetMemory().GetRss() > 10<<20 {
				sawAgent = true
			}
			if strings.HasPrefix(key, "container:") && u.GetMemory().GetUsage() > 0 {
				sawContainer = true
				if u.GetCpu().GetPercent() > 5 {
					sawCpu = true
				}
			}
		}
	}
	if !sawAgent || !sawContainer || !sawCpu {
		t.Fatalf("agent %v, container %v, container CPU %v", sawAgent, sawContainer, sawCpu)
	}
	_, err = p.Driver.StopTask(ctx(t), &drivers.StopTaskRequest{TaskId: cfg.Id, Timeout: durationpb.New(10 * time.Second), Signal: "SIGTERM"})
	must(t, err)
}

func TestStartTaskWithoutTheEngineIsARecoverableError(t *testing.T) {
	p := launch(t)
	configure(t, p, strings.Replace(pluginConfigBody(t, ""), "docker_endpoint", "# ", 1)+`docker_endpoint = "unix:///nonexistent/docker.sock"`)
	a := newAllocation(t, []byte("{}"))
	_, err := p.Driver.StartTask(ctx(t), &drivers.StartTaskRequest{Task: a.taskConfig(t, p, taskConfigBody)})
	st, _ := status.FromError(err)
	if st.Code() != codes.FailedPrecondition {
		t.Fatalf("want FailedPrecondition, got %v", err)
	}
	recoverable := false
	for _, d := range st.Details() {
		if r, ok := d.(*structs.RecoverableError); ok && r.GetRecoverable() {
			recoverable = true
		}
	}
	if !recoverable {
		t.Fatalf("no RecoverableError detail in %v", st.Proto())
	}
}
