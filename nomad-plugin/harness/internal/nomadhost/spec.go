package nomadhost

import (
	"fmt"

	"deckhand.dev/nomad-plugin/harness/internal/pb/hclspec"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	ctymsgpack "github.com/zclconf/go-cty/cty/msgpack"
)

// DecSpec turns a plugin's spec into an HCL decoder spec, as Nomad's hclspecutils does.
func DecSpec(s *hclspec.Spec) (hcldec.Spec, error) {
	switch b := s.GetBlock().(type) {
	case *hclspec.Spec_Object:
		obj := hcldec.ObjectSpec{}
		for name, inner := range b.Object.GetAttributes() {
			dec, err := decNamed(inner, name)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			obj[name] = dec
		}
		return obj, nil
	case *hclspec.Spec_Attr:
		return decAttr(b.Attr, "")
	case *hclspec.Spec_Default:
		primary, err := DecSpec(b.Default.GetPrimary())
		if err != nil {
			return nil, err
		}
		def, err := DecSpec(b.Default.GetDefault())
		if err != nil {
			return nil, err
		}
		return &hcldec.DefaultSpec{Primary: primary, Default: def}, nil
	case *hclspec.Spec_Literal:
		expr, diags := hclsyntax.ParseExpression([]byte(b.Literal.GetValue()), "literal", hcl.Pos{Line: 1, Column: 1})
		if diags.HasErrors() {
			return nil, diags
		}
		v, diags := expr.Value(nil)
		if diags.HasErrors() {
			return nil, diags
		}
		return &hcldec.LiteralSpec{Value: v}, nil
	case *hclspec.Spec_BlockValue:
		nested, err := DecSpec(b.BlockValue.GetNested())
		if err != nil {
			return nil, err
		}
		return &hcldec.BlockSpec{TypeName: b.BlockValue.GetName(), Required: b.BlockValue.GetRequired(), Nested: nested}, nil
	}
	return nil, fmt.Errorf("spec kind %T is not used by the deckhand plugin", s.GetBlock())
}

// decNamed is an object member: an attribute without a name takes the key.
func decNamed(s *hclspec.Spec, key string) (hcldec.Spec, error) {
	if a, ok := s.GetBlock().(*hclspec.Spec_Attr); ok {
		return decAttr(a.Attr, key)
	}
	if d, ok := s.GetBlock().(*hclspec.Spec_Default); ok {
		primary, err := decNamed(d.Default.GetPrimary(), key)
		if err != nil {
			return nil, err
		}
		def, err := DecSpec(d.Default.GetDefault())
		if err != nil {
			return nil, err
		}
		return &hcldec.DefaultSpec{Primary: primary, Default: def}, nil
	}
	return DecSpec(s)
}

func decAttr(a *hclspec.Attr, key string) (hcldec.Spec, error) {
	expr, diags := hclsyntax.ParseExpression([]byte(a.GetType()), "type", hcl.Pos{Line: 1, Column: 1})
	if diags.HasErrors() {
		return nil, diags
	}
	t, diags := typeexpr.TypeConstraint(expr)
	if diags.HasErrors() {
		return nil, diags
	}
	name := a.GetName()
	if name == "" {
		name = key
	}
	return &hcldec.AttrSpec{Name: name, Type: t, Required: a.GetRequired()}, nil
}

// EncodeConfig decodes an HCL block body (the text between its braces) with the plugin's spec
// and encodes the value as Nomad sends it: go-cty msgpack of the value's own type. vars are the
// variables interpolation sees (the task's environment for a task config).
func EncodeConfig(s *hclspec.Spec, body string, vars map[string]string) ([]byte, cty.Value, error) {
	dec, err := DecSpec(s)
	if err != nil {
		return nil, cty.NilVal, err
	}
	file, diags := hclsyntax.ParseConfig([]byte(body), "config.hcl", hcl.Pos{Line: 1, Column: 1})
	if diags.HasErrors() {
		return nil, cty.NilVal, diags
	}
	ctx := &hcl.EvalContext{Variables: map[string]cty.Value{}}
	for k, v := range vars {
		ctx.Variables[k] = cty.StringVal(v)
	}
	val, diags := hcldec.Decode(file.Body, dec, ctx)
	if diags.HasErrors() {
		return nil, cty.NilVal, diags
	}
	b, err := ctymsgpack.Marshal(val, val.Type())
	return b, val, err
}
