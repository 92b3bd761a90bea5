// Package standin is a stand-in for a Nomad agent's HTTP API on loopback, for the endpoints
// `deckhand nomad dispatch|drain` call, answering as Nomad's documentation says it answers
// (https://developer.hashicorp.com/nomad/api-docs): request bodies decoded with Nomad's own API
// types, unknown fields refused; plain-text errors with a status; the ACL token in X-Nomad-Token;
// blocking queries held until the index passes the one asked for, or the wait ends; an
// allocation that goes pending → running → complete (or failed) by itself.
package standin

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/nomad/api"
)

// Request is one request as it arrived.
type Request struct {
	Method, Path string
	Query        map[string]string
	Token        string
	Body         []byte
}

// Dispatch is one accepted dispatch.
type Dispatch struct {
	Parent, Child, Token string
	Request              api.JobDispatchRequest
}

// Nomad is the stand-in's state.
type Nomad struct {
	// Token is the ACL token every request must carry ("" for a cluster without ACLs).
	Token string
	// Jobs are the parameterized jobs that exist, with the meta keys they declare.
	Jobs map[string][]string
	// ExitCode of the task of every dispatched job ("" for none: lost).
	ExitCode string
	// NodeID of the client this agent is ("" for a server agent).
	NodeID string
	// RunFor is how long a task runs before it ends (default: 150 ms).
	RunFor time.Duration
	// Run, when set, runs each dispatched job's task for real, as a Nomad client runs a raw_exec
	// task (task.go); ExitCode and RunFor are then not used.
	Run *TaskRun

	mu         sync.Mutex
	changed    *sync.Cond
	index      uint64
	requests   []Request
	dispatches []Dispatch
	allocs     map[string]*api.AllocationListStub
	byToken    map[string]string
	drain      *api.DrainStrategy
	drained    bool
	stopped    []string
	tasks      map[string]*runningTask
}

func New() *Nomad {
	n := &Nomad{Jobs: map[string][]string{}, allocs: map[string]*api.AllocationListStub{}, byToken: map[string]string{}, tasks: map[string]*runningTask{}, index: 10, ExitCode: "0"}
	n.changed = sync.NewCond(&n.mu)
	return n
}

// Requests are the requests so far.
func (n *Nomad) Requests() []Request {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]Request(nil), n.requests...)
}

// Dispatches are the dispatches so far.
func (n *Nomad) Dispatches() []Dispatch {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]Dispatch(nil), n.dispatches...)
}

func (n *Nomad) bump() {
	n.index++
	n.changed.Broadcast()
}

func plain(w http.ResponseWriter, status int, text string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	fmt.Fprint(w, text)
}

func (n *Nomad) reply(w http.ResponseWriter, value any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Nomad-Index", strconv.FormatUint(n.index, 10))
	w.Header().Set("X-Nomad-KnownLeader", "true")
	_ = json.NewEncoder(w).Encode(value)
}

// block holds a blocking query until the index passes `index` or the wait ends (Nomad's cap is 5 minutes).
func (n *Nomad) block(r *http.Request) {
	q := r.URL.Query()
	if q.Get("index") == "" {
		return
	}
	after, _ := strconv.ParseUint(q.Get("index"), 10, 64)
	wait := 5 * time.Minute
	if d, err := time.ParseDuration(q.Get("wait")); err == nil && d < wait {
		wait = d
	}
	deadline := time.Now().Add(wait)
	timer := time.AfterFunc(wait, func() {
		n.mu.Lock()
		n.changed.Broadcast()
		n.mu.Unlock()
	})
	defer timer.Stop()
	for n.index <= after && time.Now().Before(deadline) {
		n.changed.Wait()
	}
}

func strictDecode(body []byte, into any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	return dec.Decode(into)
}

func (n *Nomad) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body := new(bytes.Buffer)
	_, _ = body.ReadFrom(r.Body)
	n.mu.Lock()
	defer n.mu.Unlock()
	query := map[string]string{}
	for k, v := range r.URL.Query() {
		query[k] = v[0]
	}
	n.requests = append(n.requests, Request{Method: r.Method, Path: r.URL.Path, Query: query, Token: r.Header.Get("X-Nomad-Token"), Body: body.Bytes()})
	if n.Token != "" && r.Header.Get("X-Nomad-Token") != n.Token {
		plain(w, http.StatusForbidden, "Permission denied")
		return
	}
	path := r.URL.Path // decoded: a dispatched job's %2F is a / here, as in Nomad's router
	switch {
	case strings.HasPrefix(path, "/v1/job/") && strings.HasSuffix(path, "/dispatch"):
		if r.Method != http.MethodPut && r.Method != http.MethodPost {
			plain(w, http.StatusMethodNotAllowed, "Invalid method")
			return
		}
		n.dispatch(w, strings.TrimSuffix(strings.TrimPrefix(path, "/v1/job/"), "/dispatch"), query["idempotency_token"], body.Bytes())
	case strings.HasPrefix(path, "/v1/job/") && r.Method == http.MethodDelete:
		n.stopJob(w, strings.TrimPrefix(path, "/v1/job/"))
	case strings.HasPrefix(path, "/v1/job/") && strings.HasSuffix(path, "/allocations"):
		id := strings.TrimSuffix(strings.TrimPrefix(path, "/v1/job/"), "/allocations")
		n.block(r)
		list := []*api.AllocationListStub{}
		if a, ok := n.allocs[id]; ok {
			copied := *a
			list = append(list, &copied)
		}
		n.reply(w, list)
	case path == "/v1/agent/self":
		self := map[string]any{"config": map[string]any{}, "member": map[string]any{}, "stats": map[string]any{}}
		if n.NodeID != "" {
			self["stats"] = map[string]any{"client": map[string]string{"node_id": n.NodeID}}
		}
		n.reply(w, self)
	case strings.HasPrefix(path, "/v1/node/") && strings.HasSuffix(path, "/drain"):
		n.drainNode(w, strings.TrimSuffix(strings.TrimPrefix(path, "/v1/node/"), "/drain"), body.Bytes())
	case strings.HasPrefix(path, "/v1/node/"):
		id := strings.TrimPrefix(path, "/v1/node/")
		if id != n.NodeID {
			plain(w, http.StatusNotFound, "node not found")
			return
		}
		n.block(r)
		node := map[string]any{"ID": n.NodeID, "Name": "client-1", "SchedulingEligibility": "eligible", "DrainStrategy": nil}
		if n.drain != nil || n.drained {
			node["SchedulingEligibility"] = "ineligible"
		}
		if n.drain != nil {
			node["DrainStrategy"] = n.drain
		}
		n.reply(w, node)
	default:
		plain(w, http.StatusNotFound, "Invalid URL")
	}
}

func (n *Nomad) dispatch(w http.ResponseWriter, parent, token string, body []byte) {
	var req api.JobDispatchRequest
	if err := strictDecode(body, &req); err != nil {
		plain(w, http.StatusBadRequest, "failed to decode request body: "+err.Error())
		return
	}
	declared, ok := n.Jobs[parent]
	if !ok {
		plain(w, http.StatusNotFound, "parameterized job not found")
		return
	}
	if req.JobID != "" && req.JobID != parent {
		plain(w, http.StatusBadRequest, "Job ID does not match")
		return
	}
	if len(req.Payload) > 16*1024 {
		plain(w, http.StatusInternalServerError, fmt.Sprintf("Payload exceeds maximum size; %d > %d", len(req.Payload), 16*1024))
		return
	}
	for k := range req.Meta {
		allowed := false
		for _, d := range declared {
			allowed = allowed || d == k
		}
		if !allowed {
			plain(w, http.StatusInternalServerError, fmt.Sprintf("Dispatch did not provide required meta keys / unpermitted meta keys: %q", k))
			return
		}
	}
	if child, seen := n.byToken[token]; token != "" && seen {
		n.reply(w, api.JobDispatchResponse{DispatchedJobID: child, EvalID: "eval-" + child})
		return
	}
	child := fmt.Sprintf("%s/dispatch-%d-%08x", parent, time.Now().Unix(), len(n.dispatches)+1)
	n.byToken[token] = child
	n.dispatches = append(n.dispatches, Dispatch{Parent: parent, Child: child, Token: token, Request: req})
	n.bump()
	n.reply(w, api.JobDispatchResponse{DispatchedJobID: child, EvalID: fmt.Sprintf("%08x-eval", len(n.dispatches)), EvalCreateIndex: n.index, JobCreateIndex: n.index})
	if n.Run != nil {
		go n.runTask(parent, child, req)
	} else {
		go n.runAllocation(child)
	}
}

// stopJob answers DELETE /v1/job/:id as Nomad does (an evaluation), and stops the job's
// allocation: its task is sent its kill signal and the deckhand task exits 143 on it.
func (n *Nomad) stopJob(w http.ResponseWriter, id string) {
	known := false
	for _, d := range n.dispatches {
		known = known || d.Child == id
	}
	if !known {
		plain(w, http.StatusNotFound, "job not found")
		return
	}
	n.stopped = append(n.stopped, id)
	if task := n.tasks[id]; task != nil {
		// a task that runs for real is sent its kill signal; its exit ends the allocation
		if a := n.allocs[id]; a != nil {
			a.DesiredStatus = "stop"
			a.ModifyIndex = n.index + 1
		}
		task.stop(n.Run.killTimeout())
	} else if a := n.allocs[id]; a != nil {
		a.DesiredStatus = "stop"
		a.ClientStatus = "complete"
		a.TaskStates = map[string]*api.TaskState{"agent": {State: "dead", Failed: true, Events: []*api.TaskEvent{
			{Type: "Killing"},
			{Type: "Terminated", Details: map[string]string{"exit_code": "143", "signal": "0"}, DisplayMessage: "Exit Code: 143"},
		}}}
		a.ModifyIndex = n.index + 1
	}
	n.bump()
	n.reply(w, api.JobDeregisterResponse{EvalID: "eval-stop-" + id, EvalCreateIndex: n.index, JobModifyIndex: n.index})
}

// Stopped are the jobs stopped with DELETE /v1/job/:id, in order.
func (n *Nomad) Stopped() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.stopped...)
}

// runAllocation moves the dispatched job's allocation along as a client would.
func (n *Nomad) runAllocation(job string) {
	step := func(d time.Duration, f func(a *api.AllocationListStub)) {
		time.Sleep(d)
		n.mu.Lock()
		defer n.mu.Unlock()
		a := n.allocs[job]
		if a == nil {
			a = &api.AllocationListStub{ID: fmt.Sprintf("%08x-0000-4000-8000-000000000000", len(n.allocs)+1), JobID: job, NodeID: "node-1", NodeName: "client-1", TaskGroup: "agent", DesiredStatus: "run"}
			n.allocs[job] = a
		}
		if a.DesiredStatus == "stop" {
			// stopped through the API: the client moves it no further
			return
		}
		f(a)
		a.ModifyIndex = n.index + 1
		n.bump()
	}
	step(50*time.Millisecond, func(a *api.AllocationListStub) { a.ClientStatus = "pending" })
	step(100*time.Millisecond, func(a *api.AllocationListStub) {
		a.ClientStatus = "running"
		a.TaskStates = map[string]*api.TaskState{"agent": {State: "running", Events: []*api.TaskEvent{{Type: "Started"}}}}
	})
	n.mu.Lock()
	runFor := n.RunFor
	n.mu.Unlock()
	if runFor == 0 {
		runFor = 150 * time.Millisecond
	}
	step(runFor, func(a *api.AllocationListStub) {
		if n.ExitCode == "" {
			a.ClientStatus = "lost"
			a.ClientDescription = "alloc is lost since its node is down"
			return
		}
		failed := n.ExitCode != "0"
		a.ClientStatus = "complete"
		if failed {
			a.ClientStatus = "failed"
			a.ClientDescription = "Failed tasks"
		}
		a.TaskStates = map[string]*api.TaskState{"agent": {State: "dead", Failed: failed, Events: []*api.TaskEvent{
			{Type: "Started"},
			{Type: "Terminated", Details: map[string]string{"exit_code": n.ExitCode, "signal": "0"}, DisplayMessage: "Exit Code: " + n.ExitCode},
		}}}
	})
}

func (n *Nomad) drainNode(w http.ResponseWriter, id string, body []byte) {
	var req api.NodeUpdateDrainRequest
	if err := strictDecode(body, &req); err != nil {
		plain(w, http.StatusBadRequest, "failed to decode request body: "+err.Error())
		return
	}
	if id != n.NodeID || req.NodeID != id {
		plain(w, http.StatusNotFound, "node not found")
		return
	}
	if req.DrainSpec == nil {
		n.drain = nil
	} else {
		n.drain = &api.DrainStrategy{DrainSpec: *req.DrainSpec, ForceDeadline: time.Now().Add(req.DrainSpec.Deadline)}
		// the client's jobs finish a moment later; then the drain is done
		go func() {
			time.Sleep(300 * time.Millisecond)
			n.mu.Lock()
			defer n.mu.Unlock()
			n.drain = nil
			n.drained = true
			n.bump()
		}()
	}
	n.bump()
	n.reply(w, api.NodeDrainUpdateResponse{NodeModifyIndex: n.index, EvalIDs: []string{}, EvalCreateIndex: n.index})
}

// LastDrain is the last drain request, decoded.
func (n *Nomad) LastDrain() *api.NodeUpdateDrainRequest {
	n.mu.Lock()
	defer n.mu.Unlock()
	for i := len(n.requests) - 1; i >= 0; i-- {
		if strings.HasSuffix(n.requests[i].Path, "/drain") {
			var req api.NodeUpdateDrainRequest
			if strictDecode(n.requests[i].Body, &req) == nil {
				return &req
			}
		}
	}
	return nil
}
