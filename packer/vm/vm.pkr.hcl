# The VM image for `machine` jobs and remote Docker (docs/fleet.md, docs/machine.md): sshd with
# public keys only, the Docker engine (on 2376 with TLS once setup_remote_docker asks), git, and the
# `circleci` user; the same recipe as images/vm/, whose files it installs. Sources: amazon-ebs (the
# AMI of the aws VM provider's settings), googlecompute, and docker (a local image, from a local
# base with pull = false). From this folder:
#   packer build -only=docker.vm .        (or amazon-ebs.vm, googlecompute.vm)

packer {
  required_version = ">= 1.6.6"
}

variable "image_name" {
  type        = string
  default     = "deckhand-vm"
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
  description = "Name pattern of the base AMI (it must have cloud-init); the newest match of aws_source_ami_owner is used."
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
  default = "deckhand/vm"
}

variable "docker_tag" {
  type    = string
  default = "latest"
}

locals {
  files     = "${path.root}/../../images/vm"
  scripts   = "${path.root}/../scripts"
  timestamp = regex_replace(timestamp(), "[- TZ:]", "")
}

source "amazon-ebs" "vm" {
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
    Role      = "machine-vm"
  }
}

source "googlecompute" "vm" {
  project_id          = var.gcp_project_id
  zone                = var.gcp_zone
  machine_type        = var.gcp_machine_type
  source_image_family = var.gcp_source_image_family
  ssh_username        = "packer"
  image_name          = "${var.image_name}-${local.timestamp}"
  image_family        = var.image_name
  image_labels = {
    managed-by = "deckhand"
    role       = "machine-vm"
  }
}

source "docker" "vm" {
  image       = var.docker_image
  pull        = false
  commit      = true
  run_command = ["-d", "-i", "-t", "--label", "com.deckhand.packer=vm", "--entrypoint=/bin/sh", "--", "{{.Image}}"]
  # as images/vm/Dockerfile: tini reaps what steps leave behind, then sshd in the foreground
  changes = [
    "LABEL com.deckhand.image=machine-vm",
    "EXPOSE 22",
    "ENTRYPOINT [\"/usr/bin/tini\", \"--\", \"/usr/local/bin/deckhand-vm-entrypoint\"]",
    "CMD []",
  ]
}

build {
  sources = ["source.amazon-ebs.vm", "source.googlecompute.vm", "source.docker.vm"]

  provisioner "shell" {
    inline = ["mkdir -p /tmp/deckhand-files"]
  }
  # the docker provider installs the login key as uid 1000, CircleCI's `circleci`: the local base
  # image's own account there makes way, as images/vm/Dockerfile has it
  provisioner "shell" {
    only   = ["docker.vm"]
    inline = ["if id user >/dev/null 2>&1; then userdel --remove user; fi"]
  }
  provisioner "file" {
    source      = "${local.files}/"
    destination = "/tmp/deckhand-files"
  }
  provisioner "shell" {
    scripts         = ["${local.scripts}/vm.sh"]
    execute_command = "chmod +x {{ .Path }}; if [ \"$(id -u)\" -eq 0 ]; then {{ .Vars }} sh {{ .Path }}; else sudo {{ .Vars }} sh {{ .Path }}; fi"
  }

  post-processor "docker-tag" {
    only       = ["docker.vm"]
    repository = var.docker_repository
    tags       = [var.docker_tag]
  }
}
