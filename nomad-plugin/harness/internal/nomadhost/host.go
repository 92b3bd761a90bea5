// Package nomadhost starts and talks to a task driver plugin the way a Nomad client does:
// go-plugin's client with Nomad's handshake (protocol 2, its magic cookie, gRPC only), the plugin
// dispensed as "driver", and config encoded from HCL through the plugin's own spec with go-cty's
// msgpack, as Nomad's plugin loader and task runner encode it.
package nomadhost

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"deckhand.dev/nomad-plugin/harness/internal/pb/base"
	"deckhand.dev/nomad-plugin/harness/internal/pb/drivers"
	hclog "github.com/hashicorp/go-hclog"
	plugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
)

// Nomad's handshake (plugins/base/plugin.go in hashicorp/nomad).
var Handshake = plugin.HandshakeConfig{
	ProtocolVersion:  2,
	MagicCookieKey:   "NOMAD_PLUGIN_MAGIC_COOKIE",
	MagicCookieValue: "e4327c2e01eabfd75a8a67adb114fb34a757d57eee7728d857a8cec6e91a7255",
}

// Clients are the plugin's Nomad services over the connection go-plugin made.
type Clients struct {
	Base   base.BasePluginClient
	Driver drivers.DriverClient
	Conn   *grpc.ClientConn
}

// driverPlugin is the host side of a gRPC plugin: it only builds clients.
type driverPlugin struct {
	plugin.NetRPCUnsupportedPlugin
}

func (driverPlugin) GRPCServer(*plugin.GRPCBroker, *grpc.Server) error {
	return errors.New("the harness is a host, it serves no plugin")
}

func (driverPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, conn *grpc.ClientConn) (interface{}, error) {
	return &Clients{Base: base.NewBasePluginClient(conn), Driver: drivers.NewDriverClient(conn), Conn: conn}, nil
}

// Plugin is one running plugin process.
type Plugin struct {
	*Clients
	client *plugin.Client
	rpc    plugin.ClientProtocol
	// Started to handshake done (the host connected).
	Handshake time.Duration
	Pid       int
	// Socket is the unix socket the plugin serves on.
	Socket string
	log    *lineLog
}

// lineLog keeps what the plugin logged (go-plugin hands its stderr lines to the host's logger).
type lineLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *lineLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	sc := bufio.NewScanner(strings.NewReader(string(p)))
	for sc.Scan() {
		l.lines = append(l.lines, sc.Text())
	}
	return len(p), nil
}

// Logs are the plugin's log lines as the host logged them.
func (p *Plugin) Logs() []string {
	p.log.mu.Lock()
	defer p.log.mu.Unlock()
	return append([]string(nil), p.log.lines...)
}

// Launch starts the plugin executable as Nomad's loader does and dispenses its driver.
func Launch(path string, env []string) (*Plugin, error) {
	logs := &lineLog{}
	cmd := exec.Command(path)
	cmd.Env = append(os.Environ(), env...)
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  Handshake,
		VersionedPlugins: map[int]plugin.PluginSet{2: {"base": driverPlugin{}, "driver": driverPlugin{}}},
		Cmd:              cmd,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		Logger:           hclog.New(&hclog.LoggerOptions{Name: "plugin", Output: logs, Level: hclog.Trace, JSONFormat: true}),
	})
	started := time.Now()
	rpc, err := client.Client()
	if err != nil {
		client.Kill()
		return nil, err
	}
	handshake := time.Since(started)
	raw, err := rpc.Dispense("driver")
	if err != nil {
		client.Kill()
		return nil, err
	}
	pid, socket := 0, ""
	if rc := client.ReattachConfig(); rc != nil {
		pid, socket = rc.Pid, rc.Addr.String()
	}
	return &Plugin{Clients: raw.(*Clients), client: client, rpc: rpc, Handshake: handshake, Pid: pid, Socket: socket, log: logs}, nil
}

// Ping is go-plugin's health check of the "plugin" service.
func (p *Plugin) Ping() error { return p.rpc.Ping() }

// Close stops the plugin as Nomad does: the controller's Shutdown, then SIGKILL after 2 s.
func (p *Plugin) Close() { p.client.Kill() }

// Exited tells whether the process has ended.
func (p *Plugin) Exited() bool { return p.client.Exited() }

// Crash kills the plugin process with SIGKILL, as an OOM killer or a crash would end it.
func (p *Plugin) Crash() error {
	if err := syscall.Kill(p.Pid, syscall.SIGKILL); err != nil {
		return err
	}
	deadline := time.Now().Add(5 * time.Second)
	for !p.client.Exited() && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	p.client.Kill()
	// a killed plugin cannot remove its socket's folder; the harness leaves nothing behind
	if strings.HasSuffix(p.Socket, "/plugin.sock") {
		_ = os.RemoveAll(filepath.Dir(p.Socket))
	}
	return nil
}
