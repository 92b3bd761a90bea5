package harness

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"deckhand.dev/nomad-plugin/harness/internal/nomadhost"
	"deckhand.dev/nomad-plugin/harness/internal/pb/base"
	"deckhand.dev/nomad-plugin/harness/internal/pb/drivers"
)

func launch(t *testing.T) *nomadhost.Plugin {
	t.Helper()
	p, err := nomadhost.Launch(pluginPath, nil)
	if err != nil {
		t.Fatalf("launching the plugin as Nomad does: %v", err)
	}
	t.Cleanup(p.Close)
	return p
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return c
}

// pluginConfigBody is the config block an operator writes, for this machine's engine.
func pluginConfigBody(t *testing.T, extra string) string {
	endpoint := os.Getenv("DOCKER_HOST")
	if endpoint == "" {
		endpoint = "unix:///var/run/docker.sock"
	}
	return `deckhand = "` + deckhandBin + `"
docker_endpoint = "` + endpoint + `"
reserved_cpu_cores = 1
reserved_memory_mb = 256
store = "` + t.TempDir() + `"
` + extra
}

// configuredPlugin is a plugin launched and configured for this machine's engine, as most tests
// need it.
func configuredPlugin(t *testing.T) *nomadhost.Plugin {
	t.Helper()
	p := launch(t)
	configure(t, p, pluginConfigBody(t, ""))
	return p
}

// configure sends SetConfig as Nomad's long-lived instance does (nomad_config set).
func configure(t *testing.T, p *nomadhost.Plugin, body string) {
	t.Helper()
	schema, err := p.Base.ConfigSchema(ctx(t), &base.ConfigSchemaRequest{})
	must(t, err)
	encoded, _, err := nomadhost.EncodeConfig(schema.GetSpec(), body, nil)
	if err != nil {
		t.Fatalf("encoding the plugin config with the plugin's own spec: %v", err)
	}
	_, err = p.Base.SetConfig(ctx(t), &base.SetConfigRequest{
		MsgpackConfig:    encoded,
		PluginApiVersion: "0.1.0",
		NomadConfig:      &base.NomadConfig{Driver: &base.NomadDriverConfig{ClientMinPort: 14000, ClientMaxPort: 14512}},
	})
	if err != nil {
		t.Fatalf("SetConfig: %v", err)
	}
}

func TestStartedByHandSaysWhatItIsAndExits1(t *testing.T) {
	cmd := exec.Command(pluginPath)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	out, err := cmd.CombinedOutput()
	exit, ok := err.(*exec.ExitError)
	if !ok || exit.ExitCode() != 1 {
		t.Fatalf("want exit 1, got %v", err)
	}
	if !strings.Contains(string(out), "Deckhand task driver plugin for Nomad") || !strings.Contains(string(out), "plugin_dir") {
		t.Fatalf("the message does not say what the file is: %q", out)
	}
	if strings.Contains(string(out), "|grpc") {
		t.Fatalf("printed a handshake line without the cookie: %q", out)
	}
}

func TestHandshakeHealthAndPluginInfo(t *testing.T) {
	p := launch(t)
	if p.Handshake > 3*time.Second {
		t.Errorf("handshake took %v", p.Handshake)
	}
	if err := p.Ping(); err != nil {
		t.Fatalf("go-plugin's health check of service \"plugin\": %v", err)
	}
	info, err := p.Base.PluginInfo(ctx(t), &base.PluginInfoRequest{})
	must(t, err)
	if info.GetType() != base.PluginType_DRIVER || info.GetName() != "deckhand" {
		t.Fatalf("PluginInfo: %v", info)
	}
	if len(info.GetPluginApiVersions()) != 1 || strings.TrimPrefix(info.GetPluginApiVersions()[0], "v") != "0.1.0" {
		t.Fatalf("driver API versions %v: Nomad speaks only 0.1.0", info.GetPluginApiVersions())
	}
	if info.GetPluginVersion() == "" {
		t.Fatal("no plugin version")
	}
}

func TestConfigSchemaDecodesTheOperatorsBlock(t *testing.T) {
	p := launch(t)
	schema, err := p.Base.ConfigSchema(ctx(t), &base.ConfigSchemaRequest{})
	must(t, err)
	// defaults come from the spec, as Nomad fills them in
	_, val, err := nomadhost.EncodeConfig(schema.GetSpec(), ``, nil)
	must(t, err)
	if got := val.GetAttr("docker_endpoint").AsString(); got != "unix:///var/run/docker.sock" {
		t.Errorf("default docker_endpoint %q", got)
	}
	if got, _ := val.GetAttr("reserved_memory_mb").AsBigFloat().Int64(); got != 4096 {
		t.Errorf("default reserved_memory_mb %d", got)
	}
	// a misspelt attribute is refused by HCL before the plugin sees it
	if _, _, err := nomadhost.EncodeConfig(schema.GetSpec(), `dockr_endpoint = "x"`, nil); err == nil {
		t.Error("an unknown attribute was accepted")
	}
	// Nomad's validation launch: SetConfig without nomad_config, twice
	encoded, _, err := nomadhost.EncodeConfig(schema.GetSpec(), pluginConfigBody(t, ""), nil)
	must(t, err)
	for i := 0; i < 2; i++ {
		_, err = p.Base.SetConfig(ctx(t), &base.SetConfigRequest{MsgpackConfig: encoded, PluginApiVersion: "0.1.0"})
		must(t, err)
	}
	// a value the spec lets through but the plugin refuses: one line, naming it
	bad, _, err := nomadhost.EncodeConfig(schema.GetSpec(), `docker_endpoint = "/var/run/docker.sock"`, nil)
	must(t, err)
	_, err = p.Base.SetConfig(ctx(t), &base.SetConfigRequest{MsgpackConfig: bad, PluginApiVersion: "0.1.0"})
	if err == nil || !strings.Contains(err.Error(), "docker_endpoint") {
		t.Fatalf("want an error naming docker_endpoint, got %v", err)
	}
}

func TestCapabilitiesAndTaskConfigSchema(t *testing.T) {
	p := launch(t)
	caps, err := p.Driver.Capabilities(ctx(t), &drivers.CapabilitiesRequest{})
	must(t, err)
	c := caps.GetCapabilities()
	if !c.GetSendSignals() || c.GetExec() || c.GetFsIsolation() != drivers.DriverCapabilities_NONE {
		t.Fatalf("capabilities: %v", c)
	}
	schema, err := p.Driver.TaskConfigSchema(ctx(t), &drivers.TaskConfigSchemaRequest{})
	must(t, err)
	_, val, err := nomadhost.EncodeConfig(schema.GetSpec(), `payload = "payload"`+"\n"+`kill_timeout = "20s"`, nil)
	must(t, err)
	if val.GetAttr("kill_timeout").AsString() != "20s" || !val.GetAttr("assignment").IsNull() {
		t.Fatalf("task config decoded to %#v", val)
	}
	_, val, err = nomadhost.EncodeConfig(schema.GetSpec(), ``, nil)
	must(t, err)
	if val.GetAttr("kill_timeout").AsString() != "5s" {
		t.Fatalf("default kill_timeout: %#v", val)
	}
}

func TestFingerprint(t *testing.T) {
	cases := []struct {
		name   string
		body   string
		health drivers.FingerprintResponse_HealthState
		says   string
	}{
		{"healthy", pluginConfigBody(t, ""), drivers.FingerprintResponse_HEALTHY, "healthy"},
		{"no engine", strings.Replace(pluginConfigBody(t, ""), "docker_endpoint", "# ", 1) + `docker_endpoint = "unix:///nonexistent/docker.sock"`, drivers.FingerprintResponse_UNHEALTHY, "does not answer"},
		{"reserve not there", strings.Replace(pluginConfigBody(t, ""), "reserved_memory_mb = 256", "reserved_memory_mb = 100000000", 1), drivers.FingerprintResponse_UNHEALTHY, "reserved_memory_mb"},
		{"no agent", strings.Replace(pluginConfigBody(t, ""), deckhandBin, "/nonexistent/deckhand", 1), drivers.FingerprintResponse_UNHEALTHY, "not there"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := launch(t)
			configure(t, p, tc.body)
			stream, err := p.Driver.Fingerprint(ctx(t), &drivers.FingerprintRequest{})
			must(t, err)
			fp, err := stream.Recv()
			must(t, err)
			if fp.GetHealth() != tc.health || !strings.Contains(fp.GetHealthDescription(), tc.says) {
				t.Fatalf("health %v %q; want %v saying %q", fp.GetHealth(), fp.GetHealthDescription(), tc.health, tc.says)
			}
			attrs := fp.GetAttributes()
			if attrs["driver.deckhand.version"].GetStringVal() == "" {
				t.Errorf("no version attribute: %v", attrs)
			}
			if tc.health == drivers.FingerprintResponse_HEALTHY {
				if attrs["driver.deckhand.docker.version"].GetStringVal() == "" || attrs["driver.deckhand.capacity.memory_mb"].GetIntVal() <= 0 || attrs["driver.deckhand.capacity.cpu_cores"].GetIntVal() < 1 {
					t.Errorf("attributes: %v", attrs)
				}
			}
		})
	}
}

func TestShutdownEndsTheProcessAndRemovesItsSocket(t *testing.T) {
	p := configuredPlugin(t)
	// a stream the client holds open must not keep the plugin from ending
	stream, err := p.Driver.Fingerprint(ctx(t), &drivers.FingerprintRequest{})
	must(t, err)
	_, err = stream.Recv()
	must(t, err)
	began := time.Now()
	p.Close()
	if !p.Exited() {
		t.Fatal("the plugin did not exit after the controller's Shutdown")
	}
	if took := time.Since(began); took > 1500*time.Millisecond {
		t.Fatalf("shutting down took %v: go-plugin's host SIGKILLs after 2 s", took)
	}
	if _, err := os.Stat(filepath.Dir(p.Socket)); !os.IsNotExist(err) {
		t.Fatalf("the socket's folder %s is left: %v", filepath.Dir(p.Socket), err)
	}
}

// The plugin's stderr lines reach the host's log as entries with their level and fields; the
// stdio and broker services go-plugin's host opens raise no error.
func TestLogsReachTheHostAsEntries(t *testing.T) {
	p := configuredPlugin(t)
	p.Close()
	var configured bool
	for _, line := range p.Logs() {
		var e map[string]any
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("host log line is not JSON: %q", line)
		}
		if e["@level"] == "error" || strings.Contains(line, "not available") {
			t.Errorf("the host logged a problem: %s", line)
		}
		if e["@message"] == "plugin configured" && e["@level"] == "info" && e["reserved_cpu_cores"] == float64(1) {
			configured = true
		}
	}
	if !configured {
		t.Fatalf("the plugin's JSON log line did not reach the host as an info entry with its fields:\n%s", strings.Join(p.Logs(), "\n"))
	}
}

// SIGTERM, even at once after the handshake, ends the plugin cleanly: exit 0, no socket left.
func TestSigtermEndsThePluginCleanly(t *testing.T) {
	p := launch(t)
	must(t, syscall.Kill(p.Pid, syscall.SIGTERM))
	deadline := time.Now().Add(3 * time.Second)
	for !p.Exited() && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if !p.Exited() {
		t.Fatal("the plugin did not end on SIGTERM")
	}
	if _, err := os.Stat(filepath.Dir(p.Socket)); !os.IsNotExist(err) {
		t.Fatalf("the socket's folder %s is left: %v", filepath.Dir(p.Socket), err)
	}
}
