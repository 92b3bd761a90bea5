//go:build tools

package harness

import (
	_ "github.com/hashicorp/go-plugin"
	_ "github.com/hashicorp/hcl/v2"
	_ "github.com/hashicorp/nomad/api"
	_ "github.com/zclconf/go-cty/cty"
)
