// hcl-outline prints, as JSON, the outline of the Terraform files of a folder (or of one HCL file
// of any name) as HashiCorp's HCL parser reads them: every block with its labels, every attribute
// with its value when it is a constant and the references it makes, and the variables each .tftpl
// template uses. The fleet tests check terraform/gcp with it, where no google provider is at hand
// for terraform validate, and the Nomad configuration files of the client image.
//
//	go run . DIR|FILE
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	ctyjson "github.com/zclconf/go-cty/cty/json"
)

type attribute struct {
	Value      json.RawMessage `json:"value,omitempty"`
	References []string        `json:"references"`
}

type block struct {
	Type       string               `json:"type"`
	Labels     []string             `json:"labels"`
	Attributes map[string]attribute `json:"attributes"`
	Blocks     []block              `json:"blocks"`
}

type outline struct {
	Files      []string             `json:"files"`
	Attributes map[string]attribute `json:"attributes"`
	Blocks     []block              `json:"blocks"`
	Templates  map[string][]string  `json:"templates"`
}

// references names what an expression reads: var.x, local.y, TYPE.NAME, data.TYPE.NAME, each.key …
func references(e hcl.Expression) []string {
	out := []string{}
	for _, t := range e.Variables() {
		parts := []string{t.RootName()}
		for _, step := range t[1:] {
			attr, ok := step.(hcl.TraverseAttr)
			if !ok || len(parts) == 3 {
				break
			}
			parts = append(parts, attr.Name)
			if parts[0] != "data" && len(parts) == 2 {
				break
			}
		}
		out = append(out, strings.Join(parts, "."))
	}
	sort.Strings(out)
	return out
}

func constant(e hcl.Expression) json.RawMessage {
	if len(e.Variables()) > 0 {
		return nil
	}
	v, diags := e.Value(nil)
	if diags.HasErrors() || !v.IsWhollyKnown() {
		return nil
	}
	b, err := ctyjson.Marshal(v, v.Type())
	if err != nil {
		return nil
	}
	return b
}

func walk(body *hclsyntax.Body) ([]block, map[string]attribute) {
	attrs := map[string]attribute{}
	for name, a := range body.Attributes {
		attrs[name] = attribute{Value: constant(a.Expr), References: references(a.Expr)}
	}
	blocks := []block{}
	for _, b := range body.Blocks {
		inner, innerAttrs := walk(b.Body)
		blocks = append(blocks, block{Type: b.Type, Labels: append([]string{}, b.Labels...), Attributes: innerAttrs, Blocks: inner})
	}
	return blocks, attrs
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "hcl-outline: "+format+"\n", args...)
	os.Exit(1)
}

func main() {
	if len(os.Args) != 2 {
		fail("usage: hcl-outline DIR|FILE")
	}
	dir := os.Args[1]
	out := outline{Files: []string{}, Attributes: map[string]attribute{}, Blocks: []block{}, Templates: map[string][]string{}}
	var tf []string
	if info, err := os.Stat(dir); err == nil && !info.IsDir() {
		tf = []string{dir}
		dir = filepath.Dir(dir)
	} else {
		tf, _ = filepath.Glob(filepath.Join(dir, "*.tf"))
		sort.Strings(tf)
	}
	for _, file := range tf {
		src, err := os.ReadFile(file)
		if err != nil {
			fail("%v", err)
		}
		parsed, diags := hclsyntax.ParseConfig(src, file, hcl.InitialPos)
		if diags.HasErrors() {
			fail("%s", diags.Error())
		}
		blocks, attrs := walk(parsed.Body.(*hclsyntax.Body))
		if len(attrs) > 0 && filepath.Ext(file) == ".tf" {
			fail("%s: attributes outside any block", file)
		}
		for name, a := range attrs {
			out.Attributes[name] = a
		}
		out.Files = append(out.Files, filepath.Base(file))
		out.Blocks = append(out.Blocks, blocks...)
	}
	templates := []string{}
	if len(tf) != 1 || filepath.Ext(tf[0]) == ".tf" {
		templates, _ = filepath.Glob(filepath.Join(dir, "*.tftpl"))
	}
	for _, file := range templates {
		src, err := os.ReadFile(file)
		if err != nil {
			fail("%v", err)
		}
		expr, diags := hclsyntax.ParseTemplate(src, file, hcl.InitialPos)
		if diags.HasErrors() {
			fail("%s", diags.Error())
		}
		out.Templates[filepath.Base(file)] = references(expr)
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", " ")
	if err := enc.Encode(out); err != nil {
		fail("%v", err)
	}
}
