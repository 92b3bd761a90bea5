# A fleet of Nomad clients for Deckhand jobs (docs/fleet.md): the client image (packer/client)
# launched by an autoscaling group, configured at boot from its user data, scaled down outside
# working hours, and drained by `deckhand nomad drain --self` before an instance goes away.

locals {
  group_name     = "${var.name}-clients"
  lifecycle_hook = "${var.name}-drain"
  store          = var.blob_store_bucket == "" ? "" : "s3://${var.blob_store_bucket}/${var.blob_store_prefix}"
  tags           = merge({ ManagedBy = "deckhand", "deckhand:fleet" = var.name }, var.tags)
  client_tags    = merge(local.tags, { Name = "${var.name}-client" })
  tls            = var.nomad_tls == null ? { ca = "", cert = "", key = "" } : var.nomad_tls
}

resource "aws_launch_template" "client" {
  name_prefix            = "${var.name}-client-"
  image_id               = var.client_image_id
  instance_type          = var.instance_type
  vpc_security_group_ids = [aws_security_group.client.id]
  user_data = base64encode(templatefile("${path.module}/user-data.sh.tftpl", {
    servers                 = join(",", var.nomad_servers)
    datacenter              = var.datacenter
    node_class              = var.node_class
    store                   = local.store
    output_processor        = var.output_processor
    output_processor_secret = var.output_processor_secret
    drain_deadline          = "${var.drain_deadline_minutes}m"
    tls_ca                  = local.tls.ca
    tls_cert                = local.tls.cert
    tls_key                 = local.tls.key
    autoscaling_group       = local.group_name
    lifecycle_hook          = local.lifecycle_hook
  }))

  iam_instance_profile {
    arn = aws_iam_instance_profile.client.arn
  }

  # IMDSv2 only, one hop: job containers, a hop further, get no token from the metadata service
  # (the firewall of the image refuses them 169.254.0.0/16 as well)
  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
    instance_metadata_tags      = "disabled"
  }

  block_device_mappings {
    device_name = "/dev/xvda"
    ebs {
      volume_size           = var.root_volume_gb
      volume_type           = "gp3"
      encrypted             = true
      delete_on_termination = true
    }
  }

  tag_specifications {
    resource_type = "instance"
    tags          = local.client_tags
  }
  tag_specifications {
    resource_type = "volume"
    tags          = local.tags
  }
  tags = local.tags
}

resource "aws_autoscaling_group" "clients" {
  name                      = local.group_name
  vpc_zone_identifier       = var.subnet_ids
  min_size                  = var.min_size
  max_size                  = var.max_size
  desired_capacity          = var.desired_capacity
  wait_for_capacity_timeout = var.wait_for_capacity_timeout
  health_check_type         = "EC2"

  launch_template {
    id      = aws_launch_template.client.id
    version = aws_launch_template.client.latest_version
  }

  dynamic "tag" {
    for_each = local.client_tags
    content {
      key                 = tag.key
      value               = tag.value
      propagate_at_launch = true
    }
  }

  lifecycle {
    # the schedule (and any autoscaler) moves the capacity; apply must not move it back
    ignore_changes = [desired_capacity]
  }
}

# Holds a terminating instance while deckhand-lifecycle (enabled by the user data) drains it and
# completes the action; CONTINUE when the instance never answers.
resource "aws_autoscaling_lifecycle_hook" "drain" {
  name                   = local.lifecycle_hook
  autoscaling_group_name = aws_autoscaling_group.clients.name
  lifecycle_transition   = "autoscaling:EC2_INSTANCE_TERMINATING"
  heartbeat_timeout      = (var.drain_deadline_minutes + 5) * 60
  default_result         = "CONTINUE"
}

resource "aws_autoscaling_schedule" "working_hours_start" {
  count                  = var.scale_schedule == null ? 0 : 1
  scheduled_action_name  = "${var.name}-working-hours-start"
  autoscaling_group_name = aws_autoscaling_group.clients.name
  recurrence             = var.scale_schedule.working_hours_start
  time_zone              = var.scale_schedule.time_zone
  min_size               = var.min_size
  max_size               = var.max_size
  desired_capacity       = var.desired_capacity
}

resource "aws_autoscaling_schedule" "working_hours_end" {
  count                  = var.scale_schedule == null ? 0 : 1
  scheduled_action_name  = "${var.name}-working-hours-end"
  autoscaling_group_name = aws_autoscaling_group.clients.name
  recurrence             = var.scale_schedule.working_hours_end
  time_zone              = var.scale_schedule.time_zone
  min_size               = var.scale_schedule.off_hours_size
  max_size               = var.max_size
  desired_capacity       = var.scale_schedule.off_hours_size
}
