// Command standin-nomad serves the harness's stand-in Nomad agent in run mode (each dispatched
// task run for real as `deckhand agent nomad-task`), for what is not a Go test: the rerun with SSH
// benchmark (bench/rerun-ssh.ts). It prints {"address": "http://HOST:PORT"} once listening, and
// on SIGTERM or SIGINT kills the tasks still running and exits.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"deckhand.dev/nomad-plugin/harness/internal/standin"
)

// the meta a deckhand parameterized job declares (agent/nomad/job-file.ts)
var declaredMeta = []string{"run_id", "node_index", "node_total", "workflow_id", "job_name"}

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to serve Nomad's HTTP API on")
	jobs := flag.String("jobs", "deckhand-small,deckhand-medium,deckhand-large", "the parameterized jobs that exist, comma-separated")
	deckhand := flag.String("deckhand", "", "the deckhand executable (bin/deckhand.js), run with node")
	runDir := flag.String("run-dir", "", "the folder allocations are made in")
	killTimeout := flag.Duration("kill-timeout", 10*time.Second, "time between a stop's SIGTERM and SIGKILL")
	flag.Parse()
	if *deckhand == "" || *runDir == "" {
		fmt.Fprintln(os.Stderr, "standin-nomad: give --deckhand PATH and --run-dir DIR")
		os.Exit(2)
	}
	n := standin.New()
	for _, j := range strings.Split(*jobs, ",") {
		n.Jobs[strings.TrimSpace(j)] = declaredMeta
	}
	n.Run = &standin.TaskRun{
		Command:     "node",
		Args:        []string{*deckhand, "agent", "nomad-task", "--payload", "${NOMAD_TASK_DIR}/payload", "--kill-timeout", killTimeout.String()},
		Dir:         *runDir,
		KillTimeout: *killTimeout,
	}
	l, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintf(os.Stderr, "standin-nomad: cannot listen on %s: %v\n", *listen, err)
		os.Exit(2)
	}
	_ = json.NewEncoder(os.Stdout).Encode(map[string]string{"address": "http://" + l.Addr().String()})
	go func() { _ = http.Serve(l, n) }()
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	<-stop
	n.StopAll()
}
