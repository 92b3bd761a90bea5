# A fleet of Nomad clients for Deckhand jobs on GCP (docs/fleet.md): the client image
# (packer/client, googlecompute source) in a regional managed instance group, configured at boot by
# its startup script, scaled by an autoscaler whose schedule keeps working_hours_size clients
# during working hours. A managed instance group has no lifecycle hooks: a client being removed is
# drained on shutdown by the image's deckhand-drain.service and Nomad's drain_on_shutdown.

locals {
  client_tag = "${var.name}-client"
  tls        = var.nomad_tls == null ? { ca = "", cert = "", key = "" } : var.nomad_tls
  labels     = merge({ managed-by = "deckhand", deckhand-fleet = var.name }, var.labels)
}

resource "google_service_account" "client" {
  project      = var.project
  account_id   = "${var.name}-client"
  display_name = "Deckhand Nomad clients"
}

resource "google_compute_instance_template" "client" {
  project      = var.project
  name_prefix  = "${var.name}-client-"
  machine_type = var.machine_type
  tags         = [local.client_tag]
  labels       = local.labels

  disk {
    source_image = var.client_image
    disk_size_gb = var.disk_size_gb
    disk_type    = "pd-balanced"
    boot         = true
    auto_delete  = true
    labels       = local.labels
  }

  network_interface {
    subnetwork = var.subnetwork
    dynamic "access_config" {
      for_each = var.public_address ? [1] : []
      content {}
    }
  }

  metadata = {
    block-project-ssh-keys = "true"
    startup-script = templatefile("${path.module}/startup-script.sh.tftpl", {
      servers                 = join(",", var.nomad_servers)
      datacenter              = var.datacenter
      node_class              = var.node_class
      store                   = var.store
      output_processor        = var.output_processor
      output_processor_secret = var.output_processor_secret
      drain_deadline          = "${var.drain_deadline_minutes}m"
      tls_ca                  = local.tls.ca
      tls_cert                = local.tls.cert
      tls_key                 = local.tls.key
    })
  }

  service_account {
    email  = google_service_account.client.email
    scopes = ["cloud-platform"]
  }

  shielded_instance_config {
    enable_secure_boot          = true
    enable_integrity_monitoring = true
  }

  lifecycle {
    create_before_destroy = true
  }
}

resource "google_compute_region_instance_group_manager" "clients" {
  project            = var.project
  name               = "${var.name}-clients"
  region             = var.region
  base_instance_name = local.client_tag

  version {
    instance_template = google_compute_instance_template.client.id
  }

  update_policy {
    type                  = "PROACTIVE"
    minimal_action        = "REPLACE"
    max_unavailable_fixed = 3
    max_surge_fixed       = 3
  }
}

resource "google_compute_region_autoscaler" "clients" {
  project = var.project
  name    = "${var.name}-clients"
  region  = var.region
  target  = google_compute_region_instance_group_manager.clients.id

  autoscaling_policy {
    min_replicas    = var.min_size
    max_replicas    = var.max_size
    cooldown_period = 120

    cpu_utilization {
      target = 0.7
    }

    dynamic "scaling_schedules" {
      for_each = var.scale_schedule == null ? [] : [var.scale_schedule]
      content {
        name                  = "${var.name}-working-hours"
        min_required_replicas = var.working_hours_size
        schedule              = scaling_schedules.value.working_hours_start
        time_zone             = scaling_schedules.value.time_zone
        duration_sec          = scaling_schedules.value.duration_hours * 3600
      }
    }
  }
}
