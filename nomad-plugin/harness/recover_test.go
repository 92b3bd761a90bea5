package harness

import (
	"context"
	"strings"
	"syscall"
	"testing"
	"time"

	"deckhand.dev/nomad-plugin/harness/internal/pb/drivers"
	"google.golang.org/protobuf/types/known/durationpb"
)

// events follows a TaskEvents stream as the client holds it open.
func events(t *testing.T, d drivers.DriverClient) <-chan *drivers.DriverTaskEvent {
	c, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	stream, err := d.TaskEvents(c, &drivers.TaskEventsRequest{})
	must(t, err)
	ch := make(chan *drivers.DriverTaskEvent, 64)
	go func() {
		for {
			e, err := stream.Recv()
			if err != nil {
				close(ch)
				return
			}
			ch <- e
		}
	}()
	return ch
}

func eventSaying(t *testing.T, ch <-chan *drivers.DriverTaskEvent, taskID, text string, within time.Duration) *drivers.DriverTaskEvent {
	t.Helper()
	timeout := time.After(within)
	var seen []string
	for {
		select {
		case e, ok := <-ch:
			if !ok {
				t.Fatalf("the TaskEvents stream closed; seen %q", seen)
			}
			seen = append(seen, e.GetMessage())
			if e.GetTaskId() == taskID && strings.Contains(e.GetMessage(), text) {
				return e
			}
		case <-timeout:
			t.Fatalf("no event saying %q within %v; seen %q", text, within, seen)
		}
	}
}

func TestRecoverTaskAfterThePluginIsKilledAndRestarted(t *testing.T) {
	first := configuredPlugin(t)
	a := newAllocation(t, assignmentOf(t, "      - run: echo before-crash; sleep 4; echo after-recovery\n"))
	cfg := a.taskConfig(t, first, taskConfigBody)
	handle := startTask(t, first.Driver, cfg)
	a.stdout.waitFor(t, "before-crash", 60*time.Second)
	pid := agentPid(t, first.Driver, cfg.Id)

	must(t, first.Crash())
	if processGone(pid, 300*time.Millisecond) {
		t.Fatal("the agent died with the plugin")
	}

	// the client dispenses a new plugin process and recovers its tasks from the handles it kept
	second := configuredPlugin(t)
	seen := events(t, second.Driver)
	_, err := second.Driver.RecoverTask(ctx(t), &drivers.RecoverTaskRequest{TaskId: cfg.Id, Handle: handle})
	must(t, err)
	eventSaying(t, seen, cfg.Id, "recovered the running Deckhand agent", 5*time.Second)
	// the client restarting alone (same plugin process) recovers again: nothing changes
	_, err = second.Driver.RecoverTask(ctx(t), &drivers.RecoverTaskRequest{TaskId: cfg.Id, Handle: handle})
	must(t, err)
	inspect, err := second.Driver.InspectTask(ctx(t), &drivers.InspectTaskRequest{TaskId: cfg.Id})
	must(t, err)
	if inspect.GetTask().GetState() != drivers.TaskState_RUNNING {
		t.Fatalf("recovered task: %v", inspect.GetTask())
	}
	stats, err := second.Driver.TaskStats(ctx(t), &drivers.TaskStatsRequest{TaskId: cfg.Id, CollectionInterval: durationpb.New(200 * time.Millisecond)})
	must(t, err)
	s, err := stats.Recv()
	must(t, err)
	if s.GetStats().GetAggResourceUsage().GetMemory().GetRss() == 0 {
		t.Fatalf("no stats of the recovered agent: %v", s)
	}

	wait := waitTask(t, second.Driver, cfg.Id)
	if wait.GetResult().GetExitCode() != 0 || wait.GetErr() != "" {
		t.Fatalf("the recovered task ended %v %q; stderr:\n%s", wait.GetResult(), wait.GetErr(), a.stderr.String())
	}
	a.stdout.waitFor(t, "after-recovery", 5*time.Second)
	eventSaying(t, seen, cfg.Id, "exited with code 0", 5*time.Second)
}

func TestRecoverTaskWhoseAgentEndedWhileThePluginWasAway(t *testing.T) {
	first := configuredPlugin(t)
	a := newAllocation(t, assignmentOf(t, "      - run: echo short-job; exit 4\n"))
	cfg := a.taskConfig(t, first, taskConfigBody)
	handle := startTask(t, first.Driver, cfg)
	pid := agentPid(t, first.Driver, cfg.Id)
	must(t, first.Crash())
	if !processGone(pid, 60*time.Second) {
		t.Fatal("the agent did not end")
	}

	second := configuredPlugin(t)
	seen := events(t, second.Driver)
	_, err := second.Driver.RecoverTask(ctx(t), &drivers.RecoverTaskRequest{TaskId: cfg.Id, Handle: handle})
	must(t, err)
	wait := waitTask(t, second.Driver, cfg.Id)
	if wait.GetResult().GetExitCode() != 1 || wait.GetErr() != "" {
		t.Fatalf("want the recorded exit (1: the job failed), got %v %q", wait.GetResult(), wait.GetErr())
	}
	eventSaying(t, seen, cfg.Id, "exited with code 1", 5*time.Second)
}

func TestRecoverTaskWhoseAgentWasKilledReportsItDeadWithTheReason(t *testing.T) {
	first := configuredPlugin(t)
	a, cfg, handle := runningJob(t, first, "sleep 300")
	pid := agentPid(t, first.Driver, cfg.Id)
	must(t, first.Crash())
	// killed outright while nobody watches: no exit status is recorded, its container stays
	must(t, syscall.Kill(-pid, syscall.SIGKILL))
	if !processGone(pid, 10*time.Second) {
		t.Fatal("the agent did not die")
	}

	second := configuredPlugin(t)
	seen := events(t, second.Driver)
	_, err := second.Driver.RecoverTask(ctx(t), &drivers.RecoverTaskRequest{TaskId: cfg.Id, Handle: handle})
	must(t, err)
	wait := waitTask(t, second.Driver, cfg.Id)
	if wait.GetErr() == "" || !strings.Contains(wait.GetErr(), "left no exit status") || wait.GetResult().GetExitCode() == 0 {
		t.Fatalf("want dead with its reason, got %v %q", wait.GetResult(), wait.GetErr())
	}
	eventSaying(t, seen, cfg.Id, "left no exit status", 5*time.Second)
	inspect, err := second.Driver.InspectTask(ctx(t), &drivers.InspectTaskRequest{TaskId: cfg.Id})
	must(t, err)
	if inspect.GetTask().GetState() != drivers.TaskState_EXITED || !strings.Contains(inspect.GetDriver().GetAttributes()["exit_error"], "killed") {
		t.Fatalf("inspect: %v", inspect)
	}
	// the killed agent's containers are gone once the task is destroyed: DestroyTask removes them,
	// unless the plugin's periodic reclaim of dead agents' leftovers (its first pass runs with the
	// first fingerprint) took them already
	_, err = second.Driver.DestroyTask(ctx(t), &drivers.DestroyTaskRequest{TaskId: cfg.Id, Force: true})
	must(t, err)
	if left := containersWith(t, a.containersLabel()); len(left) > 0 {
		t.Fatalf("DestroyTask left the killed agent's containers: %v", left)
	}
}
