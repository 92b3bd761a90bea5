package harness

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"deckhand.dev/nomad-plugin/harness/internal/nomadhost"
	"deckhand.dev/nomad-plugin/harness/internal/pb/base"
	"deckhand.dev/nomad-plugin/harness/internal/pb/drivers"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/gohcl"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	hcljson "github.com/hashicorp/hcl/v2/json"
	"github.com/hashicorp/nomad/api"
)

// strictJSON decodes as Nomad's API would, refusing any field its Go types do not have.
func strictJSON(t *testing.T, text string, into any) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(text))
	dec.DisallowUnknownFields()
	if err := dec.Decode(into); err != nil {
		t.Fatalf("Nomad's API types refuse it: %v\n%s", err, text)
	}
}

// The job file's HCL, as far as deckhand writes it; gohcl refuses anything else in it.
type hclJobFile struct {
	Job struct {
		ID          string   `hcl:"id,label"`
		Type        string   `hcl:"type"`
		Datacenters []string `hcl:"datacenters"`
		Meta        struct {
			ResourceClass string `hcl:"deckhand_resource_class"`
		} `hcl:"meta,block"`
		Parameterized struct {
			Payload      string   `hcl:"payload"`
			MetaRequired []string `hcl:"meta_required"`
			MetaOptional []string `hcl:"meta_optional"`
		} `hcl:"parameterized,block"`
		Constraint struct {
			Attribute hcl.Expression `hcl:"attribute"`
			Value     string         `hcl:"value"`
		} `hcl:"constraint,block"`
		Group struct {
			Name    string `hcl:"name,label"`
			Count   int    `hcl:"count"`
			Restart struct {
				Attempts int    `hcl:"attempts"`
				Mode     string `hcl:"mode"`
			} `hcl:"restart,block"`
			Reschedule struct {
				Attempts  int  `hcl:"attempts"`
				Unlimited bool `hcl:"unlimited"`
			} `hcl:"reschedule,block"`
			Network struct {
				Ports []struct {
					Label string `hcl:"label,label"`
				} `hcl:"port,block"`
			} `hcl:"network,block"`
			Task struct {
				Name            string `hcl:"name,label"`
				Driver          string `hcl:"driver"`
				KillSignal      string `hcl:"kill_signal"`
				KillTimeout     string `hcl:"kill_timeout"`
				DispatchPayload struct {
					File string `hcl:"file"`
				} `hcl:"dispatch_payload,block"`
				Config struct {
					Body hcl.Body `hcl:",remain"`
				} `hcl:"config,block"`
				Resources struct {
					CPU    int `hcl:"cpu"`
					Memory int `hcl:"memory"`
				} `hcl:"resources,block"`
			} `hcl:"task,block"`
		} `hcl:"group,block"`
	} `hcl:"job,block"`
}

func sourceOf(src []byte, e hcl.Expression) string {
	r := e.Range()
	return string(src[r.Start.Byte:r.End.Byte])
}

func TestJobFilesDecodeWithNomadsTypesAndSayTheSameInHCL(t *testing.T) {
	p := launch(t)
	taskSchema, err := p.Driver.TaskConfigSchema(ctx(t), &drivers.TaskConfigSchemaRequest{})
	must(t, err)
	for _, tc := range []struct {
		class, driver  string
		cpuMhz, memory int
	}{
		{"medium", "deckhand", 2*2000 + 250, 4096 + 256},
		{"large", "raw_exec", 4*2000 + 250, 8192 + 256},
		{"medium+", "deckhand", 3*2000 + 250, 6144 + 256},
	} {
		t.Run(tc.class+"/"+tc.driver, func(t *testing.T) {
			out, errText, code := deckhand(t, repoRoot, nil, "nomad", "job", "--resource-class", tc.class, "--driver", tc.driver, "--format", "json")
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errText)
			}
			var req struct{ Job *api.Job }
			strictJSON(t, out, &req)
			job := req.Job
			if *job.Type != "batch" || job.ParameterizedJob == nil || job.ParameterizedJob.Payload != "required" {
				t.Fatalf("not a parameterized batch job with a required payload: %+v", job)
			}
			if len(job.ParameterizedJob.MetaRequired) != 1 || job.ParameterizedJob.MetaRequired[0] != "run_id" || !contains(job.ParameterizedJob.MetaOptional, "node_index") || !contains(job.ParameterizedJob.MetaOptional, "node_total") {
				t.Fatalf("meta: %+v", job.ParameterizedJob)
			}
			tg := job.TaskGroups[0]
			if *tg.RestartPolicy.Attempts != 0 || *tg.RestartPolicy.Mode != "fail" || *tg.ReschedulePolicy.Attempts != 0 || *tg.ReschedulePolicy.Unlimited {
				t.Fatalf("restarts or reschedules allowed: %+v %+v", tg.RestartPolicy, tg.ReschedulePolicy)
			}
			if len(tg.Networks) != 1 || len(tg.Networks[0].DynamicPorts) != 1 || tg.Networks[0].DynamicPorts[0].Label != "ssh" {
				t.Fatalf("no dynamic ssh port: %+v", tg.Networks)
			}
			task := tg.Tasks[0]
			if task.Driver != tc.driver || task.KillSignal != "SIGTERM" || *task.KillTimeout != 25*time.Second || *task.KillTimeout > 30*time.Second {
				t.Fatalf("task: driver %s signal %s timeout %v", task.Driver, task.KillSignal, *task.KillTimeout)
			}
			if *task.Resources.CPU != tc.cpuMhz || *task.Resources.MemoryMB != tc.memory || task.DispatchPayload.File != "payload" {
				t.Fatalf("resources %d MHz %d MB, payload %q", *task.Resources.CPU, *task.Resources.MemoryMB, task.DispatchPayload.File)
			}
			if job.Constraints[0].LTarget != "${node.class}" || job.Constraints[0].RTarget != "deckhand" {
				t.Fatalf("constraint: %+v", job.Constraints[0])
			}

			// the HCL: HashiCorp's parser, the same content
			hclText, errText, code := deckhand(t, repoRoot, nil, "nomad", "job", "--resource-class", tc.class, "--driver", tc.driver)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errText)
			}
			file, diags := hclsyntax.ParseConfig([]byte(hclText), "job.nomad.hcl", hcl.Pos{Line: 1, Column: 1})
			if diags.HasErrors() {
				t.Fatalf("HCL parser: %v\n%s", diags, hclText)
			}
			var h hclJobFile
			if diags := gohcl.DecodeBody(file.Body, nil, &h); diags.HasErrors() {
				t.Fatalf("HCL content: %v\n%s", diags, hclText)
			}
			j := h.Job
			g := j.Group
			kt, err := time.ParseDuration(g.Task.KillTimeout)
			must(t, err)
			same := j.ID == *job.ID && j.Type == *job.Type && strings.Join(j.Datacenters, ",") == strings.Join(job.Datacenters, ",") &&
				j.Meta.ResourceClass == job.Meta["deckhand_resource_class"] &&
				j.Parameterized.Payload == job.ParameterizedJob.Payload && strings.Join(j.Parameterized.MetaOptional, ",") == strings.Join(job.ParameterizedJob.MetaOptional, ",") &&
				sourceOf([]byte(hclText), j.Constraint.Attribute) == `"${node.class}"` && j.Constraint.Value == job.Constraints[0].RTarget &&
				g.Name == *tg.Name && g.Count == *tg.Count && g.Restart.Attempts == 0 && g.Restart.Mode == "fail" && g.Reschedule.Attempts == 0 && !g.Reschedule.Unlimited &&
				len(g.Network.Ports) == 1 && g.Network.Ports[0].Label == "ssh" &&
				g.Task.Name == task.Name && g.Task.Driver == task.Driver && g.Task.KillSignal == task.KillSignal && kt == *task.KillTimeout &&
				g.Task.DispatchPayload.File == task.DispatchPayload.File && g.Task.Resources.CPU == *task.Resources.CPU && g.Task.Resources.Memory == *task.Resources.MemoryMB
			if !same {
				t.Fatalf("the HCL and the JSON differ:\n%s\n%+v", hclText, h)
			}
			attrs, diags := g.Task.Config.Body.JustAttributes()
			if diags.HasErrors() {
				t.Fatal(diags)
			}
			for name, want := range task.Config {
				a, ok := attrs[name]
				if !ok {
					t.Fatalf("config.%s is in the JSON, not in the HCL", name)
				}
				jsonText, _ := json.Marshal(want)
				hclSource := strings.ReplaceAll(sourceOf([]byte(hclText), a.Expr), " ", "")
				if hclSource != string(bytes.ReplaceAll(jsonText, []byte(" "), nil)) {
					t.Fatalf("config.%s: HCL %s, JSON %s", name, hclSource, jsonText)
				}
			}
			if tc.driver == "deckhand" {
				// the task config is what the plugin's own spec takes
				body := ""
				for name, v := range task.Config {
					b, _ := json.Marshal(v)
					body += name + " = " + string(b) + "\n"
				}
				if _, _, err := nomadhost.EncodeConfig(taskSchema.GetSpec(), body, nil); err != nil {
					t.Fatalf("the plugin's TaskConfigSchema refuses the job's config: %v", err)
				}
			}
		})
	}
	if _, errText, code := deckhand(t, repoRoot, nil, "nomad", "job", "--resource-class", "medium", "--kill-timeout", "45s"); code != 2 || !strings.Contains(errText, "max_kill_timeout") {
		t.Fatalf("a kill timeout over max_kill_timeout: exit %d %s", code, errText)
	}
}

// The client configuration, as far as deckhand writes it; gohcl refuses anything else in it.
type clientConfigFile struct {
	Datacenter       string `hcl:"datacenter"`
	DataDir          string `hcl:"data_dir"`
	PluginDir        string `hcl:"plugin_dir"`
	LeaveOnInterrupt bool   `hcl:"leave_on_interrupt"`
	LeaveOnTerminate bool   `hcl:"leave_on_terminate"`
	Client           struct {
		Enabled        bool     `hcl:"enabled"`
		Servers        []string `hcl:"servers"`
		NodeClass      string   `hcl:"node_class"`
		MaxKillTimeout string   `hcl:"max_kill_timeout"`
		MinDynamicPort int      `hcl:"min_dynamic_port"`
		MaxDynamicPort int      `hcl:"max_dynamic_port"`
		Reserved       struct {
			CPU    int `hcl:"cpu"`
			Memory int `hcl:"memory"`
		} `hcl:"reserved,block"`
		Drain struct {
			Deadline         string `hcl:"deadline"`
			Force            bool   `hcl:"force"`
			IgnoreSystemJobs bool   `hcl:"ignore_system_jobs"`
		} `hcl:"drain_on_shutdown,block"`
	} `hcl:"client,block"`
	Plugins []struct {
		Name   string `hcl:"name,label"`
		Config struct {
			Body hcl.Body `hcl:",remain"`
		} `hcl:"config,block"`
	} `hcl:"plugin,block"`
	TLS *struct {
		HTTP                 bool   `hcl:"http"`
		RPC                  bool   `hcl:"rpc"`
		CAFile               string `hcl:"ca_file"`
		CertFile             string `hcl:"cert_file"`
		KeyFile              string `hcl:"key_file"`
		VerifyServerHostname bool   `hcl:"verify_server_hostname"`
		VerifyHTTPSClient    bool   `hcl:"verify_https_client"`
	} `hcl:"tls,block"`
}

func TestClientConfigParsesWithHCLInBothFormsAndThePluginTakesItsBlock(t *testing.T) {
	p := launch(t)
	schema, err := p.Base.ConfigSchema(ctx(t), &base.ConfigSchemaRequest{})
	must(t, err)
	args := []string{"nomad", "client-config", "--servers", "10.0.0.5,nomad-2.internal:4747", "--mhz-per-core", "2500", "--tls-ca", "/etc/nomad/ca.pem", "--tls-cert", "/etc/nomad/cli.pem", "--tls-key", "/etc/nomad/cli-key.pem", "--store", "s3://ci/deckhand"}
	forms := map[string]*clientConfigFile{}
	for _, format := range []string{"hcl", "json"} {
		out, errText, code := deckhand(t, repoRoot, nil, append(args, "--format", format)...)
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", format, code, errText)
		}
		var file *hcl.File
		var diags hcl.Diagnostics
		if format == "hcl" {
			file, diags = hclsyntax.ParseConfig([]byte(out), "client.hcl", hcl.Pos{Line: 1, Column: 1})
		} else {
			file, diags = hcljson.Parse([]byte(out), "client.json")
		}
		if diags.HasErrors() {
			t.Fatalf("%s: HCL parser: %v\n%s", format, diags, out)
		}
		var c clientConfigFile
		if diags := gohcl.DecodeBody(file.Body, nil, &c); diags.HasErrors() {
			t.Fatalf("%s: content: %v\n%s", format, diags, out)
		}
		forms[format] = &c
		cl := c.Client
		if !cl.Enabled || strings.Join(cl.Servers, ",") != "10.0.0.5:4647,nomad-2.internal:4747" || cl.NodeClass != "deckhand" {
			t.Fatalf("%s: client %+v", format, cl)
		}
		if cl.Reserved.CPU != 2*2500 || cl.Reserved.Memory != 4096 || cl.MinDynamicPort != 64535 || cl.MaxDynamicPort != 65535 || cl.MaxKillTimeout != "30s" {
			t.Fatalf("%s: reserved %+v ports %d-%d", format, cl.Reserved, cl.MinDynamicPort, cl.MaxDynamicPort)
		}
		if cl.Drain.Deadline != "1h" || !c.LeaveOnInterrupt || !c.LeaveOnTerminate || c.PluginDir == "" {
			t.Fatalf("%s: drain %+v", format, cl.Drain)
		}
		if c.TLS == nil || !c.TLS.RPC || c.TLS.CAFile != "/etc/nomad/ca.pem" {
			t.Fatalf("%s: tls %+v", format, c.TLS)
		}
		if len(c.Plugins) != 1 || c.Plugins[0].Name != "deckhand" {
			t.Fatalf("%s: plugins %+v", format, c.Plugins)
		}
		// the plugin block is what the plugin's ConfigSchema takes, and SetConfig accepts it
		attrs, diags := c.Plugins[0].Config.Body.JustAttributes()
		if diags.HasErrors() {
			t.Fatal(diags)
		}
		body := ""
		src := []byte(out)
		for name, a := range attrs {
			body += name + " = " + sourceOf(src, a.Expr) + "\n"
		}
		encoded, val, err := nomadhost.EncodeConfig(schema.GetSpec(), body, nil)
		if err != nil {
			t.Fatalf("%s: the plugin's ConfigSchema refuses the block: %v\n%s", format, err, body)
		}
		if val.GetAttr("store").AsString() != "s3://ci/deckhand" {
			t.Fatalf("%s: store %#v", format, val)
		}
		if _, err := p.Base.SetConfig(ctx(t), &base.SetConfigRequest{MsgpackConfig: encoded, PluginApiVersion: "0.1.0"}); err != nil {
			t.Fatalf("%s: SetConfig: %v", format, err)
		}
	}
	h, j := forms["hcl"], forms["json"]
	if h.Client.Reserved != j.Client.Reserved || h.Client.Drain != j.Client.Drain || *h.TLS != *j.TLS || h.DataDir != j.DataDir || strings.Join(h.Client.Servers, ",") != strings.Join(j.Client.Servers, ",") {
		t.Fatalf("HCL and JSON differ: %+v / %+v", h, j)
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
