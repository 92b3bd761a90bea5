# The Nomad client image of a Deckhand fleet (docs/fleet.md): Docker engine with userns-remap,
# Nomad, Deckhand and its task driver plugin, the firewall for job containers, the client
# configuration rendered at boot by `deckhand nomad client-config`, and a drain on shutdown.
# Sources: amazon-ebs (an AMI), googlecompute (a GCE image) and docker (a local image, from a local
# base with pull = false). Run packer/stage.sh first; then, from this folder:
#   packer build -only=docker.client .        (or amazon-ebs.client, googlecompute.client)

packer {
  required_version = ">= 1.6.6"
}

variable "stage_dir" {
  type        = string
  default     = ""
  description = "What packer/stage.sh gathered (Deckhand, its plugin, Node.js); empty: packer/.stage."
}

variable "nomad_version" {
  type        = string
  default     = "1.10.5"
  description = "Nomad installed from releases.hashicorp.com (checked against its SHA256SUMS); empty: none (the docker source's tests)."
}

variable "image_name" {
  type        = string
  default     = "deckhand-client"
  description = "Prefix of the AMI and GCE image names (a timestamp is appended)."
}

variable "aws_region" {
  type    = string
  default = "us-east-1"
}

variable "aws_instance_type" {
  type    = string
  default = "m5.large"
}

variable "aws_source_ami_name" {
  type        = string
  default     = "debian-12-amd64-*"
  description = "Name pattern of the base AMI; the newest match of aws_source_ami_owner is used."
}

variable "aws_source_ami_owner" {
  type        = string
  default     = "136693071363"
  description = "Debian's AWS account."
}

variable "aws_subnet_id" {
  type        = string
  default     = ""
  description = "Where the build instance runs (empty: the default VPC)."
}

variable "gcp_project_id" {
  type    = string
  default = "my-project"
}

variable "gcp_zone" {
  type    = string
  default = "us-central1-a"
}

variable "gcp_machine_type" {
  type    = string
  default = "e2-standard-2"
}

variable "gcp_source_image_family" {
  type    = string
  default = "debian-12"
}

variable "docker_image" {
  type        = string
  default     = "deckhand-test/debian:bookworm"
  description = "The docker source's base image, used as it is on the local engine (never pulled)."
}

variable "docker_repository" {
  type    = string
  default = "deckhand/client"
}

variable "docker_tag" {
  type    = string
  default = "latest"
}

locals {
  stage     = var.stage_dir != "" ? var.stage_dir : "${path.root}/../.stage"
  files     = "${path.root}/../files/client"
  scripts   = "${path.root}/../scripts"
  timestamp = regex_replace(timestamp(), "[- TZ:]", "")
}

source "amazon-ebs" "client" {
  region        = var.aws_region
  instance_type = var.aws_instance_type
  subnet_id     = var.aws_subnet_id
  ssh_username  = "admin"
  ami_name      = "${var.image_name}-${local.timestamp}"
  source_ami_filter {
    filters = {
      name                = var.aws_source_ami_name
      virtualization-type = "hvm"
      root-device-type    = "ebs"
    }
    owners      = [var.aws_source_ami_owner]
    most_recent = true
  }
  tags = {
    Name      = var.image_name
    ManagedBy = "deckhand"
    Role      = "nomad-client"
  }
}

source "googlecompute" "client" {
  project_id          = var.gcp_project_id
  zone                = var.gcp_zone
  machine_type        = var.gcp_machine_type
  source_image_family = var.gcp_source_image_family
  ssh_username        = "packer"
  image_name          = "${var.image_name}-${local.timestamp}"
  image_family        = var.image_name
  image_labels = {
    managed-by = "deckhand"
    role       = "nomad-client"
  }
}

source "docker" "client" {
  image  = var.docker_image
  pull   = false
  commit = true
  # the build container carries Deckhand's label, as every container Deckhand makes does
  run_command = ["-d", "-i", "-t", "--label", "com.deckhand.packer=client", "--entrypoint=/bin/sh", "--", "{{.Image}}"]
  changes = [
    "LABEL com.deckhand.image=nomad-client",
    "ENTRYPOINT [\"/usr/bin/env\"]",
    "CMD [\"bash\"]",
  ]
}

build {
  sources = ["source.amazon-ebs.client", "source.googlecompute.client", "source.docker.client"]

  provisioner "shell" {
    inline = ["mkdir -p /tmp/deckhand-stage /tmp/deckhand-files"]
  }
  provisioner "file" {
    source      = "${local.stage}/"
    destination = "/tmp/deckhand-stage"
  }
  provisioner "file" {
    source      = "${local.files}/"
    destination = "/tmp/deckhand-files"
  }
  provisioner "file" {
    source      = "${local.scripts}/enable-unit.sh"
    destination = "/tmp/deckhand-enable-unit.sh"
  }
  provisioner "shell" {
    scripts          = ["${local.scripts}/install-deckhand.sh", "${local.scripts}/client.sh"]
    environment_vars = ["NOMAD_VERSION=${var.nomad_version}"]
    # root already in a container; sudo on a cloud instance's login user
    execute_command = "chmod +x {{ .Path }}; if [ \"$(id -u)\" -eq 0 ]; then {{ .Vars }} sh {{ .Path }}; else sudo {{ .Vars }} sh {{ .Path }}; fi"
  }

  post-processor "docker-tag" {
    only       = ["docker.client"]
    repository = var.docker_repository
    tags       = [var.docker_tag]
  }
}
