# As CircleCI Server's hardening guide lists them: the clients take Nomad's RPC (4647) from the
# servers and SSH into builds (64535-65535) from engineers, nothing else; VMs (vm_tag) take 22 and
# 2376 from the clients; the output processor (output_processor_tag) takes 8585 from the clients.
# A VPC denies other ingress by its implied rule; egress stays open.

resource "google_compute_firewall" "nomad_rpc" {
  project       = var.project
  name          = "${var.name}-client-nomad-rpc"
  network       = var.network
  direction     = "INGRESS"
  source_ranges = var.nomad_server_cidrs
  target_tags   = [local.client_tag]
  allow {
    protocol = "tcp"
    ports    = ["4647"]
  }
}

resource "google_compute_firewall" "ssh_into_builds" {
  count         = length(var.ssh_cidrs) > 0 ? 1 : 0
  project       = var.project
  name          = "${var.name}-client-ssh-into-builds"
  network       = var.network
  direction     = "INGRESS"
  source_ranges = var.ssh_cidrs
  target_tags   = [local.client_tag]
  allow {
    protocol = "tcp"
    ports    = ["64535-65535"]
  }
}

resource "google_compute_firewall" "vm_from_clients" {
  count       = var.vm_tag == "" ? 0 : 1
  project     = var.project
  name        = "${var.name}-vm-from-clients"
  network     = var.network
  direction   = "INGRESS"
  source_tags = [local.client_tag]
  target_tags = [var.vm_tag]
  allow {
    protocol = "tcp"
    ports    = ["22", "2376"]
  }
}

resource "google_compute_firewall" "output_processor_from_clients" {
  count       = var.output_processor_tag == "" ? 0 : 1
  project     = var.project
  name        = "${var.name}-output-processor-from-clients"
  network     = var.network
  direction   = "INGRESS"
  source_tags = [local.client_tag]
  target_tags = [var.output_processor_tag]
  allow {
    protocol = "tcp"
    ports    = ["8585"]
  }
}
