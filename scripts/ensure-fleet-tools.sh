#!/usr/bin/env bash
# What the fleet tests (test/fleet/: packer/ and terraform/) need, installed when missing:
#   packer      Debian's package (1.6.6), which reads every template under packer/ and builds their
#               docker sources on the local engine
#   terraform   with the hashicorp/aws provider as a local filesystem mirror: this script cannot
#               fetch either (releases.hashicorp.com is not a package registry), so it checks that
#               they are there and says how to provide them. DECKHAND_TF_PLUGIN_DIR names the
#               mirror (the folder that holds registry.terraform.io/); by default it is looked for.
set -euo pipefail

if ! command -v packer >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "ensure-fleet-tools: packer is missing; install it with 'sudo apt-get install packer'" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends packer >/dev/null 2>&1 || {
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends packer >/dev/null
  }
fi

command -v terraform >/dev/null 2>&1 || {
  echo "ensure-fleet-tools: terraform is not on PATH; install Terraform >= 1.5 (https://developer.hashicorp.com/terraform/install)" >&2
  exit 1
}
mirror=${DECKHAND_TF_PLUGIN_DIR:-}
for dir in /opt/tf-plugins "$HOME/.terraform.d/plugins" /usr/share/terraform/plugins /usr/local/share/terraform/plugins; do
  [ -n "$mirror" ] || [ ! -d "$dir/registry.terraform.io/hashicorp/aws" ] || mirror=$dir
done
if [ -z "$mirror" ]; then
  provider=$(find / -xdev -path '*/registry.terraform.io/hashicorp/aws/*' -name 'terraform-provider-aws_*' -print -quit 2>/dev/null || :)
  [ -n "$provider" ] && mirror=${provider%%/registry.terraform.io/*}
fi
[ -n "$mirror" ] && [ -d "$mirror/registry.terraform.io/hashicorp/aws" ] || {
  echo "ensure-fleet-tools: no hashicorp/aws provider mirror found; make one with 'terraform providers mirror DIR' where the registry is reachable and set DECKHAND_TF_PLUGIN_DIR=DIR" >&2
  exit 1
}
