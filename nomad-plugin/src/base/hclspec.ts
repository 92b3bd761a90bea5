/**
 * Building the HCL specs a Nomad plugin returns from ConfigSchema and TaskConfigSchema: Nomad
 * turns them into an HCL decoder spec, decodes the operator's block with it, and sends the result
 * back msgpack-encoded. The shapes are those of Nomad's hclspec messages
 * (https://github.com/hashicorp/nomad/tree/main/plugins/shared/hclspec); an attribute's type is an
 * HCL type expression (string, number, bool, list(string), map(string)).
 */
export type Spec =
  | { object: { attributes: Record<string, Spec> } }
  | { Attr: { name: string; type: string; required: boolean } }
  | { default: { primary: Spec; default: Spec } }
  | { literal: { value: string } };

export function object(attributes: Record<string, Spec>): Spec {
  return { object: { attributes } };
}

export function attr(name: string, type: string, required = false): Spec {
  return { Attr: { name, type, required } };
}

/** An attribute with a default: `value` is an HCL expression (strings quoted: JSON.stringify works). */
export function withDefault(primary: Spec, value: string): Spec {
  return { default: { primary, default: { literal: { value } } } };
}
