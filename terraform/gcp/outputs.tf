output "instance_group_manager" {
  description = "The clients' regional managed instance group."
  value       = google_compute_region_instance_group_manager.clients.id
}

output "instance_template" {
  description = "The clients' instance template."
  value       = google_compute_instance_template.client.id
}

output "client_tag" {
  description = "The clients' network tag (for the firewall rules of other services)."
  value       = local.client_tag
}

output "client_service_account" {
  description = "The clients' service account (it has no roles of its own: grant what the store needs)."
  value       = google_service_account.client.email
}
