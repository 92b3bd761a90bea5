# The clients' instance role: the blob store's bucket (under its prefix) only; completing the drain
# lifecycle hook of their own group; and, for the aws VM provider, launching instances only tagged
# ManagedBy=deckhand in the VM subnets and security group, and re-tagging and terminating only such
# instances (the policy of docs/machine.md).

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "client" {
  name_prefix        = "${var.name}-client-"
  assume_role_policy = data.aws_iam_policy_document.assume.json
  tags               = local.tags
}

resource "aws_iam_instance_profile" "client" {
  name_prefix = "${var.name}-client-"
  role        = aws_iam_role.client.name
  tags        = local.tags
}

locals {
  vm_subnet_ids = length(var.vm_subnet_ids) > 0 ? var.vm_subnet_ids : var.subnet_ids
  tagged        = ["arn:aws:ec2:*:*:instance/*", "arn:aws:ec2:*:*:volume/*"]
}

data "aws_iam_policy_document" "client" {
  statement {
    sid       = "CompleteOwnDrainHook"
    actions   = ["autoscaling:CompleteLifecycleAction"]
    resources = [aws_autoscaling_group.clients.arn]
  }

  dynamic "statement" {
    for_each = var.blob_store_bucket == "" ? [] : [1]
    content {
      sid       = "ListStorePrefix"
      actions   = ["s3:ListBucket"]
      resources = ["arn:aws:s3:::${var.blob_store_bucket}"]
      condition {
        test     = "StringLike"
        variable = "s3:prefix"
        values   = ["${var.blob_store_prefix}/*"]
      }
    }
  }
  dynamic "statement" {
    for_each = var.blob_store_bucket == "" ? [] : [1]
    content {
      sid       = "ReadWriteStore"
      actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
      resources = ["arn:aws:s3:::${var.blob_store_bucket}/${var.blob_store_prefix}/*"]
    }
  }

  dynamic "statement" {
    for_each = var.vm_provider == "aws" ? [1] : []
    content {
      sid     = "LaunchFromTheseResources"
      actions = ["ec2:RunInstances"]
      resources = concat(
        ["arn:aws:ec2:*::image/ami-*", "arn:aws:ec2:*:*:network-interface/*", aws_security_group.vm[0].arn],
        [for s in local.vm_subnet_ids : "arn:aws:ec2:*:*:subnet/${s}"],
      )
    }
  }
  dynamic "statement" {
    for_each = var.vm_provider == "aws" ? [1] : []
    content {
      sid       = "LaunchOnlyTagged"
      actions   = ["ec2:RunInstances"]
      resources = local.tagged
      condition {
        test     = "StringEquals"
        variable = "aws:RequestTag/ManagedBy"
        values   = ["deckhand"]
      }
    }
  }
  dynamic "statement" {
    for_each = var.vm_provider == "aws" ? [1] : []
    content {
      sid       = "TagWhileLaunching"
      actions   = ["ec2:CreateTags"]
      resources = local.tagged
      condition {
        test     = "StringEquals"
        variable = "ec2:CreateAction"
        values   = ["RunInstances"]
      }
    }
  }
  dynamic "statement" {
    for_each = var.vm_provider == "aws" ? [1] : []
    content {
      sid       = "RetagDeckhandInstances"
      actions   = ["ec2:CreateTags"]
      resources = ["arn:aws:ec2:*:*:instance/*"]
      condition {
        test     = "StringEquals"
        variable = "aws:ResourceTag/ManagedBy"
        values   = ["deckhand"]
      }
      condition {
        test     = "ForAllValues:StringLike"
        variable = "aws:TagKeys"
        values   = ["deckhand:*", "Name"]
      }
    }
  }
  dynamic "statement" {
    for_each = var.vm_provider == "aws" ? [1] : []
    content {
      sid       = "ListInstances"
      actions   = ["ec2:DescribeInstances"]
      resources = ["*"]
    }
  }
  dynamic "statement" {
    for_each = var.vm_provider == "aws" ? [1] : []
    content {
      sid       = "TerminateOnlyDeckhandInstances"
      actions   = ["ec2:TerminateInstances"]
      resources = ["arn:aws:ec2:*:*:instance/*"]
      condition {
        test     = "StringEquals"
        variable = "aws:ResourceTag/ManagedBy"
        values   = ["deckhand"]
      }
    }
  }
}

resource "aws_iam_role_policy" "client" {
  name   = "deckhand-client"
  role   = aws_iam_role.client.id
  policy = data.aws_iam_policy_document.client.json
}
