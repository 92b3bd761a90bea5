output "autoscaling_group_name" {
  description = "The clients' autoscaling group."
  value       = aws_autoscaling_group.clients.name
}

output "launch_template_id" {
  description = "The clients' launch template (its latest version is the group's)."
  value       = aws_launch_template.client.id
}

output "client_security_group_id" {
  description = "The clients' security group."
  value       = aws_security_group.client.id
}

output "vm_security_group_id" {
  description = "aws VM provider: the VMs' security group, for securityGroupIds of its settings (docs/machine.md); null otherwise."
  value       = var.vm_provider == "aws" ? aws_security_group.vm[0].id : null
}

output "client_role_arn" {
  description = "The clients' instance role."
  value       = aws_iam_role.client.arn
}

output "drain_lifecycle_hook" {
  description = "The termination lifecycle hook the clients complete after draining."
  value       = aws_autoscaling_lifecycle_hook.drain.name
}
