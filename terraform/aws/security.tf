# As CircleCI Server's hardening guide lists them: the clients take Nomad's RPC (4647) from the
# servers and SSH into builds (64535-65535) from engineers, nothing else; the VMs of the aws VM
# provider take SSH (22) and remote Docker's TLS engine (2376) from the clients only; the output
# processor takes 8585 from the clients. Outbound stays open (images, the store, Nomad's servers).

resource "aws_security_group" "client" {
  name_prefix = "${var.name}-client-"
  description = "Deckhand Nomad clients"
  vpc_id      = var.vpc_id
  tags        = local.client_tags
  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_security_group_rule" "client_nomad_rpc" {
  security_group_id = aws_security_group.client.id
  description       = "Nomad RPC from the servers"
  type              = "ingress"
  protocol          = "tcp"
  from_port         = 4647
  to_port           = 4647
  cidr_blocks       = var.nomad_server_cidrs
}

resource "aws_security_group_rule" "client_ssh_into_builds" {
  count             = length(var.ssh_cidrs) > 0 ? 1 : 0
  security_group_id = aws_security_group.client.id
  description       = "SSH into builds from engineers"
  type              = "ingress"
  protocol          = "tcp"
  from_port         = 64535
  to_port           = 65535
  cidr_blocks       = var.ssh_cidrs
}

resource "aws_security_group_rule" "client_egress" {
  security_group_id = aws_security_group.client.id
  description       = "everything outbound"
  type              = "egress"
  protocol          = "-1"
  from_port         = 0
  to_port           = 0
  cidr_blocks       = ["0.0.0.0/0"]
}

resource "aws_security_group" "vm" {
  count       = var.vm_provider == "aws" ? 1 : 0
  name_prefix = "${var.name}-vm-"
  description = "Deckhand VMs for machine jobs and remote Docker"
  vpc_id      = var.vpc_id
  tags        = merge(local.tags, { Name = "${var.name}-vm" })
  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_security_group_rule" "vm_from_clients" {
  for_each                 = var.vm_provider == "aws" ? { ssh = 22, docker_tls = 2376 } : {}
  security_group_id        = aws_security_group.vm[0].id
  description              = each.key == "ssh" ? "SSH from the clients" : "remote Docker (TLS) from the clients"
  type                     = "ingress"
  protocol                 = "tcp"
  from_port                = each.value
  to_port                  = each.value
  source_security_group_id = aws_security_group.client.id
}

resource "aws_security_group_rule" "vm_egress" {
  count             = var.vm_provider == "aws" ? 1 : 0
  security_group_id = aws_security_group.vm[0].id
  description       = "everything outbound"
  type              = "egress"
  protocol          = "-1"
  from_port         = 0
  to_port           = 0
  cidr_blocks       = ["0.0.0.0/0"]
}

resource "aws_security_group_rule" "output_processor_from_clients" {
  count                    = var.output_processor_security_group_id == "" ? 0 : 1
  security_group_id        = var.output_processor_security_group_id
  description              = "Deckhand job output from the clients"
  type                     = "ingress"
  protocol                 = "tcp"
  from_port                = 8585
  to_port                  = 8585
  source_security_group_id = aws_security_group.client.id
}
