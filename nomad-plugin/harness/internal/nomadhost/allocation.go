package nomadhost

// An allocation's folders and the environment Nomad gives its task, as a Nomad client lays them
// out (https://developer.hashicorp.com/nomad/docs/concepts/filesystem and
// https://developer.hashicorp.com/nomad/docs/runtime/environment): one place for the plugin
// tests' allocations and the stand-in's run mode.

import (
	"os"
	"path/filepath"
)

// Allocation is one allocation of a dispatched job, with a single task.
type Allocation struct {
	ID string
	// Dir is the allocation's folder: alloc/ (shared, with logs/) and TASK/ (local, secrets, tmp)
	Dir string
	// Task is the task's name, and the name of its folder
	Task string
	// Job is the dispatched job's id, Parent the parameterized job it was dispatched from
	Job, Parent string
}

// TaskDir is the task's own folder.
func (a Allocation) TaskDir() string {
	return filepath.Join(a.Dir, a.Task)
}

// MakeDirs creates the allocation's folders.
func (a Allocation) MakeDirs() error {
	for _, d := range []string{filepath.Join(a.Dir, "alloc", "logs"), filepath.Join(a.TaskDir(), "local"), filepath.Join(a.TaskDir(), "secrets"), filepath.Join(a.TaskDir(), "tmp")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	return nil
}

// Env is the NOMAD_* environment of the task (without ports and meta, which depend on the job).
func (a Allocation) Env() map[string]string {
	return map[string]string{
		"NOMAD_ALLOC_DIR":     filepath.Join(a.Dir, "alloc"),
		"NOMAD_TASK_DIR":      filepath.Join(a.TaskDir(), "local"),
		"NOMAD_SECRETS_DIR":   filepath.Join(a.TaskDir(), "secrets"),
		"NOMAD_ALLOC_ID":      a.ID,
		"NOMAD_ALLOC_NAME":    a.Job + "." + a.Task + "[0]",
		"NOMAD_ALLOC_INDEX":   "0",
		"NOMAD_JOB_ID":        a.Job,
		"NOMAD_JOB_NAME":      a.Job,
		"NOMAD_JOB_PARENT_ID": a.Parent,
		"NOMAD_GROUP_NAME":    a.Task,
		"NOMAD_TASK_NAME":     a.Task,
		"NOMAD_NAMESPACE":     "default",
		"NOMAD_REGION":        "global",
		"NOMAD_DC":            "dc1",
		"NOMAD_CPU_LIMIT":     "2000",
		"NOMAD_MEMORY_LIMIT":  "2048",
	}
}
