// Package pb holds the Go stubs protoc generates from ../../proto (make nomad-harness-stubs).
package pb
